package proxy

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// hitCounter is an upstream handler that counts the requests reaching it.
type hitCounter struct{ n atomic.Int32 }

func (h *hitCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	h.n.Add(1)
	fmt.Fprintf(w, "ok %s", r.URL.Path)
}

// rawAnswer is what a raw client got back for the bytes it sent.
type rawAnswer struct {
	status int // 0: no response, the connection just closed
	body   string
	closed bool // the proxy closed the connection after answering
}

// sendRaw writes send on conn (in the background: the proxy may stop
// reading), reads one response and checks whether the connection is then
// closed. guard only keeps a broken proxy from hanging the test.
func sendRaw(t *testing.T, conn net.Conn, send string) rawAnswer {
	t.Helper()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = io.WriteString(conn, send)
	}()
	defer wg.Wait()
	const guard = 20 * time.Second
	conn.SetReadDeadline(time.Now().Add(guard))
	br := bufio.NewReader(conn)
	var a rawAnswer
	resp, err := http.ReadResponse(br, nil)
	if err == nil {
		body, _ := io.ReadAll(resp.Body)
		a.status, a.body = resp.StatusCode, string(body)
	} else if isTimeout(err) {
		t.Fatalf("no answer and no close within %s", guard)
	}
	_, err = io.Copy(io.Discard, br)
	if isTimeout(err) {
		t.Fatalf("connection still open %s after the answer", guard)
	}
	a.closed = true
	conn.Close()
	return a
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// dialMITM opens an intercepted HTTP/1.1 tunnel to target and returns its
// TLS side.
func dialMITM(t *testing.T, e *env, target string) *tls.Conn {
	t.Helper()
	conn, br := dialTunnel(t, e, target)
	if br.Buffered() > 0 {
		t.Fatalf("bytes after the CONNECT answer")
	}
	host, _, _ := net.SplitHostPort(target)
	tc := tls.Client(conn, &tls.Config{RootCAs: e.proxyPool, ServerName: host, NextProtos: []string{"http/1.1"}})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS handshake inside the tunnel: %v", err)
	}
	return tc
}

// badInputEnv is a proxy with small limits in front of a plain and a TLS
// upstream that count what reaches them.
type badInputEnv struct {
	*env
	plainHits, tlsHits *hitCounter
}

func newBadInputEnv(t *testing.T) *badInputEnv {
	upCA := newTestCA(t, "upstream test CA")
	b := &badInputEnv{plainHits: &hitCounter{}, tlsHits: &hitCounter{}}
	up := newUpstream(t, upCA, b.tlsHits, upstreamOpts{})
	plain := httptest.NewServer(b.plainHits)
	t.Cleanup(plain.Close)
	cfg := testConfig(t, upCA)
	cfg.Resolve = []string{resolveTo("shop.test", up), "plain.test=" + plain.Listener.Addr().String()}
	cfg.Limits.MaxRequestLine = 1024
	cfg.Limits.MaxHeaderBytes = 4096
	cfg.Limits.ReadHeaderTimeout = 300 * time.Millisecond
	cfg.Limits.HandshakeTimeout = 300 * time.Millisecond
	b.env = startProxy(t, cfg)
	return b
}

// Bad input gets a clear answer and a closed connection, on the proxy
// port and inside intercepted tunnels alike, before anything reaches an
// upstream; and the proxy goes on serving everyone else.
func TestBadInputIsRefused(t *testing.T) {
	b := newBadInputEnv(t)
	long := strings.Repeat("a", 2000)
	bigHeaders := strings.Repeat("X-Filler: "+strings.Repeat("f", 500)+"\r\n", 10)
	type bad struct {
		name       string
		send       func(target, host string) string
		wantStatus int
		wantBody   string
	}
	tests := []bad{
		{"a TLS ClientHello", func(string, string) string {
			return "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + strings.Repeat("\x00", 64)
		},
			400, "malformed request line"},
		{"binary garbage", func(string, string) string { return "\x00\xff\xfe\x01 SECRETQUERY456\r\n\r\n" }, 400, "malformed request line"},
		{"one word", func(string, string) string { return "hello\r\n\r\n" }, 400, "malformed request line"},
		{"bad version", func(target, host string) string { return "GET " + target + " HTTX/1.1\r\nHost: " + host + "\r\n\r\n" },
			400, "malformed HTTP version"},
		{"request line over limits.max_request_line", func(target, host string) string {
			return "GET " + target + long + "?q=SECRETQUERY456 HTTP/1.1\r\nHost: " + host + "\r\n\r\n"
		}, 414, "request line longer than limits.max_request_line"},
		{"request line that never ends", func(target, _ string) string { return "GET " + target + strings.Repeat("a", 64<<10) },
			414, "request line longer than limits.max_request_line"},
		{"header block over limits.max_header_bytes", func(target, host string) string {
			return "GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\n" + bigHeaders + "\r\n"
		}, 431, "request header block larger than limits.max_header_bytes"},
		{"header line that never ends", func(target, host string) string {
			return "GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\nX-Endless: " + strings.Repeat("e", 64<<10)
		}, 431, "request header block larger than limits.max_header_bytes"},
		{"obsolete line folding", func(target, host string) string {
			return "GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\nX-Folded: a\r\n b\r\n\r\n"
		}, 400, "obsolete line folding"},
		{"space before the colon", func(target, host string) string {
			return "GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\nContent-Length : 5\r\n\r\nhello"
		}, 400, "malformed header field"},
		{"conflicting Content-Length", func(target, host string) string {
			return "POST " + target + " HTTP/1.1\r\nHost: " + host + "\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"
		}, 400, "conflicting Content-Length"},
		{"unsupported Transfer-Encoding", func(target, host string) string {
			return "POST " + target + " HTTP/1.1\r\nHost: " + host + "\r\nTransfer-Encoding: gzip\r\n\r\n"
		}, 501, "unsupported Transfer-Encoding"},
		{"a target the URL parser refuses", func(target, host string) string {
			return "GET " + target + "%zz HTTP/1.1\r\nHost: " + host + "\r\n\r\n"
		}, 400, ""},
	}
	modes := []struct {
		name         string
		target, host string
		dial         func(t *testing.T) net.Conn
		hits         *hitCounter
	}{
		{"proxy port", "http://plain.test/x", "plain.test", func(t *testing.T) net.Conn {
			c, err := net.Dial("tcp", b.srv.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			return c
		}, b.plainHits},
		{"inside an intercepted tunnel", "/x", "shop.test", func(t *testing.T) net.Conn { return dialMITM(t, b.env, "shop.test:443") }, b.tlsHits},
	}
	for _, m := range modes {
		for _, tt := range tests {
			t.Run(m.name+"/"+tt.name, func(t *testing.T) {
				before := m.hits.n.Load()
				got := sendRaw(t, m.dial(t), tt.send(m.target, m.host))
				if got.status != tt.wantStatus || !strings.Contains(got.body, tt.wantBody) || !got.closed {
					t.Errorf("got %d %q (closed %v), want %d %q and the connection closed", got.status, got.body, got.closed, tt.wantStatus, tt.wantBody)
				}
				if strings.Contains(got.body, "SECRETQUERY") {
					t.Errorf("the answer quotes the request: %q", got.body)
				}
				if n := m.hits.n.Load() - before; n != 0 {
					t.Errorf("%d requests reached the upstream", n)
				}
			})
		}
	}
	// Everyone else is served as before, plainly and through a tunnel.
	c := b.client(t, clientOpts{})
	for _, u := range []string{"http://plain.test/after", "https://shop.test/after"} {
		if status, body, _ := get(t, c, u); status != 200 || body != "ok /after" {
			t.Errorf("GET %s after the bad input: %d %q", u, status, body)
		}
	}
	if strings.Contains(b.logText(), "SECRETQUERY") {
		t.Errorf("the log quotes a refused request")
	}
	_, metrics := b.admin(t).do(t, "GET", "/metrics", nil)
	m := metricValues(t, string(metrics))
	for _, reason := range []string{"malformed", "request-line-too-long", "header-too-large", "unsupported-transfer-encoding"} {
		if m[`consentproxy_client_errors_total{reason="`+reason+`"}`] == 0 {
			t.Errorf("client_errors_total{reason=%q} is 0", reason)
		}
	}
}

// A request whose body breaks the chunked framing is cut off: it never
// reaches the upstream whole, and the connection ends.
func TestMalformedChunkedBodyEndsTheConnection(t *testing.T) {
	b := newBadInputEnv(t)
	for _, m := range []struct {
		name string
		dial func(t *testing.T) net.Conn
		req  string
	}{
		{"proxy port", func(t *testing.T) net.Conn {
			c, err := net.Dial("tcp", b.srv.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			return c
		}, "POST http://plain.test/c HTTP/1.1\r\nHost: plain.test\r\n"},
		{"inside an intercepted tunnel", func(t *testing.T) net.Conn { return dialMITM(t, b.env, "shop.test:443") },
			"POST /c HTTP/1.1\r\nHost: shop.test\r\n"},
	} {
		t.Run(m.name, func(t *testing.T) {
			before := b.plainHits.n.Load() + b.tlsHits.n.Load()
			got := sendRaw(t, m.dial(t), m.req+"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n")
			if got.status == 200 || !got.closed {
				t.Errorf("got %d %q (closed %v), want no success and the connection closed", got.status, got.body, got.closed)
			}
			if n := b.plainHits.n.Load() + b.tlsHits.n.Load() - before; n != 0 {
				t.Errorf("%d requests reached an upstream whole", n)
			}
		})
	}
}

// Clients that connect and say nothing, or trickle their headers a byte at
// a time (slowloris), on the proxy port or inside a tunnel (HTTP/1 or
// HTTP/2), are closed after the configured timeouts, while everyone else is
// served in the meantime.
func TestSlowClientsAreTimedOut(t *testing.T) {
	b := newBadInputEnv(t)
	trickle := func(conn net.Conn, first []byte, next func(i int) []byte) chan struct{} {
		stop := make(chan struct{})
		go func() {
			if _, err := conn.Write(first); err != nil {
				return
			}
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-tick.C:
					if _, err := conn.Write(next(i)); err != nil {
						return
					}
				}
			}
		}()
		return stop
	}
	headerBytes := func(int) []byte { return []byte("X-Slow: x\r\n") }
	tests := []struct {
		name       string
		open       func(t *testing.T) (net.Conn, chan struct{})
		wantStatus int // 0: closed without an answer
	}{
		{"silent on the proxy port", func(t *testing.T) (net.Conn, chan struct{}) {
			c, err := net.Dial("tcp", b.srv.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			return c, nil
		}, 0},
		{"slowloris on the proxy port", func(t *testing.T) (net.Conn, chan struct{}) {
			c, err := net.Dial("tcp", b.srv.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			return c, trickle(c, []byte("GET http://plain.test/ HTTP/1.1\r\nHost: plain.test\r\n"), headerBytes)
		}, 0},
		{"silent after CONNECT", func(t *testing.T) (net.Conn, chan struct{}) {
			c, _ := dialTunnel(t, b.env, "shop.test:443")
			return c, nil
		}, 0},
		{"slowloris inside an HTTP/1 tunnel", func(t *testing.T) (net.Conn, chan struct{}) {
			tc := dialMITM(t, b.env, "shop.test:443")
			return tc, trickle(tc, []byte("GET / HTTP/1.1\r\nHost: shop.test\r\n"), headerBytes)
		}, http.StatusRequestTimeout},
		{"slowloris inside an HTTP/2 tunnel", func(t *testing.T) (net.Conn, chan struct{}) {
			conn, _ := dialTunnel(t, b.env, "shop.test:443")
			tc := tls.Client(conn, &tls.Config{RootCAs: b.proxyPool, ServerName: "shop.test", NextProtos: []string{"h2"}})
			if err := tc.Handshake(); err != nil || tc.ConnectionState().NegotiatedProtocol != "h2" {
				t.Fatalf("h2 handshake: %v %q", err, tc.ConnectionState().NegotiatedProtocol)
			}
			// The preface, empty SETTINGS, then a HEADERS frame announcing 64
			// bytes of header block and delivering them one at a time.
			first := []byte(h2Preface + "\x00\x00\x00\x04\x00\x00\x00\x00\x00" + "\x00\x00\x40\x01\x05\x00\x00\x00\x01")
			return tc, trickle(tc, first, func(int) []byte { return []byte{0x82} })
		}, 0},
	}
	type slow struct {
		conn net.Conn
		stop chan struct{}
	}
	var slows []slow
	for _, tt := range tests {
		c, stop := tt.open(t)
		slows = append(slows, slow{c, stop})
	}
	// Served while the slow ones hold their connections.
	c := b.client(t, clientOpts{})
	for _, u := range []string{"http://plain.test/meanwhile", "https://shop.test/meanwhile"} {
		if status, body, _ := get(t, c, u); status != 200 || body != "ok /meanwhile" {
			t.Errorf("GET %s while slow clients are connected: %d %q", u, status, body)
		}
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := slows[i]
			if s.stop != nil {
				defer close(s.stop)
			}
			s.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
			br := bufio.NewReader(s.conn)
			status := 0
			if resp, err := http.ReadResponse(br, nil); err == nil {
				status = resp.StatusCode
				io.Copy(io.Discard, resp.Body)
			} else if isTimeout(err) {
				t.Fatal("the slow client's connection is still open after 20s")
			}
			if _, err := io.Copy(io.Discard, br); isTimeout(err) {
				t.Fatal("the slow client's connection is still open after 20s")
			}
			if status != tt.wantStatus {
				t.Errorf("got %d, want %d", status, tt.wantStatus)
			}
		})
	}
	_, metrics := b.admin(t).do(t, "GET", "/metrics", nil)
	if m := metricValues(t, string(metrics)); m[`consentproxy_client_errors_total{reason="header-timeout"}`] < 2 {
		t.Errorf("header timeouts counted: %v, want 2 (HTTP/1 and HTTP/2 tunnels)", m[`consentproxy_client_errors_total{reason="header-timeout"}`])
	}
}

// HTTP/2 requests inside a tunnel are held to the same limits, per stream:
// the stream is refused, the connection and its other streams go on.
func TestHTTP2RequestLimits(t *testing.T) {
	b := newBadInputEnv(t)
	c := b.client(t, clientOpts{h2: true})
	tests := []struct {
		name       string
		url        string
		hdr        []string
		wantStatus int
	}{
		{"fine", "https://shop.test/fine", nil, 200},
		{"long path", "https://shop.test/" + strings.Repeat("p", 2000), nil, 414},
		{"large header list", "https://shop.test/big", []string{"X-Big", strings.Repeat("b", 5000)}, 431},
		{"fine again", "https://shop.test/again", nil, 200},
	}
	for _, tt := range tests {
		status, body, resp := get(t, c, tt.url, tt.hdr...)
		if status != tt.wantStatus || resp.ProtoMajor != 2 {
			t.Errorf("%s: got %d over HTTP/%d %q, want %d over HTTP/2", tt.name, status, resp.ProtoMajor, body, tt.wantStatus)
		}
	}
	if got := b.tlsHits.n.Load(); got != 2 {
		t.Errorf("%d requests reached the upstream, want 2", got)
	}
}
