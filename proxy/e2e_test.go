package proxy

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/consentproxy/consentproxy/certs"
	"github.com/consentproxy/consentproxy/config"
)

// get is a GET that fails the test on transport errors and returns status,
// body and the response.
func get(t *testing.T, c *http.Client, u string, hdr ...string) (int, string, *http.Response) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", u, err)
	}
	return resp.StatusCode, string(body), resp
}

func TestMITMGetAndPost(t *testing.T) {
	upCA := newTestCA(t, "upstream test CA")
	up := newUpstream(t, upCA, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Method", r.Method)
		if r.Method == http.MethodGet {
			fmt.Fprintf(w, "hello %s %s", r.Host, r.URL.Path)
			return
		}
		_, _ = w.Write(body)
	}), upstreamOpts{})
	cfg := testConfig(t, upCA)
	cfg.Resolve = []string{resolveTo("shop.test", up)}
	e := startProxy(t, cfg)
	c := e.client(t, clientOpts{})

	big := make([]byte, 1<<20)
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		method string
		body   []byte
		want   string
	}{
		{"get", http.MethodGet, nil, "hello shop.test /hello"},
		{"post small", http.MethodPost, []byte(`{"a":1}`), `{"a":1}`},
		{"post 1MiB", http.MethodPost, big, string(big)},
		{"put", http.MethodPut, []byte("x=1&y=2"), "x=1&y=2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, "https://shop.test/hello", bytes.NewReader(tt.body))
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || string(got) != tt.want {
				t.Fatalf("got %d %q..., want 200 %q...", resp.StatusCode, clip(string(got)), clip(tt.want))
			}
			if m := resp.Header.Get("X-Method"); m != tt.method {
				t.Errorf("upstream saw method %q, want %q", m, tt.method)
			}
			leaf := resp.TLS.PeerCertificates[0]
			if !bytes.Equal(leaf.RawIssuer, e.ca.Certificate().RawSubject) {
				t.Errorf("leaf issuer %q, want the proxy CA %q", leaf.Issuer, e.ca.Certificate().Subject)
			}
			if err := leaf.VerifyHostname("shop.test"); err != nil {
				t.Errorf("leaf: %v", err)
			}
		})
	}
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:60]
	}
	return s
}

func TestKeepAliveOneConnect(t *testing.T) {
	upCA := newTestCA(t, "upstream test CA")
	up := newUpstream(t, upCA, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.Path)
	}), upstreamOpts{})
	cfg := testConfig(t, upCA)
	cfg.Resolve = []string{resolveTo("shop.test", up)}
	e := startProxy(t, cfg)

	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("h2=%v", h2), func(t *testing.T) {
			var connects atomic.Int32
			c := e.client(t, clientOpts{h2: h2, connects: &connects})
			for i := range 5 {
				path := fmt.Sprintf("/r%d", i)
				status, body, _ := get(t, c, "https://shop.test"+path)
				if status != 200 || body != path {
					t.Fatalf("request %d: got %d %q, want 200 %q", i, status, body, path)
				}
			}
			if got := connects.Load(); got != 1 {
				t.Errorf("CONNECTs for 5 requests: got %d, want 1", got)
			}
		})
	}
}

func TestStreamedResponseArrivesBeforeUpstreamFinishes(t *testing.T) {
	upCA := newTestCA(t, "upstream test CA")
	type stream struct {
		release  chan struct{}
		released atomic.Bool
	}
	streams := map[string]*stream{"/h1": {release: make(chan struct{})}, "/h2": {release: make(chan struct{})}}
	up := newUpstream(t, upCA, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := streams[r.URL.Path]
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-st.release:
			st.released.Store(true)
			io.WriteString(w, "data: two\n\n")
		case <-r.Context().Done():
		case <-time.After(20 * time.Second):
			// Guard only: the test fails on the event it gets below.
			io.WriteString(w, "data: upstream gave up waiting\n\n")
		}
	}), upstreamOpts{h2: true})
	cfg := testConfig(t, upCA)
	cfg.Resolve = []string{resolveTo("shop.test", up)}
	e := startProxy(t, cfg)

	for _, path := range []string{"/h1", "/h2"} {
		t.Run(path, func(t *testing.T) {
			st := streams[path]
			c := e.client(t, clientOpts{h2: path == "/h2"})
			resp, err := c.Get("https://shop.test" + path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			br := bufio.NewReader(resp.Body)
			first, err := br.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if first != "data: one\n" {
				t.Fatalf("first event: got %q, want %q", first, "data: one\n")
			}
			if st.released.Load() {
				t.Fatal("first event arrived only after the upstream finished")
			}
			close(st.release)
			rest, _ := io.ReadAll(br)
			if want := "\ndata: two\n\n"; string(rest) != want {
				t.Fatalf("rest: got %q, want %q", rest, want)
			}
		})
	}
}

func TestLargeDownloadStreams(t *testing.T) {
	const size = 64 << 20
	const head = 1 << 20
	upCA := newTestCA(t, "upstream test CA")
	headSeen := make(chan struct{})
	var sent atomic.Int64
	pattern := bytes.Repeat([]byte("consentproxy streams bodies. "), 1<<12)
	up := newUpstream(t, upCA, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(size))
		w.Header().Set("Content-Type", "application/octet-stream")
		write := func(n int) bool {
			for n > 0 {
				chunk := pattern[:min(n, len(pattern))]
				if _, err := w.Write(chunk); err != nil {
					return false
				}
				sent.Add(int64(len(chunk)))
				n -= len(chunk)
			}
			return true
		}
		if !write(head) {
			return
		}
		w.(http.Flusher).Flush()
		select {
		case <-headSeen:
		case <-r.Context().Done():
			return
		case <-time.After(30 * time.Second):
			return // guard: the client then gets a short body and fails
		}
		write(size - head)
	}), upstreamOpts{})
	cfg := testConfig(t, upCA)
	cfg.Resolve = []string{resolveTo("shop.test", up)}
	e := startProxy(t, cfg)
	c := e.client(t, clientOpts{})

	resp, err := c.Get("https://shop.test/big.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ContentLength != size {
		t.Errorf("Content-Length: got %d, want %d (the proxy must keep the upstream's framing)", resp.ContentLength, size)
	}
	h := sha256.New()
	if _, err := io.CopyN(h, resp.Body, head); err != nil {
		t.Fatalf("first MiB: %v", err)
	}
	if got := sent.Load(); got >= size {
		t.Fatalf("upstream had sent %d bytes before the client saw the first MiB; want the body streamed", got)
	}
	close(headSeen)
	n, err := io.Copy(h, resp.Body)
	if err != nil || n+head != size {
		t.Fatalf("body: got %d bytes (err %v), want %d", n+head, err, size)
	}
	want := sha256.New()
	for _, n := range []int{head, size - head} { // as the upstream wrote it
		for n > 0 {
			chunk := pattern[:min(n, len(pattern))]
			want.Write(chunk)
			n -= len(chunk)
		}
	}
	if !bytes.Equal(h.Sum(nil), want.Sum(nil)) {
		t.Error("body differs from what the upstream sent")
	}
}

// dialTunnel sends CONNECT target to the proxy and returns the connection
// after a 200, with the reader that parsed the reply.
func dialTunnel(t *testing.T, e *env, target string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", e.srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		t.Fatalf("CONNECT %s: %v", target, err)
	}
	if resp.StatusCode != 200 {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("CONNECT %s: got %d %q, want 200", target, resp.StatusCode, body)
	}
	return conn, br
}

// wsFrame writes one WebSocket frame (FIN set, opcode op), masked as
// clients must.
func wsWriteFrame(w io.Writer, op byte, payload []byte, masked bool) error {
	var hdr []byte
	hdr = append(hdr, 0x80|op)
	mask := byte(0)
	if masked {
		mask = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		hdr = append(hdr, mask|byte(n))
	case n < 1<<16:
		hdr = append(hdr, mask|126, byte(n>>8), byte(n))
	default:
		return fmt.Errorf("frame too large for the test")
	}
	body := payload
	if masked {
		key := []byte{0x12, 0x34, 0x56, 0x78}
		hdr = append(hdr, key...)
		body = make([]byte, len(payload))
		for i := range payload {
			body[i] = payload[i] ^ key[i%4]
		}
	}
	_, err := w.Write(append(hdr, body...))
	return err
}

func wsReadFrame(r io.Reader) (op byte, payload []byte, err error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	op = h[0] & 0x0f
	n := int(h[1] & 0x7f)
	if n == 126 {
		var ext [2]byte
		if _, err := io.ReadFull(r, ext[:]); err != nil {
			return 0, nil, err
		}
		n = int(ext[0])<<8 | int(ext[1])
	} else if n == 127 {
		return 0, nil, fmt.Errorf("frame too large for the test")
	}
	var key [4]byte
	if h[1]&0x80 != 0 {
		if _, err := io.ReadFull(r, key[:]); err != nil {
			return 0, nil, err
		}
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, err
	}
	if h[1]&0x80 != 0 {
		for i := range payload {
			payload[i] ^= key[i%4]
		}
	}
	return op, payload, nil
}

// wsEcho is a minimal WebSocket echo server (RFC 6455 handshake, unfragmented frames).
func wsEcho(w http.ResponseWriter, r *http.Request) {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		http.Error(w, "want a websocket upgrade", http.StatusBadRequest)
		return
	}
	conn, brw, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
		wsAccept(r.Header.Get("Sec-WebSocket-Key")))
	brw.Flush()
	for {
		op, p, err := wsReadFrame(brw)
		if err != nil || op == 0x8 {
			return
		}
		if err := wsWriteFrame(conn, op, append([]byte("echo: "), p...), false); err != nil {
			return
		}
	}
}

func TestWebSocketEchoThroughMITM(t *testing.T) {
	upCA := newTestCA(t, "upstream test CA")
	up := newUpstream(t, upCA, http.HandlerFunc(wsEcho), upstreamOpts{})
	cfg := testConfig(t, upCA)
	cfg.Resolve = []string{resolveTo("shop.test", up)}
	e := startProxy(t, cfg)

	conn, _ := dialTunnel(t, e, "shop.test:443")
	tc := tls.Client(conn, &tls.Config{RootCAs: e.proxyPool, ServerName: "shop.test", NextProtos: []string{"http/1.1"}})
	key := "dGhlIHNhbXBsZSBub25jZQ=="
	fmt.Fprintf(tc, "GET /ws HTTP/1.1\r\nHost: shop.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", key)
	br := bufio.NewReader(tc)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: got %d, want 101", resp.StatusCode)
	}
	if got, want := resp.Header.Get("Sec-WebSocket-Accept"), wsAccept(key); got != want {
		t.Fatalf("Sec-WebSocket-Accept: got %q, want %q", got, want)
	}
	for _, msg := range []string{"hello", "second message", strings.Repeat("x", 300)} {
		if err := wsWriteFrame(tc, 0x1, []byte(msg), true); err != nil {
			t.Fatal(err)
		}
		op, p, err := wsReadFrame(br)
		if err != nil {
			t.Fatal(err)
		}
		if op != 0x1 || string(p) != "echo: "+msg {
			t.Fatalf("got op %d %q, want text %q", op, clip(string(p)), clip("echo: "+msg))
		}
	}
	_ = wsWriteFrame(tc, 0x8, nil, true)
}

func TestHTTP2ClientThroughMITM(t *testing.T) {
	upCA := newTestCA(t, "upstream test CA")
	for _, upH2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("upstream h2=%v", upH2), func(t *testing.T) {
			up := newUpstream(t, upCA, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintf(w, "%s upstream proto %d", r.URL.Path, r.ProtoMajor)
			}), upstreamOpts{h2: upH2})
			cfg := testConfig(t, upCA)
			cfg.Resolve = []string{resolveTo("shop.test", up)}
			e := startProxy(t, cfg)
			var connects atomic.Int32
			c := e.client(t, clientOpts{h2: true, connects: &connects})

			wantUp := 1
			if upH2 {
				wantUp = 2
			}
			var wg sync.WaitGroup
			// One request first so the concurrent ones share its connection.
			if status, _, resp := get(t, c, "https://shop.test/first"); status != 200 || resp.ProtoMajor != 2 {
				t.Fatalf("got %d over HTTP/%d, want 200 over HTTP/2", status, resp.ProtoMajor)
			}
			for i := range 10 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					path := fmt.Sprintf("/s%d", i)
					resp, err := c.Get("https://shop.test" + path)
					if err != nil {
						t.Error(err)
						return
					}
					defer resp.Body.Close()
					body, _ := io.ReadAll(resp.Body)
					if want := fmt.Sprintf("%s upstream proto %d", path, wantUp); resp.ProtoMajor != 2 || string(body) != want {
						t.Errorf("got HTTP/%d %q, want HTTP/2 %q", resp.ProtoMajor, body, want)
					}
				}()
			}
			wg.Wait()
			if got := connects.Load(); got != 1 {
				t.Errorf("CONNECTs: got %d, want 1", got)
			}
		})
	}
}

func TestDeadUpstreamIs502AndTunnelSurvives(t *testing.T) {
	upCA := newTestCA(t, "upstream test CA")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := ln.Addr().String()
	ln.Close() // nothing listens there now: connection refused

	cfg := testConfig(t, upCA)
	cfg.Resolve = []string{"dead.test=" + deadAddr}
	e := startProxy(t, cfg)
	var connects atomic.Int32
	c := e.client(t, clientOpts{connects: &connects})

	tests := []struct {
		name, url, wantBody string
	}{
		{"plain http", "http://dead.test/a?token=SECRET1", "consentproxy: cannot reach upstream dead.test:80: connection refused\n"},
		{"inside MITM tunnel", "https://dead.test/a?token=SECRET2", "consentproxy: cannot reach upstream dead.test:443: connection refused\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, resp := get(t, c, tt.url, "Cookie", "session=COOKIEVALUE")
			if status != http.StatusBadGateway || body != tt.wantBody {
				t.Fatalf("got %d %q, want 502 %q", status, body, tt.wantBody)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("Content-Type %q, want text/plain", ct)
			}
		})
	}

	// The upstream comes up on the same address: the same tunnel must serve
	// the next request.
	ln2, err := net.Listen("tcp", deadAddr)
	if err != nil {
		t.Skipf("cannot re-listen on %s for the second half: %v", deadAddr, err)
	}
	newUpstream(t, upCA, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "alive")
	}), upstreamOpts{listener: ln2})
	if status, body, _ := get(t, c, "https://dead.test/b"); status != 200 || body != "alive" {
		t.Fatalf("after the 502: got %d %q, want 200 %q", status, body, "alive")
	}
	if got := connects.Load(); got != 1 {
		t.Errorf("CONNECTs: got %d, want 1 (the 502 must not close the tunnel)", got)
	}
	logs := e.logText()
	for _, secret := range []string{"SECRET1", "SECRET2", "COOKIEVALUE"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q:\n%s", secret, logs)
		}
	}
}

func TestUntrustedUpstreamCertificate(t *testing.T) {
	trusted := newTestCA(t, "trusted upstream CA")
	rogue := newTestCA(t, "rogue upstream CA")
	var hits atomic.Int32
	up := newUpstream(t, rogue, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, "TOP-SECRET-BODY")
	}), upstreamOpts{})

	tests := []struct {
		name       string
		insecure   bool
		wantStatus int
		wantBody   []string
		wantHits   int32
	}{
		{"verified", false, 502, []string{"consentproxy: cannot reach upstream shop.test:443: upstream certificate not trusted: x509:", "--upstream-ca"}, 0},
		{"insecure_upstream", true, 200, []string{"TOP-SECRET-BODY"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hits.Store(0)
			cfg := testConfig(t, trusted)
			cfg.Resolve = []string{resolveTo("shop.test", up)}
			cfg.InsecureUpstream = tt.insecure
			e := startProxy(t, cfg)
			status, body, _ := get(t, e.client(t, clientOpts{}), "https://shop.test/")
			if status != tt.wantStatus {
				t.Fatalf("got %d %q, want %d", status, body, tt.wantStatus)
			}
			for _, w := range tt.wantBody {
				if !strings.Contains(body, w) {
					t.Errorf("body %q lacks %q", body, w)
				}
			}
			if !tt.insecure && strings.Contains(body, "TOP-SECRET") {
				t.Errorf("the untrusted upstream's body reached the client: %q", body)
			}
			if got := hits.Load(); got != tt.wantHits {
				t.Errorf("upstream handler ran %d times, want %d", got, tt.wantHits)
			}
			warned := e.logs.FilterMessageSnippet("NOT VERIFIED").Len() > 0
			if warned != tt.insecure {
				t.Errorf("insecure-upstream warning logged: %v, want %v", warned, tt.insecure)
			}
		})
	}
}

func TestResolveKeepsHostAndSNI(t *testing.T) {
	upCA := newTestCA(t, "upstream test CA")
	type seen struct{ host, sni string }
	got := make(chan seen, 4)
	up := newUpstream(t, upCA, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.Host, r.TLS.ServerName}
	}), upstreamOpts{})
	cfg := testConfig(t, upCA)
	cfg.Resolve = []string{resolveTo("shop.test", up), resolveTo("*.shop.test", up)}
	e := startProxy(t, cfg)
	c := e.client(t, clientOpts{})

	tests := []struct{ url, wantHost, wantSNI string }{
		{"https://shop.test/", "shop.test", "shop.test"},
		{"https://api.shop.test/v1", "api.shop.test", "api.shop.test"},
	}
	for _, tt := range tests {
		if status, body, _ := get(t, c, tt.url); status != 200 {
			t.Fatalf("%s: got %d %q", tt.url, status, body)
		}
		s := <-got
		if s.host != tt.wantHost || s.sni != tt.wantSNI {
			t.Errorf("%s: upstream saw Host %q SNI %q, want %q %q", tt.url, s.host, s.sni, tt.wantHost, tt.wantSNI)
		}
	}
}

func TestPassthroughAndNonInterceptedPorts(t *testing.T) {
	upCA := newTestCA(t, "upstream test CA")
	up := newUpstream(t, upCA, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "origin "+r.Host)
	}), upstreamOpts{})
	cfg := testConfig(t, upCA)
	upPort := portOf(t, up.Listener.Addr().String())
	cfg.Resolve = []string{resolveTo("shop.test", up), resolveTo("pass.test", up), "blind.test=127.0.0.1"}
	cfg.Passthrough = []string{"pass.test"}
	e := startProxy(t, cfg)
	both := x509.NewCertPool()
	both.AddCert(e.ca.Certificate())
	both.AddCert(upCA.cert)
	c := e.client(t, clientOpts{roots: both})

	tests := []struct {
		name       string
		url        string
		wantIssuer *x509.Certificate
	}{
		{"intercepted", "https://shop.test/", e.ca.Certificate()},
		{"passthrough host", "https://pass.test/", upCA.cert},
		{"port not intercepted", fmt.Sprintf("https://blind.test:%d/", upPort), upCA.cert},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, resp := get(t, c, tt.url)
			if status != 200 || !strings.HasPrefix(body, "origin ") {
				t.Fatalf("got %d %q", status, body)
			}
			issuer := resp.TLS.PeerCertificates[0].Issuer.CommonName
			if issuer != tt.wantIssuer.Subject.CommonName {
				t.Errorf("client saw a leaf issued by %q, want %q", issuer, tt.wantIssuer.Subject.CommonName)
			}
		})
	}
}

// A server-speaks-first protocol (SMTP, SSH...) on a port that is not
// intercepted must work: the proxy must not wait for the client's first
// byte the way MITM does.
func TestServerSpeaksFirstTunnelledBlind(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		io.WriteString(conn, "220 banner.test ESMTP ready\r\n")
		line, _ := bufio.NewReader(conn).ReadString('\n')
		io.WriteString(conn, "250 got "+line)
	}()
	e := startProxy(t, testConfig(t, nil))
	conn, br := dialTunnel(t, e, ln.Addr().String())
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	banner, err := br.ReadString('\n')
	if err != nil || banner != "220 banner.test ESMTP ready\r\n" {
		t.Fatalf("banner: got %q (%v)", banner, err)
	}
	io.WriteString(conn, "EHLO me\r\n")
	reply, err := br.ReadString('\n')
	if err != nil || reply != "250 got EHLO me\r\n" {
		t.Fatalf("reply: got %q (%v)", reply, err)
	}
}

func TestResponseHeaderTimeoutIs504(t *testing.T) {
	upCA := newTestCA(t, "upstream test CA")
	release := make(chan struct{})
	up := newUpstream(t, upCA, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}), upstreamOpts{})
	t.Cleanup(func() { close(release) }) // runs before up.Close
	cfg := testConfig(t, upCA)
	cfg.Resolve = []string{resolveTo("slow.test", up)}
	cfg.Limits.ResponseHeaderTimeout = 300 * time.Millisecond
	e := startProxy(t, cfg)

	status, body, _ := get(t, e.client(t, clientOpts{}), "https://slow.test/report?id=SECRET")
	want := "consentproxy: upstream slow.test:443 timed out: no response headers within 300ms (limits.response_header_timeout)\n"
	if status != http.StatusGatewayTimeout || body != want {
		t.Fatalf("got %d %q, want 504 %q", status, body, want)
	}
}

func TestAcceptEncodingPassesUnchanged(t *testing.T) {
	upCA := newTestCA(t, "upstream test CA")
	brotli := []byte{0x1b, 0x03, 0x00, 0xf8, 0x25, 0x00, 0x00} // opaque to the proxy
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ae := r.Header.Get("Accept-Encoding")
		w.Header().Set("X-Got-Accept-Encoding", ae)
		if strings.Contains(ae, "br") {
			w.Header().Set("Content-Encoding", "br")
			w.Write(brotli)
			return
		}
		io.WriteString(w, "identity")
	})
	up := newUpstream(t, upCA, handler, upstreamOpts{})
	plain := httptest.NewServer(handler)
	t.Cleanup(plain.Close)
	cfg := testConfig(t, upCA)
	cfg.Resolve = []string{resolveTo("shop.test", up), "plain.test=" + plain.Listener.Addr().String()}
	e := startProxy(t, cfg)

	for _, base := range []string{"https://shop.test/", "http://plain.test/"} {
		for _, h2 := range []bool{false, true} {
			c := e.client(t, clientOpts{h2: h2})
			tests := []struct {
				send     string
				wantBody []byte
			}{
				{"br", brotli},
				{"gzip, deflate, br, zstd", brotli},
				{"", []byte("identity")},
			}
			for _, tt := range tests {
				t.Run(fmt.Sprintf("%s h2=%v %q", base, h2, tt.send), func(t *testing.T) {
					req, _ := http.NewRequest(http.MethodGet, base, nil)
					if tt.send != "" {
						req.Header.Set("Accept-Encoding", tt.send)
					}
					resp, err := c.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					defer resp.Body.Close()
					body, _ := io.ReadAll(resp.Body)
					if got := resp.Header.Get("X-Got-Accept-Encoding"); got != tt.send {
						t.Errorf("upstream got Accept-Encoding %q, want %q", got, tt.send)
					}
					if !bytes.Equal(body, tt.wantBody) {
						t.Errorf("body %x, want %x", body, tt.wantBody)
					}
				})
			}
		}
	}
}

func TestPlainHTTPForwarding(t *testing.T) {
	type seen struct {
		rawQuery, proxyAuth, proxyConn, cookie string
	}
	got := make(chan seen, 1)
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.URL.RawQuery, r.Header.Get("Proxy-Authorization"), r.Header.Get("Proxy-Connection"), r.Header.Get("Cookie")}
		io.WriteString(w, "plain ok")
	}))
	t.Cleanup(plain.Close)
	cfg := testConfig(t, nil)
	cfg.Resolve = []string{"plain.test=" + plain.Listener.Addr().String()}
	e := startProxy(t, cfg)
	status, body, _ := get(t, e.client(t, clientOpts{}), "http://plain.test/p?q=1&r=2",
		"Proxy-Authorization", "Basic dXNlcjpwYXNz", "Proxy-Connection", "keep-alive", "Cookie", "a=1; b=2")
	if status != 200 || body != "plain ok" {
		t.Fatalf("got %d %q", status, body)
	}
	s := <-got
	want := seen{rawQuery: "q=1&r=2", cookie: "a=1; b=2"}
	if s != want {
		t.Errorf("upstream saw %+v, want %+v", s, want)
	}
}

func TestOversizedRequestHeaderIs431(t *testing.T) {
	cfg := testConfig(t, nil)
	cfg.Limits.MaxHeaderBytes = 4 << 10
	e := startProxy(t, cfg)
	status, _, _ := get(t, e.client(t, clientOpts{}), "http://plain.test/", "X-Big", strings.Repeat("a", 16<<10))
	if status != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("got %d, want 431", status)
	}
}

func TestNonProxyRequestIs400(t *testing.T) {
	e := startProxy(t, testConfig(t, nil))
	resp, err := http.Get("http://" + e.srv.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 400 || !strings.Contains(string(body), "forward proxy") {
		t.Fatalf("got %d %q, want 400 naming a forward proxy", resp.StatusCode, body)
	}
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
}

func TestNewRejects(t *testing.T) {
	dir := t.TempDir()
	ca, _, err := certs.LoadOrCreate(dir+"/ca.pem", dir+"/ca-key.pem")
	if err != nil {
		t.Fatal(err)
	}
	notPEM := dir + "/not.pem"
	if err := writeFile(notPEM, "hello"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		ca      *certs.Authority
		mutate  func(*config.Config)
		wantErr string
	}{
		{"nil CA", nil, func(*config.Config) {}, "no certificate authority"},
		{"remote bind without allow_remote", ca, func(c *config.Config) { c.Listen = "0.0.0.0:0" }, "allow_remote"},
		{"upstream CA not PEM", ca, func(c *config.Config) { c.UpstreamCA = []string{notPEM} }, "upstream CA file " + notPEM + ": no PEM certificate"},
		{"upstream CA missing", ca, func(c *config.Config) { c.UpstreamCA = []string{dir + "/missing.pem"} }, "missing.pem"},
		{"bad resolve", ca, func(c *config.Config) { c.Resolve = []string{"shop.test"} }, "PATTERN=IP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t, nil)
			tt.mutate(&cfg)
			_, err := New(cfg, tt.ca, nil)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}
