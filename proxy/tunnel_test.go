package proxy

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// skipResponseConn is a client connection that sends its TLS ClientHello
// right behind the CONNECT, without waiting for the answer, and skips the
// answer's head when it arrives.
type skipResponseConn struct {
	net.Conn
	prefix  string // written with the first write: the CONNECT
	br      *bufio.Reader
	skipped bool
	status  int
}

func (c *skipResponseConn) Write(p []byte) (int, error) {
	if c.prefix != "" {
		_, err := io.WriteString(c.Conn, c.prefix+string(p))
		c.prefix = ""
		return len(p), err
	}
	return c.Conn.Write(p)
}

func (c *skipResponseConn) Read(p []byte) (int, error) {
	if !c.skipped {
		c.skipped = true
		resp, err := http.ReadResponse(c.br, &http.Request{Method: http.MethodConnect})
		if err != nil {
			return 0, err
		}
		c.status = resp.StatusCode
	}
	return c.br.Read(p)
}

// Clients that do not wait for the CONNECT's answer before their
// ClientHello (it then arrives in the same read as the CONNECT): the
// handshake still works, whatever net/http had buffered.
func TestClientHelloSentWithTheConnect(t *testing.T) {
	upCA := newTestCA(t, "upstream test CA")
	up := newUpstream(t, upCA, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello "+r.URL.Path)
	}), upstreamOpts{})
	cfg := testConfig(t, upCA)
	cfg.Resolve = []string{resolveTo("shop.test", up)}
	e := startProxy(t, cfg)

	raw, err := net.Dial("tcp", e.srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(20 * time.Second))
	// One write: the CONNECT and the ClientHello.
	sc := &skipResponseConn{Conn: raw, br: bufio.NewReader(raw), prefix: "CONNECT shop.test:443 HTTP/1.1\r\nHost: shop.test:443\r\n\r\n"}
	tc := tls.Client(sc, &tls.Config{RootCAs: e.proxyPool, ServerName: "shop.test", NextProtos: []string{"http/1.1"}})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake with the ClientHello behind the CONNECT: %v", err)
	}
	if sc.status != 200 {
		t.Fatalf("CONNECT answered %d", sc.status)
	}
	io.WriteString(tc, "GET /early HTTP/1.1\r\nHost: shop.test\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "hello /early" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
}

// A client that says Connection: close and pipelines another request
// behind it gets its answer and the end of the connection, not a 400 for
// the request nobody will read.
func TestPipelinedRequestAfterCloseIsNotMalformed(t *testing.T) {
	upCA := newTestCA(t, "upstream test CA")
	up := newUpstream(t, upCA, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello "+r.URL.Path)
	}), upstreamOpts{})
	cfg := testConfig(t, upCA)
	cfg.Resolve = []string{resolveTo("shop.test", up)}
	e := startProxy(t, cfg)
	tc := dialMITM(t, e, "shop.test:443")
	tc.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(tc, "GET /a HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\nHost: shop.test\r\n\r\n")
	br := bufio.NewReader(tc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "hello /a" {
		t.Fatalf("first answer: %d %q", resp.StatusCode, body)
	}
	if rest, _ := io.ReadAll(br); len(rest) > 0 {
		t.Errorf("after the closing answer: %q, want nothing", rest)
	}
}
