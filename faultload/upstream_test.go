package faultload

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// The fake web: one server, reached through --resolve under the real
// names of a shop and of the trackers its pages embed, that speaks TLS
// (HTTP/1.1 and HTTP/2) and plain HTTP on the same port, answers each
// route as the suite's plan expects, and records the names of the cookies
// every request carried.

// Hosts the fake web answers for.
const (
	shopHost      = "shop.test"
	pixelHost     = "www.facebook.com"         // its /tr is a pixel: blocked under reject-all
	analyticsHost = "www.google-analytics.com" // its /g/collect: stripped under on_denied: strip
	deadHost      = "dead.test"                // resolved to a port nobody listens on
)

// Sizes of the fault routes' bodies.
const (
	resetDeclared = 64 << 10 // Content-Length of /fault/reset, which sends only resetSent
	resetSent     = 1000
	slowChunks    = 6
)

// slowBody is what /fault/slow sends, in slowChunks pieces.
func slowBody(id string) string {
	var b []byte
	for i := range slowChunks {
		b = append(b, "slow "+id+" chunk "+strconv.Itoa(i)+"\n"...)
	}
	return string(b)
}

// fakeWeb is the upstream of every host.
type fakeWeb struct {
	addr    string
	srv     *http.Server
	ln      *sniffListener
	release chan struct{} // closed at the end: frees the hanging handlers
	refused map[string]bool

	mu    sync.Mutex
	seen  map[string][]string // request id → cookie names it carried
	leaks []string            // refused cookies that arrived: host+path+name
}

func newFakeWeb(t *testing.T, ca *testCA, refused map[string]bool) *fakeWeb {
	t.Helper()
	w := &fakeWeb{release: make(chan struct{}), refused: refused, seen: map[string][]string{}}
	leaf := ca.leaf(t, shopHost, pixelHost, analyticsHost, deadHost)
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{leaf}, NextProtos: []string{"h2", "http/1.1"}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w.ln = newSniffListener(ln, tlsCfg)
	w.addr = ln.Addr().String()
	w.srv = &http.Server{Handler: w, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	if err := http2.ConfigureServer(w.srv, nil); err != nil {
		t.Fatal(err)
	}
	go w.srv.Serve(w.ln)
	return w
}

// close frees the hanging handlers and stops the server.
func (w *fakeWeb) close() {
	close(w.release)
	w.srv.Close()
}

// forRound forgets the previous round's requests (leaks are kept).
func (w *fakeWeb) forRound() {
	w.mu.Lock()
	w.seen = map[string][]string{}
	w.mu.Unlock()
}

// cookiesOf returns the cookie names request id carried, and whether it
// reached the upstream at all.
func (w *fakeWeb) cookiesOf(id string) ([]string, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	names, ok := w.seen[id]
	return names, ok
}

func (w *fakeWeb) leaked() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.leaks)
}

func (w *fakeWeb) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	id := r.URL.Query().Get("id")
	names := []string{}
	for _, c := range r.Cookies() {
		names = append(names, c.Name)
	}
	slices.Sort(names)
	w.mu.Lock()
	w.seen[id] = names
	for _, n := range names {
		if w.refused[n] {
			w.leaks = append(w.leaks, r.Host+r.URL.Path+" "+n)
		}
	}
	w.mu.Unlock()

	switch r.URL.Path {
	case "/page":
		rw.Header().Add("Set-Cookie", "_ga=GA1.2."+secret+"; Path=/; Max-Age=63072000")
		rw.Header().Add("Set-Cookie", "JSESSIONID="+secret+"; Path=/; HttpOnly")
		io.WriteString(rw, "page "+id)
	case "/g/collect":
		rw.Header().Add("Set-Cookie", "_gid="+secret+"; Path=/")
		io.WriteString(rw, "tracker "+id)
	case "/tr":
		io.WriteString(rw, "GIF89a-from-upstream "+id)
	case "/fault/reset":
		rw.Header().Set("Content-Length", strconv.Itoa(resetDeclared))
		rw.Write(make([]byte, resetSent))
		rw.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // the connection (HTTP/1) or stream (HTTP/2) is reset
	case "/fault/hang":
		select {
		case <-r.Context().Done():
		case <-w.release:
		}
	case "/fault/500":
		rw.WriteHeader(http.StatusInternalServerError)
		io.WriteString(rw, "boom "+id)
	case "/fault/slow":
		body := slowBody(id)
		rw.Header().Set("Content-Length", strconv.Itoa(len(body)))
		per := len(body) / slowChunks
		for i := 0; i < len(body); i += per {
			io.WriteString(rw, body[i:min(i+per, len(body))])
			rw.(http.Flusher).Flush()
			time.Sleep(5 * time.Millisecond)
		}
	default:
		http.NotFound(rw, r)
	}
}

// sniffListener serves TLS and plain HTTP on one port: it looks at each
// connection's first byte (0x16 starts a TLS handshake).
type sniffListener struct {
	net.Listener
	tls   *tls.Config
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup
}

func newSniffListener(ln net.Listener, cfg *tls.Config) *sniffListener {
	l := &sniffListener{Listener: ln, tls: cfg, conns: make(chan net.Conn), done: make(chan struct{})}
	l.wg.Add(1)
	go l.acceptLoop()
	return l
}

func (l *sniffListener) acceptLoop() {
	defer l.wg.Done()
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return
		}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(c)
			first, err := br.Peek(1)
			c.SetReadDeadline(time.Time{})
			if err != nil {
				c.Close()
				return
			}
			var out net.Conn = &peekedConn{Conn: c, r: br}
			if first[0] == 0x16 {
				out = tls.Server(out, l.tls)
			}
			select {
			case l.conns <- out:
			case <-l.done:
				c.Close()
			}
		}()
	}
}

func (l *sniffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *sniffListener) Close() error {
	var err error
	l.once.Do(func() {
		close(l.done)
		err = l.Listener.Close()
		l.wg.Wait()
	})
	return err
}

type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// testCA is a throwaway CA for the fake web; the proxy trusts it through
// upstream_ca.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "faultload upstream CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "upstream-ca.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, file: file}
}

func (ca *testCA) leaf(t *testing.T, hosts ...string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: hosts[0]},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
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
