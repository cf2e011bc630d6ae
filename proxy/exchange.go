package proxy

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/elazarl/goproxy"
	"go.uber.org/zap"
)

// How per-connection and per-request state travel through goproxy:
//
//   - At CONNECT, handleConnect sets the CONNECT context's UserData to a
//     *tunnel (the tunnel's ConnInfo and its client connection). goproxy
//     copies UserData into the context of every request read from the tunnel
//     (HTTP/1 keep-alive loop and each HTTP/2 stream alike), so the tunnel
//     value is shared and must never change.
//   - Each request gets its own goproxy context. handleRequest replaces
//     that context's UserData by a fresh *Exchange pointing at the shared
//     ConnInfo; the RoundTripper and handleResponse find it there.
//
// The order of work for one exchange is fixed: request hooks (in option
// order; the first answer wins), then the upstream (or the answer), then
// response hooks (in option order), then the response streams to the
// client.

// tunnel is the UserData of a CONNECT context.
type tunnel struct {
	info *ConnInfo
	conn *clientConn // nil only if the listener is not ours (tests of goproxy alone)
	// tc is the intercepted tunnel's plaintext side (see tunnel.go), set
	// when goproxy hijacks the connection; nil for blind tunnels.
	tc *tunnelConn
}

// exchangeState is the Exchange's bookkeeping the hooks do not see.
type exchangeState struct {
	conn    *clientConn
	tunnel  bool
	started time.Time
	// framer follows the HTTP/1 stream the request came on (nil for
	// HTTP/2): told when the exchange switched protocols.
	framer *requestFramer
	// tc is the intercepted tunnel the request came through, if any.
	tc *tunnelConn
}

func (s *Server) handleConnect(host string, ctx *goproxy.ProxyCtx) (*goproxy.ConnectAction, string) {
	cc := clientConnFrom(ctx.Req.Context())
	info := &ConnInfo{Target: host}
	if cc != nil {
		info.Listener, info.Client, info.client = cc.info.Listener, cc.info.Client, cc.info.client
		info.Profile, info.ProfileSource = cc.info.Profile, cc.info.ProfileSource
		cc.hijacked.Store(true) // goproxy hijacks it for every action we return
	}
	if ch, ok := choiceFrom(ctx.Req.Context()); ok {
		// The gate checked the CONNECT's credentials or X-Consent-Profile:
		// the choice holds for every request of the tunnel.
		info.Profile, info.ProfileSource = ch.name, ch.source
	}
	name, port, err := net.SplitHostPort(host)
	if err != nil {
		name, port = host, ""
	}
	info.Intercepted = s.intercept[port] && !s.isPassthrough(name)
	tun := &tunnel{info: info, conn: cc}
	if plan := planFrom(ctx.Req.Context()); plan != nil && info.Intercepted && cc != nil {
		plan.tun = tun // the hijack hands goproxy a tunnelConn
	}
	ctx.UserData = tun
	ctx.RoundTripper = s.up
	if ce := s.log.Check(zap.DebugLevel, "connect"); ce != nil {
		ce.Write(zap.String("target", host), zap.Bool("intercepted", info.Intercepted),
			zap.Stringer("client", info.Client))
	}
	if info.Intercepted {
		return s.mitm, host
	}
	return s.blind, host
}

func (s *Server) isPassthrough(host string) bool {
	for _, p := range s.passthrough {
		if p.Matches(host) {
			return true
		}
	}
	return false
}

// mintError marks a failure to issue the leaf for an intercepted host.
type mintError struct{ err error }

func (e *mintError) Error() string { return "cannot issue a certificate: " + e.err.Error() }
func (e *mintError) Unwrap() error { return e.err }

// errNestedTLS refuses TLS inside an intercepted tunnel's TLS: goproxy
// would try to intercept it too.
var errNestedTLS = errors.New("TLS inside an intercepted tunnel is not intercepted again")

// clientTLS is goproxy's TLSConfig for intercepted tunnels. The
// tunnelConn runs the client handshake itself, so goproxy only calls this
// for TLS nested inside it, which is refused.
func (s *Server) clientTLS(string, *goproxy.ProxyCtx) (*tls.Config, error) {
	return nil, &mintError{err: errNestedTLS}
}

// leafConfig is the TLS server configuration for an intercepted host: its
// leaf (an IP host gets an IP SAN), from the cache.
func (s *Server) leafConfig(name string) (*tls.Config, error) {
	leaf, err := s.leaves.Get(name)
	if err != nil {
		return nil, &mintError{err: err}
	}
	cfg := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return leaf, nil },
	}
	cfg.SetSessionTicketKeys(s.ticketKeys)
	return cfg, nil
}

// connectFailed answers a CONNECT whose upstream could not be dialled
// (blind tunnels), or whose leaf could not be issued. goproxy closes the
// connection after.
func (s *Server) connectFailed(w io.Writer, ctx *goproxy.ProxyCtx, err error) {
	target := ctx.Req.URL.Host
	var me *mintError
	if errors.As(err, &me) {
		// The client is waiting for a TLS handshake: an HTTP answer would be
		// noise, so only the log says why.
		if errors.Is(me.err, errNestedTLS) {
			s.log.Info("tunnel closed", zap.String("host", target), zap.String("reason", errNestedTLS.Error()))
			return
		}
		s.log.Error("cannot issue certificate", zap.String("host", target), zap.Error(me.err))
		return
	}
	f := classifyUpstreamError(err, s.up.lim)
	s.metrics.upstreamErrors.WithLabelValues(f.kind).Inc()
	s.log.Info("connect failed", zap.String("upstream", target), zap.Int("status", f.status), zap.String("reason", f.reason))
	_, _ = io.WriteString(w, rawErrorResponse(f.status, errorBody(target, f)))
}

func (s *Server) handleRequest(req *http.Request, ctx *goproxy.ProxyCtx) (*http.Request, *http.Response) {
	x := &Exchange{Request: req, state: exchangeState{started: time.Now()}}
	switch ud := ctx.UserData.(type) {
	case *tunnel:
		x.Conn, x.state.conn, x.state.tunnel = ud.info, ud.conn, true
		if ud.tc != nil {
			// goproxy read it from the tunnelConn's plaintext, which it
			// takes for a cleartext tunnel.
			ud.tc.sawRequest()
			req.URL.Scheme = "https"
			x.state.framer, x.state.tc = ud.tc.h1, ud.tc
			if req.Close {
				ud.tc.ending.Store(true) // the client's last request
			}
		}
	default:
		if cc := clientConnFrom(req.Context()); cc != nil {
			x.Conn, x.state.conn, x.state.framer = cc.info, cc, cc.framer
		} else {
			x.Conn = &ConnInfo{Client: addrPortString(req.RemoteAddr)}
		}
		if ch, ok := choiceFrom(req.Context()); ok {
			// Plain HTTP through a listener asking for credentials: each
			// request carries its own, so the choice is the request's.
			ci := *x.Conn
			ci.Profile, ci.ProfileSource = ch.name, ch.source
			x.Conn = &ci
		}
	}
	ctx.UserData = x
	if ctx.RoundTripper == nil {
		ctx.RoundTripper = s.up // plain HTTP: tunnels inherit theirs from CONNECT
	}
	if x.state.tunnel && x.state.conn != nil {
		// Shutdown waits for this count to drop before closing the tunnel.
		x.state.conn.inflight.Add(1)
	}
	if req.ProtoMajor == 2 {
		if v := s.checkH2Limits(req); v != nil {
			// HTTP/2 headers arrive decoded, past the framer: the same
			// limits, checked here. The stream is refused, not the tunnel.
			s.clientRefused(v, x.Conn, x.Conn.Target)
			x.Synthetic = true
			return x.Request, x.track(errorResponse(req, v.status, "consentproxy: "+v.reason+"\n"))
		}
	}
	if resp := s.requestStage(x); resp != nil {
		x.Synthetic = true
		if resp.Request == nil {
			resp.Request = x.Request
		}
		return x.Request, x.track(resp)
	}
	return x.Request, nil
}

// requestStage runs enforcement, then the request hooks. It fails closed:
// a panic in any of them answers 502, and the request, whose cookies may
// not have been filtered yet, is never forwarded.
func (s *Server) requestStage(x *Exchange) (resp *http.Response) {
	defer func() {
		if v := recover(); v != nil {
			resp = s.failClosed(x, stageRequest, v)
		}
	}()
	if resp := s.enforceRequest(x); resp != nil {
		return resp
	}
	for _, h := range s.reqHooks {
		if resp := h.HandleRequest(x); resp != nil {
			return resp
		}
	}
	return nil
}

// responseStage runs enforcement's Set-Cookie filtering, then the response
// hooks. A panic replaces the response by a 502: its Set-Cookie fields may
// not have been filtered, so it must not reach the client.
func (s *Server) responseStage(x *Exchange, resp *http.Response) (out *http.Response) {
	defer func() {
		if v := recover(); v != nil {
			if resp.Body != nil {
				_ = resp.Body.Close() // also ends the exchange for Shutdown
			}
			out = x.track(s.failClosed(x, stageResponse, v))
		}
	}()
	s.enforceResponse(x, resp)
	s.writeConsentResponse(x, resp)
	for _, h := range s.respHooks {
		h.HandleResponse(x, resp)
	}
	return resp
}

// failClosed logs and counts a panic in enforcement or a hook and returns
// the 502 that replaces the exchange. The panic value is logged only when
// it is a runtime error (whose text holds no request data); other values
// could quote headers, so only their type is.
func (s *Server) failClosed(x *Exchange, stage string, v any) *http.Response {
	x.Consent.failed = true
	x.Synthetic = true
	s.metrics.failures.WithLabelValues(stage).Inc()
	fields := []zap.Field{zap.String("stage", stage), zap.String("host", hostOf(x.Request.URL)),
		zap.String("path", x.Request.URL.Path), zap.String("panic_type", fmt.Sprintf("%T", v))}
	if re, ok := v.(runtime.Error); ok {
		fields = append(fields, zap.String("panic", re.Error()))
	}
	fields = append(fields, zap.ByteString("stack", debug.Stack()))
	s.log.Error("enforcement failed; request not forwarded (fail closed)", fields...)
	return errorResponse(x.Request, http.StatusBadGateway,
		"consentproxy: internal error while applying the consent profile; the request was not forwarded\n")
}

// headerHasToken reports whether a comma-separated header holds token.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// recordSafely records the exchange; a panic there (a bug) is logged and
// the response, already final and filtered, still goes out. goproxy does
// not recover inside tunnels: a panic would end the process.
func (s *Server) recordSafely(x *Exchange, status int) {
	defer func() {
		if v := recover(); v != nil {
			fields := []zap.Field{zap.String("host", hostOf(x.Request.URL)), zap.String("panic_type", fmt.Sprintf("%T", v))}
			if re, ok := v.(runtime.Error); ok {
				fields = append(fields, zap.String("panic", re.Error()))
			}
			s.log.Error("recording the exchange failed", append(fields, zap.ByteString("stack", debug.Stack()))...)
		}
	}()
	s.record(x, status)
}

// checkH2Limits applies limits.max_request_line and max_header_bytes to an
// HTTP/2 request, counted as the HTTP/2 server counts a header list (name,
// value and 32 bytes per field, pseudo-header fields included).
func (s *Server) checkH2Limits(req *http.Request) *violation {
	lim := s.cfg.Limits
	if len(req.Method)+len(req.RequestURI)+len(" HTTP/2.0 ") > lim.MaxRequestLine {
		return &violation{status: http.StatusRequestURITooLong, reason: "request line longer than limits.max_request_line"}
	}
	size := len(":method") + len(req.Method) + len(":path") + len(req.RequestURI) + len(":authority") + len(req.Host) + len(":scheme") + len("https") + 4*32
	for k, vs := range req.Header {
		for _, v := range vs {
			size += len(k) + len(v) + 32
		}
	}
	if size > lim.MaxHeaderBytes {
		return &violation{status: http.StatusRequestHeaderFieldsTooLarge, reason: "request header block larger than limits.max_header_bytes"}
	}
	return nil
}

func (s *Server) handleResponse(resp *http.Response, ctx *goproxy.ProxyCtx) *http.Response {
	x, ok := ctx.UserData.(*Exchange)
	if !ok {
		return resp
	}
	if resp == nil {
		s.recordSafely(x, 0)
		return resp
	}
	resp = s.responseStage(x, resp)
	if fr := x.state.framer; fr != nil {
		// An upgraded connection is not HTTP/1 any more; a refused upgrade
		// goes on as HTTP/1.
		if resp.StatusCode == http.StatusSwitchingProtocols {
			fr.off()
		} else {
			fr.resume()
		}
	}
	s.recordSafely(x, resp.StatusCode)
	if s.draining.Load() && x.state.tunnel {
		// Ends goproxy's keep-alive loop after this response, so Shutdown
		// can close the tunnel without cutting a request.
		resp.Close = true
	}
	if tc := x.state.tc; tc != nil && (resp.Close || headerHasToken(resp.Header, "Connection", "close")) {
		tc.ending.Store(true)
	}
	if resp.StatusCode == http.StatusSwitchingProtocols && x.state.conn != nil {
		// An upgraded connection is raw bytes from now on: net/http lets go
		// of it (plain HTTP), and Shutdown must close it itself.
		x.state.conn.hijacked.Store(true)
	}
	if ce := s.log.Check(zap.DebugLevel, "exchange"); ce != nil {
		ce.Write(zap.String("method", x.Request.Method), zap.String("host", x.Request.URL.Host),
			zap.String("path", x.Request.URL.Path), zap.Int("status", resp.StatusCode),
			zap.Bool("synthetic", x.Synthetic), zap.Bool("tunnel", x.state.tunnel),
			zap.Duration("headers_after", time.Since(x.state.started)))
	}
	return resp
}

// track arranges for the exchange to count as finished once resp's body
// was written to the client (goproxy closes it then, or when the client
// left). It must run before goproxy sees the response: goproxy compares the
// body before and after the response handlers, and a body replaced there
// loses its Content-Length and goes out chunked.
func (x *Exchange) track(resp *http.Response) *http.Response {
	switch {
	case !x.state.tunnel:
		// net/http tracks plain exchanges for Shutdown.
	case resp.StatusCode == http.StatusSwitchingProtocols, resp.Body == nil, resp.Body == http.NoBody:
		// A 101's body is the upgraded connection, which goproxy needs as
		// the io.ReadWriter it is; the other two have nothing to stream.
		x.release()
	default:
		resp.Body = &releasingBody{ReadCloser: resp.Body, x: x}
	}
	return resp
}

// release marks the exchange finished for Shutdown's accounting.
func (x *Exchange) release() {
	x.once.Do(func() {
		if x.state.tunnel && x.state.conn != nil {
			x.state.conn.inflight.Add(-1)
		}
	})
}

// releasingBody ends the exchange when goproxy closes the body, which it
// does once the body was written to the client (or the client left).
type releasingBody struct {
	io.ReadCloser
	x *Exchange
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.x.release()
	return err
}
