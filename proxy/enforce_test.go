package proxy

import (
	"bytes"
	"context"
	"image/gif"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// outcome is what one probe of the request set led to.
type outcome struct {
	upstream   int    // requests that reached the upstream
	sawCookies string // cookie names the upstream saw, sorted ("" none)
	status     int
	ctype      string
	proxyGIF   bool   // the body is the proxy's transparent GIF
	setCookies string // cookie names of the Set-Cookie fields the client got
}

// Each built-in profile against the same request set, over HTTP/1.1 and
// HTTP/2 tunnels: what reached the upstream, which cookies it saw, and
// what the client got.
func TestBuiltinProfilesEndToEnd(t *testing.T) {
	blockedGIF := outcome{status: 200, ctype: "image/gif", proxyGIF: true}
	blocked204 := outcome{status: 204}
	navReject := outcome{upstream: 1, sawCookies: "sitepref", status: 200, ctype: "text/html", setCookies: "sitepref"}
	want := map[string]map[string]outcome{
		"reject-all": {
			"pixel":      blockedGIF,
			"script":     blocked204,
			"beacon":     blocked204,
			"navigation": navReject,
			"page":       {upstream: 1, sawCookies: "JSESSIONID,shopprefs", status: 200, ctype: "text/html", setCookies: "JSESSIONID,shopprefs"},
		},
		"analytics-only": {
			"pixel":      blockedGIF,
			"script":     {upstream: 1, sawCookies: "_ga,_gid", status: 200, ctype: "text/javascript", setCookies: "_ga"},
			"beacon":     {upstream: 1, sawCookies: "_ga,_gid", status: 204, setCookies: "_gid"},
			"navigation": navReject,
			"page":       {upstream: 1, sawCookies: "JSESSIONID,_ga,shopprefs", status: 200, ctype: "text/html", setCookies: "JSESSIONID,_ga,shopprefs"},
		},
		"accept-all": {
			"pixel":      {upstream: 1, sawCookies: "_fbp,fr", status: 200, ctype: "image/gif", setCookies: "fr"},
			"script":     {upstream: 1, sawCookies: "_ga,_gcl_au,_gid", status: 200, ctype: "text/javascript", setCookies: "_ga,_gcl_au"},
			"beacon":     {upstream: 1, sawCookies: "_ga,_gid", status: 204, setCookies: "_gid"},
			"navigation": {upstream: 1, sawCookies: "_fbp,fr,sitepref", status: 200, ctype: "text/html", setCookies: "fr,sitepref"},
			"page":       {upstream: 1, sawCookies: "JSESSIONID,_ga,shopprefs", status: 200, ctype: "text/html", setCookies: "JSESSIONID,_ga,shopprefs"},
		},
	}
	upCA := newTestCA(t, "upstream test CA")
	for _, profile := range []string{"reject-all", "analytics-only", "accept-all"} {
		for _, h2 := range []bool{false, true} {
			name := profile + "/h1"
			if h2 {
				name = profile + "/h2"
			}
			t.Run(name, func(t *testing.T) {
				web := newFakeWeb(t, upCA)
				cfg := webConfig(t, upCA, web)
				cfg.Profile = profile
				e := startProxy(t, cfg)
				c := e.client(t, clientOpts{h2: h2})
				for _, p := range requestSet() {
					resp, body := p.do(t, c)
					if h2 && resp.ProtoMajor != 2 {
						t.Fatalf("%s: client spoke %s, want HTTP/2", p.name, resp.Proto)
					}
					got := outcome{
						upstream:   web.count(p.key),
						status:     resp.StatusCode,
						ctype:      resp.Header.Get("Content-Type"),
						proxyGIF:   string(body) == transparentGIF,
						setCookies: setCookieNames(resp),
					}
					if got.upstream > 0 {
						got.sawCookies = strings.Join(web.last(t, p.key).cookies, ",")
					}
					if w := want[profile][p.name]; got != w {
						t.Errorf("%s:\n got %+v\nwant %+v", p.name, got, w)
					}
				}
			})
		}
	}
}

// A blocked request gets exactly the SPEC's answer, on plain HTTP and in
// HTTP/1.1 and HTTP/2 tunnels: the 43-byte transparent GIF (a real GIF)
// or an empty 204, never cached.
func TestBlockedResponses(t *testing.T) {
	upCA := newTestCA(t, "upstream test CA")
	web := newFakeWeb(t, upCA)
	e := startProxy(t, webConfig(t, upCA, web))
	// Plain HTTP goes through a second proxy whose trackers resolve to a
	// plain server, so that a request that escaped would be seen.
	plain := newPlainRecorder(t)
	pcfg := testConfig(t, nil)
	pcfg.Resolve = []string{resolveTo("www.facebook.com", plain.srv), resolveTo("www.googletagmanager.com", plain.srv)}
	pe := startProxy(t, pcfg)
	for _, tr := range []struct {
		name   string
		scheme string
		h2     bool
	}{{"plain", "http", false}, {"mitm h1", "https", false}, {"mitm h2", "https", true}} {
		t.Run(tr.name, func(t *testing.T) {
			c := e.client(t, clientOpts{h2: tr.h2})
			if tr.scheme == "http" {
				c = pe.client(t, clientOpts{})
			}
			pixel := probe{method: "GET", url: tr.scheme + "://www.facebook.com/tr?id=1", hdr: thirdPartyImage}
			resp, body := pixel.do(t, c)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/gif" ||
				resp.Header.Get("Content-Length") != "43" || resp.ContentLength != 43 ||
				resp.Header.Get("Cache-Control") != "no-store" || string(body) != transparentGIF {
				t.Errorf("pixel: got %d %q len %d CL %q cache %q body %q, want 200 image/gif 43 bytes no-store",
					resp.StatusCode, resp.Header.Get("Content-Type"), resp.ContentLength,
					resp.Header.Get("Content-Length"), resp.Header.Get("Cache-Control"), body)
			}
			img, err := gif.Decode(bytes.NewReader(body))
			if err != nil {
				t.Fatalf("the GIF does not decode: %v", err)
			}
			if b := img.Bounds(); b.Dx() != 1 || b.Dy() != 1 {
				t.Errorf("GIF is %dx%d, want 1x1", b.Dx(), b.Dy())
			}
			if _, _, _, a := img.At(0, 0).RGBA(); a != 0 {
				t.Errorf("GIF pixel alpha %d, want transparent", a)
			}
			script := probe{method: "GET", url: tr.scheme + "://www.googletagmanager.com/gtag/js", hdr: thirdPartyScript}
			resp, body = script.do(t, c)
			if resp.StatusCode != 204 || len(body) != 0 || resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("script: got %d %q cache %q, want 204, empty, no-store", resp.StatusCode, body, resp.Header.Get("Cache-Control"))
			}
			// A cross-origin fetch() of a blocked tracker, and its preflight,
			// must look like an empty success to the page, not a CORS error.
			corsFetch := []string{"Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "cors", "Sec-Fetch-Dest", "empty", "Origin", "https://shop.test"}
			fetch := probe{method: "POST", url: tr.scheme + "://www.facebook.com/tr", hdr: corsFetch, body: "ev=PageView"}
			resp, _ = fetch.do(t, c)
			if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://shop.test" ||
				resp.Header.Get("Access-Control-Allow-Credentials") != "true" {
				t.Errorf("cors fetch: got %d ACAO %q ACAC %q, want 204 echoing the Origin with credentials",
					resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"), resp.Header.Get("Access-Control-Allow-Credentials"))
			}
			preflight := probe{method: "OPTIONS", url: tr.scheme + "://www.facebook.com/tr",
				hdr: append(corsFetch[:len(corsFetch):len(corsFetch)], "Access-Control-Request-Method", "PUT", "Access-Control-Request-Headers", "content-type,x-fb")}
			resp, _ = preflight.do(t, c)
			if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Methods") != "PUT" ||
				resp.Header.Get("Access-Control-Allow-Headers") != "content-type,x-fb" || resp.Header.Get("Access-Control-Allow-Origin") != "https://shop.test" {
				t.Errorf("preflight: got %d %v, want 204 allowing PUT and the asked headers", resp.StatusCode, resp.Header)
			}
			if resp, _ = pixel.do(t, c); resp.Header.Get("Access-Control-Allow-Origin") != "" {
				t.Errorf("a request without Origin got CORS headers: %v", resp.Header)
			}
		})
	}
	if n := plain.count() + web.count("www.facebook.com/tr") + web.count("www.googletagmanager.com/gtag/js"); n != 0 {
		t.Errorf("%d blocked requests reached an upstream", n)
	}
}

// plainRecorder is a plain-HTTP upstream that records what reached it.
type plainRecorder struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []*http.Request
}

func newPlainRecorder(t testing.TB) *plainRecorder {
	p := &plainRecorder{}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		p.mu.Lock()
		p.reqs = append(p.reqs, r.Clone(context.Background()))
		p.mu.Unlock()
		for _, sc := range webSetCookies[strings.ToLower(r.Host)+r.URL.Path] {
			w.Header().Add("Set-Cookie", sc)
		}
		io.WriteString(w, "plain "+r.URL.Path)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *plainRecorder) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.reqs)
}

func (p *plainRecorder) last(t testing.TB) *http.Request {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.reqs) == 0 {
		t.Fatal("nothing reached the plain upstream")
	}
	return p.reqs[len(p.reqs)-1]
}

// Runtime switch via PUT /api/profile applies to the very next request on
// the same keep-alive tunnel (HTTP/1.1 and HTTP/2), with no stale cached
// decision in either direction.
func TestRuntimeSwitchOnTheSameTunnel(t *testing.T) {
	upCA := newTestCA(t, "upstream test CA")
	for _, h2 := range []bool{false, true} {
		t.Run(map[bool]string{false: "h1", true: "h2"}[h2], func(t *testing.T) {
			web := newFakeWeb(t, upCA)
			e := startProxy(t, webConfig(t, upCA, web))
			var connects atomic.Int32
			c := e.client(t, clientOpts{h2: h2, connects: &connects})
			a := e.admin(t)
			script := requestSet()[1]

			steps := []struct {
				profile    string // "" keeps the current one
				wantStatus int
				wantHits   int
			}{
				{"", 204, 0},
				{"", 204, 0}, // cached decision
				{"analytics-only", 200, 1},
				{"analytics-only", 200, 2},
				{"reject-all", 204, 2},
				{"accept-all", 200, 3},
			}
			for i, st := range steps {
				if st.profile != "" {
					status, body := a.do(t, "PUT", "/api/profile", map[string]string{"name": st.profile})
					if status != 200 {
						t.Fatalf("step %d: PUT /api/profile %s: %d %s", i, st.profile, status, body)
					}
				}
				resp, _ := script.do(t, c)
				if resp.StatusCode != st.wantStatus || web.count(script.key) != st.wantHits {
					t.Errorf("step %d (%s): got %d with %d upstream hits, want %d with %d",
						i, st.profile, resp.StatusCode, web.count(script.key), st.wantStatus, st.wantHits)
				}
			}
			if n := connects.Load(); n != 1 {
				t.Errorf("%d CONNECTs, want 1: the switch must apply inside the open tunnel", n)
			}
		})
	}
}
