package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The fake web: every host below is served by one loopback HTTPS server
// (the proxy reaches it through --resolve), with a certificate of its own
// test CA that the proxy trusts through --upstream-ca. Files come from
// testdata/web/<host>/<path>; the table below adds what static files
// cannot say (Set-Cookie, pixels, beacons).

const (
	shopHost = "shop.example"
	shopURL  = "https://" + shopHost + "/"
)

// webHosts are the names the fake web answers for. The trackers are real
// vendor hosts with the endpoints of tracker-endpoints.md, so the proxy's
// built-in rules recognise them; all are HTTPS, so Chromium's HSTS
// preload list changes nothing.
var webHosts = []string{
	shopHost,
	"www.facebook.com",
	"connect.facebook.net",
	"www.googletagmanager.com",
	"www.google-analytics.com",
	"static.criteo.net",
	"bat.bing.com",
	"cm.g.doubleclick.net",
}

// trackerPixel is a 2×1 GIF: real vendors answer 1×1, but the proxy's
// block answer is 1×1 (43 bytes), so the page can tell from naturalWidth
// which of the two it got.
var trackerPixel = mustBase64("R0lGODlhAgABAIAAAP///wAAACH5BAEAAAAALAAAAAACAAEAAAICRAEAOw==")

func mustBase64(s string) []byte {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// setCookies are the cookies each endpoint sets: first-party ones on the
// shop (an analytics cookie, an essential session cookie, an unknown
// name) and third-party ones on the trackers' own domains. Third-party
// cookies need SameSite=None; Secure to be stored at all.
var setCookies = map[string][]string{
	shopHost + "/": {
		"JSESSIONID=8F2A61C0; Path=/; Secure; HttpOnly; SameSite=Lax",
		"_ga=" + serverGA + "; Path=/; Max-Age=63072000; Secure; SameSite=Lax",
		"shop_pref=eur; Path=/; Max-Age=86400; Secure; SameSite=Lax",
	},
	"www.facebook.com/tr":        {"fr=0xAbC.1; Domain=.facebook.com; Path=/; Max-Age=7776000; Secure; HttpOnly; SameSite=None"},
	"bat.bing.com/action/0":      {"MUID=2F8E1D3C; Domain=.bing.com; Path=/; Max-Age=34128000; Secure; SameSite=None"},
	"cm.g.doubleclick.net/pixel": {"IDE=AHWqTUk; Domain=.doubleclick.net; Path=/; Max-Age=34128000; Secure; HttpOnly; SameSite=None"},
}

// serverGA is the _ga value the shop's server sets; the page's own script
// writes another (jsGA) when it finds none, like gtag.js does. Which one
// the browser holds tells whether the server's Set-Cookie got through.
const (
	serverGA = "GA1.1.111111111.1700000000"
	jsGA     = "GA1.1.222222222.1700000000"
)

// received is one request as a fake server saw it. Cookie values are not
// kept: the names are what consent is about.
type received struct {
	Host, Method, Path string
	Cookies            []string // cookie names in order, every Cookie line
	GPC, DNT           string   // Sec-GPC, DNT headers
	ProfileHeader      bool     // X-Consent-Profile reached the server
	FetchDest          string   // Sec-Fetch-Dest
}

func (r received) String() string {
	return r.Method + " " + r.Host + r.Path + " cookies=" + strings.Join(r.Cookies, ",")
}

// web is the fake web and the log of what it received.
type web struct {
	srv    *httptest.Server
	caFile string // file holding its CA certificate, for --upstream-ca
	root   string // testdata/web

	mu  sync.Mutex
	log []received
}

func newWeb(t *testing.T) *web {
	t.Helper()
	w := &web{root: filepath.Join("testdata", "web")}
	caFileM, leaf := newWebCertificates(t)
	w.caFile = filepath.Join(t.TempDir(), "web-ca.pem")
	if err := os.WriteFile(w.caFile, caFileM, 0o644); err != nil {
		t.Fatal(err)
	}
	w.srv = httptest.NewUnstartedServer(http.HandlerFunc(w.serve))
	w.srv.EnableHTTP2 = true
	w.srv.TLS = &tls.Config{Certificates: []tls.Certificate{leaf}}
	w.srv.StartTLS()
	t.Cleanup(w.srv.Close)
	return w
}

// addr is the server's host:port, for --resolve.
func (w *web) addr() string { return w.srv.Listener.Addr().String() }

// reset forgets what was received.
func (w *web) reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.log = nil
}

// requests returns what was received so far.
func (w *web) requests() []received {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.log)
}

func (w *web) serve(rw http.ResponseWriter, r *http.Request) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	rec := received{
		Host: host, Method: r.Method, Path: r.URL.Path,
		GPC: r.Header.Get("Sec-GPC"), DNT: r.Header.Get("DNT"),
		ProfileHeader: r.Header.Get("X-Consent-Profile") != "",
		FetchDest:     r.Header.Get("Sec-Fetch-Dest"),
	}
	for _, c := range r.Cookies() {
		rec.Cookies = append(rec.Cookies, c.Name)
	}
	w.mu.Lock()
	w.log = append(w.log, rec)
	w.mu.Unlock()

	h := rw.Header()
	h.Set("Cache-Control", "no-store")
	for _, c := range setCookies[host+r.URL.Path] {
		h.Add("Set-Cookie", c)
	}
	switch host + r.URL.Path {
	case "www.facebook.com/tr", "bat.bing.com/action/0", "cm.g.doubleclick.net/pixel":
		h.Set("Content-Type", "image/gif")
		rw.Write(trackerPixel)
		return
	case "www.google-analytics.com/g/collect":
		rw.WriteHeader(http.StatusNoContent)
		return
	case shopHost + "/api/cart":
		// The shop tells its page which cookies it got, so the page's view
		// and the server's agree by construction.
		h.Set("Content-Type", "application/json")
		json.NewEncoder(rw).Encode(map[string]any{"items": 2, "cookies": rec.Cookies})
		return
	}
	w.serveFile(rw, host, r.URL.Path)
}

// serveFile serves testdata/web/<host>/<path>, index.html for a directory.
func (w *web) serveFile(rw http.ResponseWriter, host, p string) {
	name := filepath.Join(w.root, host, filepath.FromSlash(path.Clean("/"+p)))
	if strings.HasSuffix(p, "/") {
		name = filepath.Join(name, "index.html")
	}
	body, err := os.ReadFile(name)
	if err != nil {
		http.NotFound(rw, nil)
		return
	}
	ct := mime.TypeByExtension(path.Ext(name))
	switch {
	case strings.HasSuffix(name, ".php"):
		ct = "text/html; charset=utf-8"
	case ct == "":
		// Extensionless script URLs (gtag/js) are JavaScript.
		ct = "text/javascript; charset=utf-8"
	}
	rw.Header().Set("Content-Type", ct)
	rw.Write(body)
}

// newWebCertificates makes a CA and a leaf for every web host.
func newWebCertificates(t *testing.T) (caFileM []byte, leaf tls.Certificate) {
	t.Helper()
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "consentproxy e2e fake web CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: shopHost},
		DNSNames:     webHosts,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		tls.Certificate{Certificate: [][]byte{der, caDER}, PrivateKey: key}
}
