package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/elazarl/goproxy"
	"go.uber.org/zap"

	"github.com/consentproxy/consentproxy/config"
)

// upstreamRoots returns the system roots plus every certificate in the
// given PEM files. A file without a single certificate is an error naming
// it: silently trusting nothing extra would surface much later as a
// confusing 502.
func upstreamRoots(files []string) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("upstream CA file: %w (check the --upstream-ca path)", err)
		}
		if err := appendRoots(pool, f, data); err != nil {
			return nil, err
		}
	}
	return pool, nil
}

// appendRoots adds every certificate of the PEM data of file to pool.
func appendRoots(pool *x509.CertPool, file string, data []byte) error {
	n := 0
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return fmt.Errorf("upstream CA file %s: certificate %d: %w", file, n+1, err)
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return fmt.Errorf("upstream CA file %s: no PEM certificate found (want a \"-----BEGIN CERTIFICATE-----\" block)", file)
	}
	return nil
}

// dialer connects to upstreams for the transport and for blind tunnels.
// It applies --resolve (the address changes; the name the TLS client
// verifies and the Host header do not, because they come from the URL, not
// from here) and refuses connections to the proxy's own listeners.
type dialer struct {
	net     net.Dialer
	resolve []config.ResolveRule
	own     atomic.Pointer[[]netip.AddrPort]
}

func newDialer(timeout time.Duration, resolve []config.ResolveRule) *dialer {
	d := &dialer{resolve: resolve}
	d.net = net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: d.control}
	return d
}

// setOwn records the proxy's bound addresses.
func (d *dialer) setOwn(addrs []netip.AddrPort) { d.own.Store(&addrs) }

// control runs with the resolved address, just before connect: checking
// here catches every spelling of our own address (localhost, 127.0.0.1, a
// name that resolves to it, a --resolve rule pointing at it). A listener
// bound to every interface is also reached through each of the machine's
// own addresses, so those count too.
func (d *dialer) control(_, address string, _ syscall.RawConn) error {
	own := d.own.Load()
	if own == nil {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return nil
	}
	dst := ap.Addr().Unmap()
	for _, o := range *own {
		if o.Port() != ap.Port() {
			continue
		}
		oa := o.Addr().Unmap()
		switch {
		case oa == dst, oa.IsUnspecified() && (dst.IsLoopback() || dst.IsUnspecified()), oa.IsLoopback() && dst.IsUnspecified():
			return errOwnListener
		case oa.IsUnspecified() && isLocalAddr(dst):
			return errOwnListener
		}
	}
	return nil
}

// isLocalAddr reports whether a is one of this machine's interface
// addresses. It asks the kernel each time (addresses come and go), which
// is only done for a connection to one of our own ports.
func isLocalAddr(a netip.Addr) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, ia := range addrs {
		if p, err := netip.ParsePrefix(ia.String()); err == nil && p.Addr().Unmap() == a {
			return true
		}
	}
	return false
}

func (d *dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if len(d.resolve) > 0 {
		addr = d.mapAddr(addr)
	}
	if host, _, err := net.SplitHostPort(addr); err == nil && isInvalidName(host) {
		// RFC 6761 §6.4: names under .invalid never resolve, and resolvers
		// should say so at once rather than ask the network.
		return nil, &net.OpError{Op: "dial", Net: network, Err: &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}}
	}
	return d.net.DialContext(ctx, network, addr)
}

// isInvalidName reports a name in the reserved .invalid domain.
func isInvalidName(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	return h == "invalid" || strings.HasSuffix(h, ".invalid")
}

// mapAddr applies the most specific matching --resolve rule to host:port.
func (d *dialer) mapAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if r, ok := config.MatchResolve(d.resolve, host); ok {
		return r.DialAddr(port)
	}
	return addr
}

// newTransport is the one upstream transport: no environment proxy (a
// proxy that honours HTTPS_PROXY from its own environment would send every
// intercepted request somewhere nobody configured), every phase bounded,
// HTTP/2 when the upstream offers it, and no transparent decompression (the
// client's Accept-Encoding and the upstream's Content-Encoding pass as they
// are).
func newTransport(cfg config.Config, d *dialer, roots *x509.CertPool) *http.Transport {
	return &http.Transport{
		Proxy:       nil,
		DialContext: d.DialContext,
		TLSClientConfig: &tls.Config{
			RootCAs:            roots,
			MinVersion:         tls.VersionTLS12,
			InsecureSkipVerify: cfg.InsecureUpstream,
		},
		TLSHandshakeTimeout:   cfg.Limits.HandshakeTimeout,
		ResponseHeaderTimeout: cfg.Limits.ResponseHeaderTimeout,
		IdleConnTimeout:       cfg.Limits.IdleTimeout,
		ExpectContinueTimeout: time.Second,
		// An idle upstream connection costs about 50 KB (two goroutines,
		// buffers, TLS state); 256 of them, what a browser keeps open at
		// most, bound that to about 12 MiB however many hosts a client
		// visits within the idle timeout.
		MaxIdleConns:           256,
		MaxIdleConnsPerHost:    64,
		MaxResponseHeaderBytes: maxUpstreamHeaderBytes,
		ForceAttemptHTTP2:      true,
		DisableCompression:     true,
	}
}

// maxUpstreamHeaderBytes bounds an upstream's response header block. It is
// generous on purpose: sites send large Set-Cookie and CSP headers, and the
// client's own limit (limits.max_header_bytes) is about requests.
const maxUpstreamHeaderBytes = 1 << 20

// upstream is the goproxy RoundTripper of every exchange. It turns
// upstream failures into responses (goproxy would close a MITM tunnel on an
// error, and answer plain HTTP with a raw 500 carrying the error text), and
// ties requests read inside HTTP/1 tunnels to the client connection, which
// goproxy does not: their context never ends otherwise.
type upstream struct {
	tr  *http.Transport
	lim timeouts
	log *zap.Logger
	s   *Server // for metrics and events; nil in tests of the transport alone
}

func (u *upstream) RoundTrip(req *http.Request, ctx *goproxy.ProxyCtx) (*http.Response, error) {
	x, _ := ctx.UserData.(*Exchange)
	if x != nil && x.state.tunnel && x.state.conn != nil && req.ProtoMajor == 1 {
		// goproxy's HTTP/1 tunnel loop gives each request a context that
		// ends when goproxy is done with the exchange, not when the client
		// leaves; net/http (plain) and the HTTP/2 server end theirs when the
		// client leaves. The client connection's own context does that, so
		// it replaces goproxy's: that one holds no values (goproxy derives
		// it from the Background of http.ReadRequest), and goproxy cancels
		// it only after closing the response body, when the upstream
		// request is over anyway. Deriving a context from both would cost
		// a context, two callbacks and a goroutine per request.
		req = req.WithContext(x.state.conn.ctx)
	}
	if req.Close {
		// Connection: close is hop-by-hop (RFC 9110 §7.6.1): it ends the
		// client's connection, which goproxy (from its own copy of the
		// request) and net/http close after this response, not the pooled
		// connection to the upstream. Forwarding it made every request of a
		// one-shot client open, and for HTTPS handshake, a new upstream
		// connection.
		out := *req
		out.Close = false
		req = &out
	}
	resp, err := u.tr.RoundTrip(req)
	if err == nil {
		if x != nil {
			resp = x.track(resp)
		}
		return resp, nil
	}
	if req.Context().Err() != nil {
		// The client is gone; nobody reads an error page. The exchange
		// still counts (its cookies may have been stripped): goproxy skips
		// the response handlers on HTTP/2 after an error.
		if x != nil && u.s != nil {
			u.s.record(x, 0)
		}
		return nil, err
	}
	f := classifyUpstreamError(err, u.lim)
	if u.s != nil {
		u.s.metrics.upstreamErrors.WithLabelValues(f.kind).Inc()
	}
	hp := hostPort(req.URL)
	level := zap.InfoLevel
	if f.level == levelWarn {
		level = zap.WarnLevel
	}
	if ce := u.log.Check(level, "upstream failed"); ce != nil {
		ce.Write(zap.String("upstream", hp), zap.String("method", req.Method),
			zap.String("path", req.URL.Path), zap.Int("status", f.status), zap.String("reason", f.reason))
	}
	resp = errorResponse(req, f.status, errorBody(hp, f))
	if x != nil {
		x.Synthetic = true
		resp = x.track(resp)
	}
	return resp, nil
}
