package proxy

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// freePort returns a loopback port nothing listens on at the moment.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// rawConnect sends a CONNECT on a fresh connection and returns the answer.
func rawConnect(t *testing.T, e *env, target string) (*http.Response, string) {
	t.Helper()
	conn, err := net.Dial("tcp", e.srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: http.MethodConnect})
	if err != nil {
		t.Fatalf("CONNECT %s: %v", target, err)
	}
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// A request through the proxy to the proxy itself is refused with 508,
// whatever names the address (IP, localhost, a --resolve rule), whether it
// is the proxy port or the admin port, plain or by CONNECT; it never loops.
func TestLoopsAreRefused(t *testing.T) {
	port := freePort(t)
	cfg := testConfig(t, nil)
	cfg.Listen = "127.0.0.1:" + strconv.Itoa(port)
	cfg.Resolve = []string{"loop.test=127.0.0.1:" + strconv.Itoa(port)}
	e := startProxy(t, cfg)
	admin := e.srv.AdminAddr().(*net.TCPAddr).Port
	var connects atomic.Int32
	c := e.client(t, clientOpts{connects: &connects})
	tests := []struct{ name, url, wantTarget string }{
		{"proxy port by IP", fmt.Sprintf("http://127.0.0.1:%d/?q=SECRETQUERY456", port), fmt.Sprintf("127.0.0.1:%d", port)},
		{"proxy port by localhost", fmt.Sprintf("http://localhost:%d/", port), fmt.Sprintf("localhost:%d", port)},
		{"proxy port via --resolve", "http://loop.test/", "loop.test:80"},
		{"proxy port via --resolve, intercepted", "https://loop.test/", "loop.test:443"},
		{"admin port", fmt.Sprintf("http://127.0.0.1:%d/api/profile", admin), fmt.Sprintf("127.0.0.1:%d", admin)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, _ := get(t, c, tt.url, "Cookie", "session="+secretValue)
			if status != http.StatusLoopDetected || !strings.Contains(body, tt.wantTarget+": refusing to connect to the proxy's own listener") {
				t.Errorf("got %d %q, want 508 naming %s", status, body, tt.wantTarget)
			}
			if strings.Contains(body, secretValue) || strings.Contains(body, "SECRETQUERY") {
				t.Errorf("the error page quotes the request: %q", body)
			}
		})
	}
	for _, target := range []string{fmt.Sprintf("127.0.0.1:%d", port), fmt.Sprintf("localhost:%d", admin)} {
		resp, body := rawConnect(t, e, target)
		if resp.StatusCode != http.StatusLoopDetected || !strings.Contains(body, "own listener") {
			t.Errorf("CONNECT %s: got %d %q, want 508", target, resp.StatusCode, body)
		}
	}
	// Nothing piled up: every refused hop ended.
	deadline := time.Now().Add(10 * time.Second)
	for e.srv.servers[0].ln.open() > 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := e.srv.servers[0].ln.open(); n > 2 {
		t.Errorf("%d connections open on the proxy port after the refused loops", n)
	}
	if status, _, _ := get(t, c, fmt.Sprintf("http://127.0.0.1:%d/healthz", admin)); status != http.StatusLoopDetected {
		t.Errorf("the tunnel client after the loops: %d", status)
	}
}

// A listener bound to every interface is reachable through each of the
// machine's addresses; all of them count as its own.
func TestDialerGuardsEveryAddressOfAWildcardListener(t *testing.T) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Skipf("no interface addresses: %v", err)
	}
	d := newDialer(time.Second, nil)
	d.setOwn([]netip.AddrPort{netip.MustParseAddrPort("0.0.0.0:18080"), netip.MustParseAddrPort("127.0.0.1:18081")})
	checked := 0
	for _, a := range addrs {
		p, err := netip.ParsePrefix(a.String())
		if err != nil {
			continue
		}
		addr := netip.AddrPortFrom(p.Addr(), 18080).String()
		if err := d.control("tcp", addr, nil); !errors.Is(err, errOwnListener) {
			t.Errorf("control(%s): %v, want errOwnListener", addr, err)
		}
		checked++
	}
	if checked == 0 {
		t.Skip("no interface address to check")
	}
	for _, ok := range []string{"192.0.2.1:18080", "127.0.0.1:18082", "[2001:db8::1]:18080"} {
		if err := d.control("tcp", ok, nil); err != nil {
			t.Errorf("control(%s): %v, want nil (not ours)", ok, err)
		}
	}
	if err := d.control("tcp", "127.0.0.1:18081", nil); !errors.Is(err, errOwnListener) {
		t.Errorf("control(127.0.0.1:18081): %v, want errOwnListener", err)
	}
}

// An upstream that cannot be reached is a 502 naming it and the reason:
// at CONNECT for blind tunnels, inside the tunnel for intercepted ones
// (which stay usable), and on plain requests; never with the request's
// query string or cookies.
func TestUnreachableUpstreamsAre502(t *testing.T) {
	closed := freePort(t)
	cfg := testConfig(t, nil)
	cfg.Resolve = []string{"dead.test=127.0.0.1:" + strconv.Itoa(closed)}
	e := startProxy(t, cfg)

	t.Run("CONNECT", func(t *testing.T) {
		tests := []struct{ target, want string }{
			{fmt.Sprintf("127.0.0.1:%d", closed), fmt.Sprintf("consentproxy: cannot reach upstream 127.0.0.1:%d: connection refused\n", closed)},
			{"nxdomain.invalid:8443", "consentproxy: cannot reach upstream nxdomain.invalid:8443: cannot resolve host: no such host\n"},
		}
		for _, tt := range tests {
			resp, body := rawConnect(t, e, tt.target)
			if resp.StatusCode != http.StatusBadGateway || body != tt.want {
				t.Errorf("CONNECT %s: got %d %q, want 502 %q", tt.target, resp.StatusCode, body, tt.want)
			}
		}
	})
	var connects atomic.Int32
	c := e.client(t, clientOpts{connects: &connects})
	tests := []struct{ url, want string }{
		{"http://nxdomain.invalid/p?q=SECRETQUERY456", "consentproxy: cannot reach upstream nxdomain.invalid:80: cannot resolve host: no such host\n"},
		{"https://nxdomain.invalid/p?q=SECRETQUERY456", "consentproxy: cannot reach upstream nxdomain.invalid:443: cannot resolve host: no such host\n"},
		{"https://nxdomain.invalid/again", "consentproxy: cannot reach upstream nxdomain.invalid:443: cannot resolve host: no such host\n"},
		{"http://dead.test/", "consentproxy: cannot reach upstream dead.test:80: connection refused\n"},
		{"https://dead.test/", "consentproxy: cannot reach upstream dead.test:443: connection refused\n"},
		{"https://dead.test/again", "consentproxy: cannot reach upstream dead.test:443: connection refused\n"},
	}
	for _, tt := range tests {
		status, body, _ := get(t, c, tt.url, "Cookie", "_ga="+secretValue)
		if status != http.StatusBadGateway || body != tt.want {
			t.Errorf("GET %s: got %d %q, want 502 %q", tt.url, status, body, tt.want)
		}
	}
	if got := connects.Load(); got != 2 {
		t.Errorf("%d CONNECTs for two intercepted hosts, want 2 (a 502 must not close the tunnel)", got)
	}
	if logs := e.logText(); strings.Contains(logs, secretValue) || strings.Contains(logs, "SECRETQUERY") {
		t.Errorf("the log quotes a request")
	}
}

// leafFor issues a certificate from ca with the given names and validity.
func leafFor(t *testing.T, ca *testCA, hosts []string, notBefore, notAfter time.Time) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: hosts[0]},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     hosts,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// tlsUpstream starts an HTTPS server with its own TLS configuration.
func tlsUpstream(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "TOP-SECRET-BODY")
	}))
	srv.TLS = cfg
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the failed handshakes are the point
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// closingListener accepts connections and closes them at once.
func closingListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln.Addr().String()
}

// Every kind of upstream TLS failure is a 502 that says what went wrong,
// nothing of the upstream reaches the client, and the tunnel stays usable
// (the next request on it gets its own answer).
func TestUpstreamTLSFailures(t *testing.T) {
	trusted := newTestCA(t, "trusted upstream CA")
	rogue := newTestCA(t, "rogue upstream CA")
	now := time.Now()
	good := func(hosts ...string) tls.Certificate {
		return leafFor(t, trusted, hosts, now.Add(-time.Hour), now.Add(time.Hour))
	}
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "plain") }))
	t.Cleanup(plain.Close)
	tests := []struct {
		host, addr string
		want       string
	}{
		{"untrusted.test", tlsUpstream(t, &tls.Config{Certificates: []tls.Certificate{leafFor(t, rogue, []string{"untrusted.test"}, now.Add(-time.Hour), now.Add(time.Hour))}}),
			"upstream certificate not trusted: x509: certificate signed by unknown authority (add its CA with --upstream-ca FILE)"},
		{"expired.test", tlsUpstream(t, &tls.Config{Certificates: []tls.Certificate{leafFor(t, trusted, []string{"expired.test"}, now.Add(-48*time.Hour), now.Add(-24*time.Hour))}}),
			"upstream certificate not trusted: x509: certificate has expired or is not yet valid"},
		{"wrongname.test", tlsUpstream(t, &tls.Config{Certificates: []tls.Certificate{good("other.test")}}),
			"upstream certificate not trusted: x509: certificate is valid for other.test, not wrongname.test (the upstream's certificate is for other names)"},
		{"oldtls.test", tlsUpstream(t, &tls.Config{Certificates: []tls.Certificate{good("oldtls.test")}, MaxVersion: tls.VersionTLS11}),
			"TLS handshake with upstream failed: remote error: tls: protocol version not supported"},
		{"notls.test", plain.Listener.Addr().String(), "TLS handshake with upstream failed: tls: first record does not look like a TLS handshake"},
		{"hangup.test", closingListener(t), "connection closed before a complete response"},
	}
	cfg := testConfig(t, trusted)
	for _, tt := range tests {
		cfg.Resolve = append(cfg.Resolve, tt.host+"="+tt.addr)
	}
	e := startProxy(t, cfg)
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			var connects atomic.Int32
			c := e.client(t, clientOpts{connects: &connects})
			for _, path := range []string{"/first", "/second"} {
				status, body, _ := get(t, c, "https://"+tt.host+path)
				want := "consentproxy: cannot reach upstream " + tt.host + ":443: " + tt.want
				if status != http.StatusBadGateway || !strings.HasPrefix(body, want) {
					t.Errorf("%s: got %d %q, want 502 %q...", path, status, body, want)
				}
				if strings.Contains(body, "TOP-SECRET") {
					t.Errorf("%s: the upstream's body reached the client", path)
				}
			}
			if got := connects.Load(); got != 1 {
				t.Errorf("%d CONNECTs, want 1: the tunnel must survive the failure", got)
			}
		})
	}
}

// An upstream that resets the connection in the middle of a body: the
// client sees a truncated body or an error, not a hang, and the proxy goes
// on serving.
func TestUpstreamResetMidBody(t *testing.T) {
	upCA := newTestCA(t, "upstream test CA")
	const declared, sent = 1 << 20, 64 << 10
	reset := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ok" {
			io.WriteString(w, "ok")
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(declared))
		w.Write(make([]byte, sent))
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		if tc, ok := conn.(*tls.Conn); ok {
			conn = tc.NetConn()
		}
		if tcp, ok := conn.(*net.TCPConn); ok {
			tcp.SetLinger(0) // RST, not FIN
		}
		conn.Close()
	})
	up := newUpstream(t, upCA, reset, upstreamOpts{})
	plain := httptest.NewServer(reset)
	t.Cleanup(plain.Close)
	cfg := testConfig(t, upCA)
	cfg.Resolve = []string{resolveTo("shop.test", up), "plain.test=" + plain.Listener.Addr().String()}
	e := startProxy(t, cfg)
	for _, tt := range []struct {
		name string
		url  string
		h2   bool
	}{
		{"plain", "http://plain.test/reset", false},
		{"HTTP/1 tunnel", "https://shop.test/reset", false},
		{"HTTP/2 tunnel", "https://shop.test/reset", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := e.client(t, clientOpts{h2: tt.h2})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, tt.url, nil)
			resp, err := c.Do(req)
			if err == nil {
				n, rerr := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if ctx.Err() != nil {
					t.Fatal("the client hung on the truncated body")
				}
				if rerr == nil && n == declared {
					t.Fatalf("got the whole body, want a truncated one")
				}
				if n > declared {
					t.Fatalf("got %d bytes, more than declared", n)
				}
			} else if ctx.Err() != nil {
				t.Fatal("the client hung")
			}
			base := strings.TrimSuffix(tt.url, "/reset")
			if status, body, _ := get(t, e.client(t, clientOpts{h2: tt.h2}), base+"/ok"); status != 200 || body != "ok" {
				t.Errorf("after the reset: %d %q", status, body)
			}
		})
	}
}

// An upstream that never answers is a 504 naming the limit, on plain
// requests and in HTTP/1 and HTTP/2 tunnels.
func TestUpstreamHangIs504(t *testing.T) {
	upCA := newTestCA(t, "upstream test CA")
	release := make(chan struct{})
	hang := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	up := newUpstream(t, upCA, hang, upstreamOpts{h2: true})
	plain := httptest.NewServer(hang)
	t.Cleanup(plain.Close)
	t.Cleanup(func() { close(release) })
	cfg := testConfig(t, upCA)
	cfg.Resolve = []string{resolveTo("slow.test", up), "plain.test=" + plain.Listener.Addr().String()}
	cfg.Limits.ResponseHeaderTimeout = 300 * time.Millisecond
	e := startProxy(t, cfg)
	for _, tt := range []struct {
		url, hostPort string
		h2            bool
	}{
		{"http://plain.test/r?id=SECRETQUERY456", "plain.test:80", false},
		{"https://slow.test/r?id=SECRETQUERY456", "slow.test:443", false},
		{"https://slow.test/r?id=SECRETQUERY456", "slow.test:443", true},
	} {
		status, body, resp := get(t, e.client(t, clientOpts{h2: tt.h2}), tt.url)
		want := "consentproxy: upstream " + tt.hostPort + " timed out: no response headers within 300ms (limits.response_header_timeout)\n"
		if status != http.StatusGatewayTimeout || body != want {
			t.Errorf("%s (HTTP/%d): got %d %q, want 504 %q", tt.url, resp.ProtoMajor, status, body, want)
		}
	}
}
