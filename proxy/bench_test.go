package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/elazarl/goproxy"
)

// Throughput through the proxy on loopback, against a bare goproxy MITM
// proxy (same CA, same upstream) as the SPEC's baseline: compare the
// ns/op of the sub-benchmarks of one run.
func BenchmarkKeepAlive(b *testing.B) {
	upCA := newTestCA(b, "upstream test CA")
	body := strings.Repeat("x", 16<<10)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) })
	up := newUpstream(b, upCA, handler, upstreamOpts{})
	plain := httptest.NewServer(handler)
	b.Cleanup(plain.Close)
	cfg := testConfig(b, upCA)
	cfg.Resolve = []string{resolveTo("shop.test", up), "plain.test=" + plain.Listener.Addr().String()}
	e := startProxy(b, cfg)

	bare := bareGoproxy(b, cfg.CACert, cfg.CAKey, upCA, e.srv.dialer)
	bareURL, _ := url.Parse(bare.URL)

	for _, p := range []struct {
		name  string
		proxy *url.URL
	}{{"consentproxy", e.proxyURL}, {"bare-goproxy", bareURL}} {
		for _, target := range []string{"https://shop.test/", "http://plain.test/"} {
			b.Run(p.name+"/"+strings.SplitN(target, ":", 2)[0], func(b *testing.B) {
				tr := &http.Transport{Proxy: http.ProxyURL(p.proxy), TLSClientConfig: &tls.Config{RootCAs: e.proxyPool},
					TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}
				defer tr.CloseIdleConnections()
				c := &http.Client{Transport: tr}
				b.SetBytes(int64(len(body)))
				b.ReportAllocs()
				for b.Loop() {
					resp, err := c.Get(target)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := io.Copy(io.Discard, resp.Body); err != nil {
						b.Fatal(err)
					}
					resp.Body.Close()
				}
			})
		}
	}
}

// bareGoproxy is goproxy as its README sets it up for MITM, with our CA
// and our dialer (for --resolve), for comparison only.
func bareGoproxy(b *testing.B, certFile, keyFile string, upCA *testCA, d *dialer) *httptest.Server {
	caPair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		b.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(upCA.cert)
	gp := goproxy.NewProxyHttpServer()
	gp.Logger = log.New(io.Discard, "", 0)
	gp.Tr = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, DialContext: d.DialContext}
	gp.ConnectDial = nil
	mitm := &goproxy.ConnectAction{Action: goproxy.ConnectMitm, TLSConfig: goproxy.TLSConfigFromCA(&caPair)}
	gp.OnRequest().HandleConnectFunc(func(host string, _ *goproxy.ProxyCtx) (*goproxy.ConnectAction, string) {
		return mitm, host
	})
	srv := httptest.NewServer(gp)
	b.Cleanup(func() {
		gp.Tr.CloseIdleConnections()
		srv.CloseClientConnections()
		srv.Close()
	})
	return srv
}
