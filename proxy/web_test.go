package proxy

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/consentproxy/consentproxy/config"
)

// The fake web of the enforcement tests: one HTTPS server that answers as
// a first-party shop and as the trackers its pages embed (reached through
// --resolve, with their real names), and records what reached it.

// secretValue and secretQuery are planted in every cookie value and query
// string the tests send or receive; nothing the proxy records may contain
// them.
const (
	secretValue = "SECRETVALUE123"
	secretQuery = "SECRETQUERY456"
)

// webHosts are the hosts the fake web answers for.
var webHosts = []string{
	"shop.test", "www.facebook.com", "www.googletagmanager.com", "www.google-analytics.com",
	"static.criteo.net", "collect.acme.test",
}

// webSetCookies are the Set-Cookie fields each route answers with.
var webSetCookies = map[string][]string{
	"shop.test/": {
		"_ga=GA1.2." + secretValue + "; Path=/; Max-Age=63072000",
		"JSESSIONID=" + secretValue + "; Path=/; HttpOnly; Secure",
		"shopprefs=" + secretValue + "; Path=/",
	},
	"www.facebook.com/":                  {"fr=" + secretValue + "; Path=/", "sitepref=" + secretValue},
	"www.facebook.com/tr":                {"fr=" + secretValue + "; Path=/; SameSite=None; Secure"},
	"www.googletagmanager.com/gtag/js":   {"_ga=GA1.2." + secretValue, "_gcl_au=" + secretValue},
	"www.google-analytics.com/g/collect": {"_gid=" + secretValue},
	"collect.acme.test/v1/hit":           {"acme_uid=" + secretValue},
}

// upstreamGIF is what the fake tracker answers for a pixel: distinct from
// the proxy's transparent GIF, so a test can tell who answered.
const upstreamGIF = "GIF89a-from-upstream"

type hit struct {
	cookies []string // cookie names, sorted
	header  http.Header
}

type fakeWeb struct {
	srv  *httptest.Server
	mu   sync.Mutex
	hits map[string][]hit // by host+path
}

func newFakeWeb(t testing.TB, ca *testCA) *fakeWeb {
	t.Helper()
	w := &fakeWeb{hits: map[string][]hit{}}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(w.serve))
	srv.EnableHTTP2 = true
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.leaf(t, webHosts...)}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	w.srv = srv
	return w
}

func (w *fakeWeb) serve(rw http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	key := strings.ToLower(r.Host) + r.URL.Path
	var names []string
	for _, c := range r.Cookies() {
		names = append(names, c.Name)
	}
	slices.Sort(names)
	w.mu.Lock()
	w.hits[key] = append(w.hits[key], hit{cookies: names, header: r.Header.Clone()})
	w.mu.Unlock()
	for _, sc := range webSetCookies[key] {
		rw.Header().Add("Set-Cookie", sc)
	}
	switch {
	case strings.HasSuffix(r.URL.Path, "/tr"):
		rw.Header().Set("Content-Type", "image/gif")
		io.WriteString(rw, upstreamGIF)
	case strings.HasSuffix(r.URL.Path, ".js"), strings.HasSuffix(r.URL.Path, "/js"):
		rw.Header().Set("Content-Type", "text/javascript")
		io.WriteString(rw, "/* tracker */")
	case r.URL.Path == "/g/collect":
		rw.WriteHeader(http.StatusNoContent)
	default:
		rw.Header().Set("Content-Type", "text/html")
		io.WriteString(rw, "<html>"+key+"</html>")
	}
}

// count is how many requests reached host+path.
func (w *fakeWeb) count(key string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.hits[key])
}

// last is the last request that reached host+path.
func (w *fakeWeb) last(t testing.TB, key string) hit {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	h := w.hits[key]
	if len(h) == 0 {
		t.Fatalf("nothing reached %s", key)
	}
	return h[len(h)-1]
}

// resolve are the --resolve rules sending every web host to the server.
func (w *fakeWeb) resolve() []string {
	out := make([]string, 0, len(webHosts))
	for _, h := range webHosts {
		out = append(out, resolveTo(h, w.srv))
	}
	return out
}

// webConfig is a proxy configuration reaching the fake web.
func webConfig(t testing.TB, ca *testCA, w *fakeWeb) config.Config {
	cfg := testConfig(t, ca)
	cfg.Resolve = w.resolve()
	return cfg
}

// probe is one request of the common request set: what a page on
// https://shop.test/ makes a browser send.
type probe struct {
	name   string
	method string
	url    string
	key    string   // host+path the upstream records it under
	hdr    []string // header name, value, ...
	body   string
}

func (p probe) do(t testing.TB, c *http.Client, extra ...string) (*http.Response, []byte) {
	t.Helper()
	var body io.Reader
	if p.body != "" {
		body = strings.NewReader(p.body)
	}
	req, err := http.NewRequest(p.method, p.url, body)
	if err != nil {
		t.Fatal(err)
	}
	hdr := append(slices.Clone(p.hdr), extra...)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", p.method, p.url, err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: body: %v", p.method, p.url, err)
	}
	return resp, got
}

// Fetch metadata of the request set: a page of shop.test loading
// third-party resources, navigations, and the page itself.
var (
	thirdPartyImage  = []string{"Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "no-cors", "Sec-Fetch-Dest", "image", "Referer", "https://shop.test/"}
	thirdPartyScript = []string{"Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "no-cors", "Sec-Fetch-Dest", "script", "Referer", "https://shop.test/"}
	thirdPartyBeacon = []string{"Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "no-cors", "Sec-Fetch-Dest", "empty", "Origin", "https://shop.test"}
	navigation       = []string{"Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "navigate", "Sec-Fetch-Dest", "document", "Sec-Fetch-User", "?1"}
	typedNavigation  = []string{"Sec-Fetch-Site", "none", "Sec-Fetch-Mode", "navigate", "Sec-Fetch-Dest", "document", "Sec-Fetch-User", "?1"}
)

func cookieHeader(names ...string) []string {
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + "=" + secretValue
	}
	return []string{"Cookie", strings.Join(parts, "; ")}
}

func with(a []string, b ...string) []string { return append(slices.Clone(a), b...) }

// requestSet is the common request set of the profile tests.
func requestSet() []probe {
	return []probe{
		{name: "pixel", method: "GET", url: "https://www.facebook.com/tr?id=1&ev=PageView&q=" + secretQuery, key: "www.facebook.com/tr",
			hdr: with(thirdPartyImage, cookieHeader("fr", "_fbp")...)},
		{name: "script", method: "GET", url: "https://www.googletagmanager.com/gtag/js?id=G-1&q=" + secretQuery, key: "www.googletagmanager.com/gtag/js",
			hdr: with(thirdPartyScript, cookieHeader("_ga", "_gid", "_gcl_au")...)},
		{name: "beacon", method: "POST", url: "https://www.google-analytics.com/g/collect?v=2&q=" + secretQuery, key: "www.google-analytics.com/g/collect",
			hdr: with(thirdPartyBeacon, with(cookieHeader("_ga", "_gid"), "Content-Type", "text/plain")...), body: "en=page_view&q=" + secretQuery},
		{name: "navigation", method: "GET", url: "https://www.facebook.com/?q=" + secretQuery, key: "www.facebook.com/",
			hdr: with(navigation, cookieHeader("fr", "_fbp", "sitepref")...)},
		{name: "page", method: "GET", url: "https://shop.test/?q=" + secretQuery, key: "shop.test/",
			hdr: with(typedNavigation, cookieHeader("_ga", "JSESSIONID", "shopprefs")...)},
	}
}

// setCookieNames are the cookie names of a response's Set-Cookie fields,
// sorted and comma-joined.
func setCookieNames(resp *http.Response) string {
	var names []string
	for _, c := range resp.Cookies() {
		names = append(names, c.Name)
	}
	slices.Sort(names)
	return strings.Join(names, ",")
}

// adminClient talks to the admin API.
type adminClient struct {
	base  string
	c     *http.Client
	token string
}

func (e *env) admin(t testing.TB) *adminClient {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &adminClient{base: "http://" + e.srv.AdminAddr().String(), c: &http.Client{Transport: tr}}
}

// do sends a request to the admin API; body, when not nil, is sent as
// JSON. It returns the status and the body.
func (a *adminClient) do(t testing.TB, method, path string, body any, hdr ...string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil || method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := a.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, got
}

// decode reads an admin JSON answer into v.
func decode(t testing.TB, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
}

// decodeBody reads and closes a JSON response into v.
func decodeBody(t testing.TB, resp *http.Response, v any) {
	t.Helper()
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	decode(t, data, v)
}
