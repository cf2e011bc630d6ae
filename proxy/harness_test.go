package proxy

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/consentproxy/consentproxy/certs"
	"github.com/consentproxy/consentproxy/config"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testCA is a throwaway CA for upstream test servers: the proxy trusts it
// through cfg.UpstreamCA (or deliberately does not).
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t testing.TB, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// upstreamHosts are the names every test upstream's certificate covers.
var upstreamHosts = []string{"shop.test", "*.shop.test", "pass.test", "blind.test", "dead.test", "slow.test", "localhost"}

func (ca *testCA) leaf(t testing.TB, hosts ...string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: hosts[0]},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     hosts,
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func (ca *testCA) writePEM(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "upstream-ca.pem")
	if err := os.WriteFile(p, ca.pem, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// upstreamOpts tune newUpstream.
type upstreamOpts struct {
	h2       bool
	listener net.Listener
}

// newUpstream starts an HTTPS server with a certificate from ca.
func newUpstream(t testing.TB, ca *testCA, h http.Handler, o upstreamOpts) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	if o.listener != nil {
		_ = srv.Listener.Close()
		srv.Listener = o.listener
	}
	srv.EnableHTTP2 = o.h2
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.leaf(t, upstreamHosts...)}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func portOf(t testing.TB, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// env is a running proxy with a temp data dir and an observed logger.
type env struct {
	srv       *Server
	ca        *certs.Authority
	caFile    string
	proxyURL  *url.URL
	proxyPool *x509.CertPool
	logs      *observer.ObservedLogs
}

// testConfig is the default configuration with loopback ephemeral ports
// and the upstream CA trusted.
func testConfig(t testing.TB, upstreamCA *testCA) config.Config {
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.Admin = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.FillPaths()
	if upstreamCA != nil {
		cfg.UpstreamCA = []string{upstreamCA.writePEM(t)}
	}
	cfg.Limits.ResponseHeaderTimeout = 10 * time.Second
	cfg.Limits.ShutdownTimeout = 5 * time.Second
	return cfg
}

func startProxy(t testing.TB, cfg config.Config, opts ...Option) *env {
	t.Helper()
	ca, _, err := certs.LoadOrCreate(cfg.CACert, cfg.CAKey)
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.DebugLevel)
	srv, err := New(cfg, ca, zap.New(core), opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if t.Failed() {
			for _, e := range logs.All() {
				t.Logf("log: %s %s %s %v", e.Level, e.LoggerName, e.Message, e.ContextMap())
			}
		}
	})
	pool := x509.NewCertPool()
	pool.AddCert(ca.Certificate())
	return &env{
		srv:       srv,
		ca:        ca,
		caFile:    cfg.CACert,
		proxyURL:  &url.URL{Scheme: "http", Host: srv.Addr().String()},
		proxyPool: pool,
		logs:      logs,
	}
}

// clientOpts tune env.client.
type clientOpts struct {
	h2       bool
	roots    *x509.CertPool // default: the proxy CA only
	connects *atomic.Int32  // counts CONNECTs the client sends
	// proxy overrides the proxy URL (another listener, credentials).
	proxy *url.URL
	// connectHeader is sent on every CONNECT.
	connectHeader http.Header
}

func (e *env) client(t testing.TB, o clientOpts) *http.Client {
	t.Helper()
	roots := o.roots
	if roots == nil {
		roots = e.proxyPool
	}
	proxyURL := e.proxyURL
	if o.proxy != nil {
		proxyURL = o.proxy
	}
	tr := &http.Transport{
		Proxy:              http.ProxyURL(proxyURL),
		ProxyConnectHeader: o.connectHeader,
		TLSClientConfig:    &tls.Config{RootCAs: roots},
		DisableCompression: true,
		ForceAttemptHTTP2:  o.h2,
		OnProxyConnectResponse: func(context.Context, *url.URL, *http.Request, *http.Response) error {
			if o.connects != nil {
				o.connects.Add(1)
			}
			return nil
		},
	}
	if !o.h2 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}
}

// resolveTo is a --resolve rule sending host to a test server.
func resolveTo(host string, srv *httptest.Server) string {
	return host + "=" + srv.Listener.Addr().String()
}

// logText is every observed log entry flattened to text, for "never
// logged" checks.
func (e *env) logText() string {
	var b strings.Builder
	for _, en := range e.logs.All() {
		b.WriteString(en.Message)
		for k, v := range en.ContextMap() {
			b.WriteString(" " + k + "=")
			b.WriteString(fmt.Sprint(v))
		}
		b.WriteString("\n")
	}
	return b.String()
}

func writeFile(name, content string) error { return os.WriteFile(name, []byte(content), 0o644) }

// wsAccept is the Sec-WebSocket-Accept value for key (RFC 6455 §4.2.2).
func wsAccept(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}
