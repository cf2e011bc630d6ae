package proxy

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/publicsuffix"

	"github.com/consentproxy/consentproxy/config"
	"github.com/consentproxy/consentproxy/rules"
	"github.com/consentproxy/consentproxy/rules/consent"
)

// The consent-state tests run a real proxy on loopback against a fake web
// of one HTTPS server (real TLS, reached through --resolve under the real
// names): a first-party shop on shop.test and its subdomains, serving the
// fake CMP page of testdata/cmp, plus the trackers and a third-party CDN.

// cmpHosts are the hosts the consent-state web answers for.
var cmpHosts = []string{
	"shop.test", "www.shop.test", "static.shop.test",
	"www.google-analytics.com", "googleads.g.doubleclick.net", "cdn.other.test",
}

// cmpWeb records every request's Cookie header (test-only: the values are
// what these tests check) and answers by path.
type cmpWeb struct {
	srv  *httptest.Server
	mu   sync.Mutex
	hits map[string][]http.Header // by host+path
}

// headerSetCookie asks cmpWeb to answer with these Set-Cookie fields.
const headerSetCookie = "X-Test-Set-Cookie"

func newCMPWeb(t testing.TB, ca *testCA) *cmpWeb {
	t.Helper()
	page, err := os.ReadFile("testdata/cmp/index.html")
	if err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile("testdata/cmp/cmp.js")
	if err != nil {
		t.Fatal(err)
	}
	w := &cmpWeb{hits: map[string][]http.Header{}}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.mu.Lock()
		w.hits[strings.ToLower(r.Host)+r.URL.Path] = append(w.hits[strings.ToLower(r.Host)+r.URL.Path], r.Header.Clone())
		w.mu.Unlock()
		for _, sc := range r.Header.Values(headerSetCookie) {
			rw.Header().Add("Set-Cookie", sc)
		}
		switch path := r.URL.Path; {
		case path == "/" || path == "/fragment.html" || path == "/frame.html":
			rw.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = rw.Write(page)
		case path == "/cmp.js":
			rw.Header().Set("Content-Type", "text/javascript")
			_, _ = rw.Write(script)
		case path == "/data.json":
			rw.Header().Set("Content-Type", "application/json")
			io.WriteString(rw, "{}")
		case strings.HasSuffix(path, ".js"), path == "/pagead/ads":
			rw.Header().Set("Content-Type", "text/javascript")
			io.WriteString(rw, "/* script */")
		default:
			rw.WriteHeader(http.StatusNoContent)
		}
	}))
	srv.EnableHTTP2 = true
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.leaf(t, cmpHosts...)}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	w.srv = srv
	return w
}

func (w *cmpWeb) count(key string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.hits[key])
}

// seen is the last Cookie header that reached host+path, as name → values
// in order.
func (w *cmpWeb) seen(t testing.TB, key string) map[string][]string {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	h := w.hits[key]
	if len(h) == 0 {
		t.Fatalf("nothing reached %s", key)
	}
	return parseCookieHeader(h[len(h)-1].Values("Cookie"))
}

func parseCookieHeader(lines []string) map[string][]string {
	out := map[string][]string{}
	for _, line := range lines {
		for _, pair := range strings.Split(line, ";") {
			name, value, ok := strings.Cut(strings.TrimSpace(pair), "=")
			if ok {
				out[name] = append(out[name], value)
			}
		}
	}
	return out
}

// cmpConfig is a proxy configuration reaching the consent-state web, with
// the profiles of yaml (a config file's text) if any.
func cmpConfig(t testing.TB, ca *testCA, w *cmpWeb, yaml string) config.Config {
	t.Helper()
	cfg := testConfig(t, ca)
	for _, h := range cmpHosts {
		cfg.Resolve = append(cfg.Resolve, resolveTo(h, w.srv))
	}
	if yaml != "" {
		fc, err := config.Parse("config.yaml", []byte(yaml))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Profiles = fc.Profiles
	}
	return cfg
}

// Fetch metadata of the consent-state requests.
var (
	firstPartyScript = []string{"Sec-Fetch-Site", "same-site", "Sec-Fetch-Mode", "no-cors", "Sec-Fetch-Dest", "script", "Referer", "https://www.shop.test/"}
	firstPartyFetch  = []string{"Sec-Fetch-Site", "same-origin", "Sec-Fetch-Mode", "cors", "Sec-Fetch-Dest", "empty", "Referer", "https://shop.test/"}
	thirdPartyFrame  = []string{"Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "navigate", "Sec-Fetch-Dest", "iframe", "Referer", "https://www.shop.test/"}
)

// setCookies parses the response's Set-Cookie fields by name.
func setCookies(t testing.TB, resp *http.Response) map[string]*http.Cookie {
	t.Helper()
	out := map[string]*http.Cookie{}
	for _, line := range resp.Header.Values("Set-Cookie") {
		c, err := http.ParseSetCookie(line)
		if err != nil {
			t.Fatalf("Set-Cookie %q: %v", line, err)
		}
		if _, dup := out[c.Name]; dup {
			t.Errorf("Set-Cookie %s twice", c.Name)
		}
		out[c.Name] = c
	}
	return out
}

// consentNames are the names of the built-in consent cookies among names.
func consentNames[V any](m map[string]V) []string {
	var out []string
	for _, n := range builtinConsentCookies {
		if _, ok := m[n]; ok {
			out = append(out, n)
		}
	}
	return out
}

// analyticsOnlyChoice is what the built-in analytics-only profile chose,
// computed from the rules the way any TCF reader would expect it.
func analyticsOnlyChoice(t testing.TB) consent.Choice {
	t.Helper()
	set, err := BuildRules(config.Default())
	if err != nil {
		t.Fatal(err)
	}
	p, _ := set.Profile("analytics-only")
	return consent.NewChoice(set, p)
}

// A first-party top-level navigation under analytics-only gets every
// consent cookie of the profile as Set-Cookie on its HTML response, scoped
// to the registrable domain and readable by the page's script, and its
// server sees them in the request, over HTTP/1.1 and HTTP/2.
func TestConsentCookiesOnNavigation(t *testing.T) {
	upCA := newTestCA(t, "upstream test CA")
	choice := analyticsOnlyChoice(t)
	for _, h2 := range []bool{false, true} {
		t.Run(map[bool]string{false: "h1", true: "h2"}[h2], func(t *testing.T) {
			web := newCMPWeb(t, upCA)
			cfg := cmpConfig(t, upCA, web, "")
			cfg.Profile = "analytics-only"
			e := startProxy(t, cfg)
			c := e.client(t, clientOpts{h2: h2})

			nav := probe{method: "GET", url: "https://www.shop.test/?utm=" + secretQuery, hdr: typedNavigation}
			resp, body := nav.do(t, c)
			if resp.StatusCode != 200 || !strings.Contains(string(body), "fakeCMP.run") {
				t.Fatalf("navigation: %d %.60q", resp.StatusCode, body)
			}
			got := setCookies(t, resp)
			if names := consentNames(got); !slices.Equal(names, builtinConsentCookies) {
				t.Fatalf("Set-Cookie names %v, want %v", names, builtinConsentCookies)
			}
			for _, name := range builtinConsentCookies {
				sc := got[name]
				if sc.Domain != "shop.test" || sc.Path != "/" || sc.MaxAge != 365*24*3600 || sc.SameSite != http.SameSiteLaxMode ||
					!sc.Secure || sc.HttpOnly {
					t.Errorf("%s: Domain=%q Path=%q Max-Age=%d SameSite=%v Secure=%v HttpOnly=%v, want shop.test / 31536000 Lax secure, readable by script",
						name, sc.Domain, sc.Path, sc.MaxAge, sc.SameSite, sc.Secure, sc.HttpOnly)
				}
			}

			// OneTrust: analytics (C0002) granted, nothing else.
			ot, err := url.ParseQuery(got["OptanonConsent"].Value)
			if err != nil {
				t.Fatal(err)
			}
			if g := ot.Get("groups"); g != "C0001:1,C0002:1,C0003:0,C0004:0,C0005:0" {
				t.Errorf("OptanonConsent groups=%q, want C0001:1,C0002:1,C0003:0,C0004:0,C0005:0", g)
			}
			if ot.Get("interactionCount") != "1" || ot.Get("consentId") == "" {
				t.Errorf("OptanonConsent interactionCount=%q consentId=%q, want a recorded choice", ot.Get("interactionCount"), ot.Get("consentId"))
			}
			if _, err := time.Parse(time.RFC3339, got["OptanonAlertBoxClosed"].Value); err != nil {
				t.Errorf("OptanonAlertBoxClosed: %v", err)
			}
			// Cookiebot: statistics only.
			cb, err := consent.ParseCookieConsent(got["CookieConsent"].Value)
			if err != nil {
				t.Fatal(err)
			}
			if !cb.Necessary || !cb.Statistics || cb.Preferences || cb.Marketing || cb.Method != "explicit" {
				t.Errorf("CookieConsent %+v, want necessary and statistics only, explicit", cb)
			}
			// TCF: purposes 1 and 8-10 (analytics), the analytics vendors only.
			tc, err := consent.DecodeTC(got["euconsent-v2"].Value)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(tc.PurposesConsent, []int{1, 8, 9, 10}) || len(tc.SpecialFeatureOptIns) != 0 || tc.Version != 2 || tc.PolicyVersion != 5 {
				t.Errorf("TC string: purposes %v special features %v version %d policy %d, want [1 8 9 10] [] 2 5",
					tc.PurposesConsent, tc.SpecialFeatureOptIns, tc.Version, tc.PolicyVersion)
			}
			if !slices.Equal(tc.VendorConsents, choice.Vendors) || slices.Contains(tc.VendorConsents, 755) || slices.Contains(tc.VendorConsents, 91) {
				t.Errorf("TC vendor consents %v, want %v (no Google ads 755, no Criteo 91)", tc.VendorConsents, choice.Vendors)
			}
			// GPP: the same TC string in the EU TCF section, section id 2.
			g, err := consent.DecodeGPP(got["__gpp"].Value)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(g.SectionIDs, []int{2}) || g.TCF() == nil || !slices.Equal(g.TCF().PurposesConsent, []int{1, 8, 9, 10}) {
				t.Errorf("GPP sections %v, TCF %+v", g.SectionIDs, g.TCF())
			}
			if v := got["__gpp_sid"].Value; v != "2" {
				t.Errorf("__gpp_sid=%q, want 2", v)
			}

			// The site's server rendered the page with the same values.
			seen := web.seen(t, "www.shop.test/")
			for _, name := range builtinConsentCookies {
				if v := seen[name]; len(v) != 1 || v[0] != got[name].Value {
					t.Errorf("server saw %s=%q, want the value set: %q", name, v, got[name].Value)
				}
			}
		})
	}
}

// On a plain-HTTP page the cookies are set without Secure (a browser
// would drop a Secure cookie from an http response), still for the
// registrable domain.
func TestConsentCookiesPlainHTTP(t *testing.T) {
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<html>plain</html>")
	}))
	t.Cleanup(plain.Close)
	cfg := testConfig(t, nil)
	cfg.Resolve = []string{resolveTo("www.shop.test", plain)}
	e := startProxy(t, cfg)
	resp, _ := probe{method: "GET", url: "http://www.shop.test/", hdr: typedNavigation}.do(t, e.client(t, clientOpts{}))
	got := setCookies(t, resp)
	if names := consentNames(got); !slices.Equal(names, builtinConsentCookies) {
		t.Fatalf("Set-Cookie names %v, want %v", names, builtinConsentCookies)
	}
	for _, name := range builtinConsentCookies {
		if sc := got[name]; sc.Secure || sc.Domain != "shop.test" || sc.HttpOnly {
			t.Errorf("%s on http: Secure=%v Domain=%q HttpOnly=%v, want not secure, shop.test, readable", name, sc.Secure, sc.Domain, sc.HttpOnly)
		}
	}
}

// A browser's session on the site: the navigation stores the cookies, its
// subresources and later pages send them back unchanged (once each), a
// first-party subresource without them gets them added, and nothing is set
// on responses that are not a first-party page load. Third-party requests
// never get them.
func TestConsentCookiesBrowserSession(t *testing.T) {
	upCA := newTestCA(t, "upstream test CA")
	web := newCMPWeb(t, upCA)
	cfg := cmpConfig(t, upCA, web, "")
	cfg.Profile = "accept-all" // so the trackers below are forwarded
	e := startProxy(t, cfg)
	c := e.client(t, clientOpts{})
	jar, err := cookiejar.New(&cookiejar.Options{PublicSuffixList: publicsuffix.List})
	if err != nil {
		t.Fatal(err)
	}
	c.Jar = jar

	resp, _ := probe{method: "GET", url: "https://www.shop.test/", hdr: typedNavigation}.do(t, c)
	first := setCookies(t, resp)
	if len(consentNames(first)) != len(builtinConsentCookies) {
		t.Fatalf("first navigation set %v", consentNames(first))
	}

	steps := []struct {
		name    string
		p       probe
		key     string
		noJar   bool
		wantSet bool // consent Set-Cookie on the response
		// wantSeen: the server sees each consent cookie once, with the
		// value of the first navigation; false: none at all.
		wantSeen bool
	}{
		{"first-party script", probe{method: "GET", url: "https://static.shop.test/app.js", hdr: firstPartyScript}, "static.shop.test/app.js", false, false, true},
		{"first-party fetch of HTML", probe{method: "GET", url: "https://shop.test/fragment.html", hdr: firstPartyFetch}, "shop.test/fragment.html", false, false, true},
		{"first-party fetch of HTML, empty jar", probe{method: "GET", url: "https://shop.test/fragment.html", hdr: firstPartyFetch}, "shop.test/fragment.html", true, false, true},
		{"navigation to JSON, empty jar", probe{method: "GET", url: "https://shop.test/data.json", hdr: typedNavigation}, "shop.test/data.json", true, false, true},
		{"second navigation", probe{method: "GET", url: "https://shop.test/", hdr: typedNavigation}, "shop.test/", false, false, true},
		{"third-party tracker", probe{method: "POST", url: "https://www.google-analytics.com/g/collect?v=2", hdr: thirdPartyBeacon}, "www.google-analytics.com/g/collect", false, false, false},
		{"third-party script", probe{method: "GET", url: "https://cdn.other.test/lib.js", hdr: thirdPartyScript}, "cdn.other.test/lib.js", false, false, false},
		{"third-party frame (HTML)", probe{method: "GET", url: "https://cdn.other.test/frame.html", hdr: thirdPartyFrame}, "cdn.other.test/frame.html", false, false, false},
		{"third-party image, no fetch metadata", probe{method: "GET", url: "https://cdn.other.test/p.gif"}, "cdn.other.test/p.gif", false, false, false},
	}
	for _, st := range steps {
		cl := c
		if st.noJar {
			cl = e.client(t, clientOpts{})
		}
		resp, _ := st.p.do(t, cl)
		if set := consentNames(setCookies(t, resp)); (len(set) > 0) != st.wantSet {
			t.Errorf("%s: consent Set-Cookie %v, want any: %v", st.name, set, st.wantSet)
		}
		seen := web.seen(t, st.key)
		if !st.wantSeen {
			if n := consentNames(seen); len(n) > 0 {
				t.Errorf("%s: the server saw consent cookies %v", st.name, n)
			}
			continue
		}
		for _, name := range builtinConsentCookies {
			if v := seen[name]; len(v) != 1 || v[0] != first[name].Value {
				t.Errorf("%s: server saw %s=%q, want once the value first set", st.name, name, v)
			}
		}
	}
}

// A choice already in the browser (OptanonConsent with other groups, after
// a click: OptanonAlertBoxClosed present) is kept unless the profile's
// consent_state says enforce: true; the formats the browser lacks are
// written either way.
func TestConsentExplicitChoice(t *testing.T) {
	upCA := newTestCA(t, "upstream test CA")
	web := newCMPWeb(t, upCA)
	cfg := cmpConfig(t, upCA, web, `
profiles:
  - name: analytics-enforced
    allow: [analytics]
    consent_state:
      formats: [onetrust, cookiebot, tcf, gpp]
      enforce: true
`)
	e := startProxy(t, cfg)
	c := e.client(t, clientOpts{})
	// The browser's own choice: accept-all, clicked in the banner.
	set, err := BuildRules(cfg)
	if err != nil {
		t.Fatal(err)
	}
	acceptAll, _ := set.Profile("accept-all")
	st, _ := consent.NewState(set, acceptAll)
	theirs, err := st.CookiesFor("shop.test", consent.OneTrust, consent.Env{Now: time.Now(), Rand: strings.NewReader(strings.Repeat("r", 64))})
	if err != nil {
		t.Fatal(err)
	}
	browser := "OptanonConsent=" + theirs[0].Value + "; OptanonAlertBoxClosed=" + theirs[1].Value + "; shopprefs=dark"

	for _, tt := range []struct {
		profile     string
		wantReplace bool
	}{{"analytics-only", false}, {"analytics-enforced", true}} {
		t.Run(tt.profile, func(t *testing.T) {
			resp, _ := probe{method: "GET", url: "https://shop.test/", hdr: typedNavigation}.do(t, c, "Cookie", browser, HeaderProfile, tt.profile)
			got := setCookies(t, resp)
			seen := web.seen(t, "shop.test/")
			if len(seen["OptanonConsent"]) != 1 || len(seen["OptanonAlertBoxClosed"]) != 1 || seen["shopprefs"][0] != "dark" {
				t.Fatalf("server saw %v, want one OptanonConsent, one OptanonAlertBoxClosed, shopprefs", seen)
			}
			groups := func(v string) string {
				q, _ := url.ParseQuery(v)
				return q.Get("groups")
			}
			if tt.wantReplace {
				if got["OptanonConsent"] == nil || got["OptanonAlertBoxClosed"] == nil {
					t.Fatalf("enforce: Set-Cookie %v, want OptanonConsent and OptanonAlertBoxClosed replaced", consentNames(got))
				}
				if g := groups(got["OptanonConsent"].Value); g != "C0001:1,C0002:1,C0003:0,C0004:0,C0005:0" {
					t.Errorf("enforced groups %q", g)
				}
				if seen["OptanonConsent"][0] != got["OptanonConsent"].Value {
					t.Errorf("server saw OptanonConsent groups %q, want the profile's", groups(seen["OptanonConsent"][0]))
				}
			} else {
				if got["OptanonConsent"] != nil || got["OptanonAlertBoxClosed"] != nil {
					t.Errorf("without enforce the browser's choice was replaced: Set-Cookie %v", consentNames(got))
				}
				if seen["OptanonConsent"][0] != theirs[0].Value || seen["OptanonAlertBoxClosed"][0] != theirs[1].Value {
					t.Errorf("server saw OptanonConsent groups %q, want the browser's %q", groups(seen["OptanonConsent"][0]), groups(theirs[0].Value))
				}
			}
			// The formats the browser lacks are written in both cases.
			for _, name := range []string{"CookieConsent", "euconsent-v2", "__gpp", "__gpp_sid"} {
				if got[name] == nil || len(seen[name]) != 1 || seen[name][0] != got[name].Value {
					t.Errorf("%s: set %v, server saw %q", name, got[name] != nil, seen[name])
				}
			}
		})
	}
}

// write_consent: false writes nothing, on the page or to the server; the
// signal checks stay on, and the admin API says so.
func TestWriteConsentOff(t *testing.T) {
	upCA := newTestCA(t, "upstream test CA")
	web := newCMPWeb(t, upCA)
	cfg := cmpConfig(t, upCA, web, "")
	cfg.WriteConsent = false
	e := startProxy(t, cfg)
	c := e.client(t, clientOpts{})
	resp, _ := probe{method: "GET", url: "https://www.shop.test/", hdr: typedNavigation}.do(t, c)
	if n := consentNames(setCookies(t, resp)); len(n) > 0 {
		t.Errorf("write_consent false: Set-Cookie %v", n)
	}
	probe{method: "GET", url: "https://static.shop.test/app.js", hdr: firstPartyScript}.do(t, c)
	for _, key := range []string{"www.shop.test/", "static.shop.test/app.js"} {
		if n := consentNames(web.seen(t, key)); len(n) > 0 {
			t.Errorf("write_consent false: %s saw %v", key, n)
		}
	}
	probe{method: "POST", url: "https://www.google-analytics.com/g/collect?v=2&gcs=G111", hdr: thirdPartyBeacon}.do(t, c)
	a := e.admin(t)
	if evs := eventsOf(t, a, "?action=signal_mismatch"); evs.Count != 1 || evs.Events[0].Signal == nil || evs.Events[0].Signal.Param != "gcs" {
		t.Errorf("signal checks with write_consent false: %+v", evs.Events)
	}
	var p ProfileJSON
	_, body := a.do(t, "GET", "/api/profiles/reject-all", nil)
	decode(t, body, &p)
	if p.ConsentState == nil || p.ConsentState.Written {
		t.Errorf("GET /api/profiles/reject-all consent_state: %s, want written: false", body)
	}
}

// The consent records survive cookie filtering, under unknown_cookies:
// strip too: the built-in names and the names a consent_state configures
// (tcf.cookie, gpp.cookie, gpp.sid_cookie; a site's only on that site), in
// requests and in responses.
func TestConsentCookiesSurviveStrip(t *testing.T) {
	upCA := newTestCA(t, "upstream test CA")
	web := newCMPWeb(t, upCA)
	cfg := cmpConfig(t, upCA, web, `
profiles:
  - name: strict-qa
    allow: []
    unknown_cookies: strip
    consent_state:
      formats: [onetrust, cookiebot, tcf, gpp]
      tcf: {cookie: qa_tc}
      gpp: {cookie: qa_gpp, sid_cookie: qa_gpp_sid}
      sites:
        shop.test:
          tcf: {cookie: shop_tc}
`)
	cfg.Profile = "strict-qa"
	// Only filtering is under test: nothing written, nothing replaced.
	cfg.WriteConsent = false
	e := startProxy(t, cfg)
	c := e.client(t, clientOpts{})
	cmp := []string{"OptanonConsent", "OptanonAlertBoxClosed", "OptanonControl", "CookieConsent", "euconsent-v2", "__gpp", "__gpp_sid", "qa_tc", "qa_gpp", "qa_gpp_sid"}
	all := append(slices.Clone(cmp), "shop_tc", "mystery", "_ga")
	var sets []string
	for _, n := range all {
		sets = append(sets, headerSetCookie, n+"=v; Path=/")
	}
	tests := []struct {
		name string
		p    probe
		key  string
		want []string // cookie names kept, both ways
	}{
		{"first-party page", probe{method: "GET", url: "https://shop.test/", hdr: typedNavigation}, "shop.test/", append(slices.Clone(cmp), "shop_tc")},
		{"third-party CDN", probe{method: "GET", url: "https://cdn.other.test/lib.js", hdr: thirdPartyScript}, "cdn.other.test/lib.js", cmp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, _ := tt.p.do(t, c, append(cookieHeader(all...), sets...)...)
			var seen, set []string
			for n := range web.seen(t, tt.key) {
				seen = append(seen, n)
			}
			for n := range setCookies(t, resp) {
				set = append(set, n)
			}
			want := slices.Sorted(slices.Values(tt.want))
			slices.Sort(seen)
			slices.Sort(set)
			if !slices.Equal(seen, want) || !slices.Equal(set, want) {
				t.Errorf("server saw %v, client got Set-Cookie %v; want %v both ways", seen, set, want)
			}
		})
	}
}

// Vendor hits whose consent signals contradict the profile are
// signal_mismatch events, exactly one per disagreement, blocked or
// forwarded; consistent hits and non-vendor requests are none. Events and
// logs name the parameter and short values only.
func TestSignalMismatchEvents(t *testing.T) {
	upCA := newTestCA(t, "upstream test CA")
	web := newCMPWeb(t, upCA)
	e := startProxy(t, cmpConfig(t, upCA, web, ""))
	c := e.client(t, clientOpts{})

	now := time.Now()
	// A TC string granting the advertising purposes and Google (755), which
	// reject-all refuses.
	overclaiming, err := consent.EncodeTC(consent.TCString{
		Version: 2, Created: now, LastUpdated: now, CmpID: 10, CmpVersion: 1, ConsentScreen: 1, ConsentLanguage: "EN",
		VendorListVersion: 100, PolicyVersion: 4, PurposesConsent: []int{1, 2, 3, 4, 7}, PurposesLITransparency: []int{2, 7},
		PublisherCC: "DE", VendorConsents: []int{91, 755}, SpecialFeatureOptIns: []int{},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The one consentproxy writes under reject-all: consistent.
	set, err := BuildRules(config.Default())
	if err != nil {
		t.Fatal(err)
	}
	rejectAll, _ := set.Profile("reject-all")
	st, _ := consent.NewState(set, rejectAll)
	consistent, err := consent.EncodeTC(st.TCString("shop.test", now))
	if err != nil {
		t.Fatal(err)
	}

	ga := "https://www.google-analytics.com/g/collect?v=2&tid=G-SHOP&cid=" + secretQuery
	ads := "https://googleads.g.doubleclick.net/pagead/ads?client=ca-pub-1&q=" + secretQuery
	hits := []struct {
		p       probe
		profile string
	}{
		{probe{method: "POST", url: ga + "&gcs=G100&gcd=13p3p3p3p1", hdr: thirdPartyBeacon}, ""},
		{probe{method: "POST", url: ga + "&gcs=G111", hdr: thirdPartyBeacon}, ""},
		{probe{method: "GET", url: ads + "&gdpr=1&gdpr_consent=" + overclaiming, hdr: thirdPartyScript}, ""},
		{probe{method: "GET", url: ads + "&gdpr=1&gdpr_consent=" + consistent + "&npa=1", hdr: thirdPartyScript}, ""},
		{probe{method: "POST", url: ga, hdr: thirdPartyBeacon}, ""},
		{probe{method: "GET", url: "https://cdn.other.test/lib.js?gcs=G111&gdpr=0", hdr: thirdPartyScript}, ""},
		// Forwarded under analytics-only (GA4 is analytics): G101 agrees.
		{probe{method: "POST", url: ga + "&gcs=G101", hdr: thirdPartyBeacon}, "analytics-only"},
		{probe{method: "POST", url: ga + "&gcs=G111", hdr: thirdPartyBeacon}, "analytics-only"},
	}
	for _, h := range hits {
		var extra []string
		if h.profile != "" {
			extra = []string{HeaderProfile, h.profile}
		}
		h.p.do(t, c, extra...)
	}
	if n := web.count("www.google-analytics.com/g/collect"); n != 2 {
		t.Errorf("%d GA4 hits reached the vendor, want the 2 under analytics-only", n)
	}

	a := e.admin(t)
	evs := eventsOf(t, a, "?action=signal_mismatch")
	type row struct {
		host, path, vendor, profile, category string
		sig                                   string
	}
	want := []row{ // newest first
		{"www.google-analytics.com", "/g/collect", "google-analytics", "analytics-only", "analytics", "gcs G111 G101 over=true blocked=false"},
		{"googleads.g.doubleclick.net", "/pagead/ads", "google", "reject-all", "advertising", "gdpr_consent consent for vendor 755 no consent for vendor 755 over=true blocked=true"},
		{"googleads.g.doubleclick.net", "/pagead/ads", "google", "reject-all", "advertising", "gdpr_consent consent to purposes 1,2,3,4,7 no consent to purposes 1,2,3,4,7 over=true blocked=true"},
		{"www.google-analytics.com", "/g/collect", "google-analytics", "reject-all", "analytics", "gcs G111 G100 over=true blocked=true"},
	}
	var got []row
	for _, ev := range evs.Events {
		if ev.Action != "signal_mismatch" || ev.Signal == nil {
			t.Fatalf("event %+v", ev)
		}
		s := ev.Signal
		got = append(got, row{ev.Host, ev.Path, ev.Vendor, ev.Profile, ev.Category,
			s.Param + " " + s.Claimed + " " + s.Expected + " over=" + boolText(s.Overclaim) + " blocked=" + boolText(s.Blocked)})
		if ev.Scheme != "https" || ev.Service == "" || ev.Origin == "" || !strings.Contains(ev.Reason, s.Param) || len(ev.Cookies) != 0 {
			t.Errorf("event fields: %+v", ev)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("signal_mismatch events:\n got %q\nwant %q", got, want)
	}

	_, metrics := a.do(t, "GET", "/metrics", nil)
	m := metricValues(t, string(metrics))
	for param, n := range map[string]float64{"gcs": 2, "gdpr_consent": 2, "gcd": 0, "gdpr": 0, "npa": 0, "gpp": 0, "gpp_sid": 0} {
		if got := m[`consentproxy_signal_mismatches_total{param="`+param+`"}`]; got != n {
			t.Errorf("signal_mismatches_total{param=%q} = %v, want %v", param, got, n)
		}
	}
	var logged int
	for _, en := range e.logs.All() {
		if en.Message == msgSignalMismatch {
			logged++
			if f := en.ContextMap(); f["param"] == nil || f["host"] == nil || f["vendor"] == nil || f["blocked"] == nil {
				t.Errorf("log entry fields %v", f)
			}
		}
	}
	if logged != len(want) {
		t.Errorf("%d %q log entries, want %d", logged, msgSignalMismatch, len(want))
	}
	_, all := a.do(t, "GET", "/api/events?limit=10000", nil)
	for what, text := range map[string]string{"events": string(all), "logs": e.logText()} {
		for _, secret := range []string{overclaiming[:30], consistent[:30], secretQuery, "ca-pub-1", "G-SHOP", "13p3p3p3p1"} {
			if strings.Contains(text, secret) {
				t.Errorf("%s contain %q", what, secret)
			}
		}
	}
}

func boolText(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// GET /api/profiles shows each profile's consent_state with its defaults
// applied, and its per-site settings.
func TestProfilesShowConsentState(t *testing.T) {
	upCA := newTestCA(t, "upstream test CA")
	web := newCMPWeb(t, upCA)
	e := startProxy(t, cmpConfig(t, upCA, web, `
profiles:
  - name: qa
    allow: [analytics]
    consent_state:
      formats: [onetrust, tcf]
      enforce: true
      tcf: {cmp_id: 28}
      sites:
        shop.test:
          onetrust: {groups: {analytics: C0007}}
          tcf: {cookie: shop_tc}
        other.test:
          formats: []
  - name: plain
    allow: []
`))
	a := e.admin(t)
	var list struct{ Profiles []ProfileJSON }
	_, body := a.do(t, "GET", "/api/profiles", nil)
	decode(t, body, &list)
	byName := map[string]ProfileJSON{}
	for _, p := range list.Profiles {
		byName[p.Name] = p
	}
	qa := byName["qa"].ConsentState
	if qa == nil {
		t.Fatalf("qa has no consent_state: %s", body)
	}
	if !slices.Equal(qa.Formats, []consent.Format{consent.OneTrust, consent.TCF}) || !qa.Enforce || qa.TCF.CmpID != 28 ||
		qa.TCF.Cookie != "euconsent-v2" || qa.OneTrust.Groups[rules.Analytics] != "C0002" || !qa.Written || qa.Origin != "config:6" {
		t.Errorf("qa consent_state %+v", *qa)
	}
	shop, other := qa.Sites["shop.test"], qa.Sites["other.test"]
	if len(qa.Sites) != 2 || shop.OneTrust.Groups[rules.Analytics] != "C0007" || shop.TCF.Cookie != "shop_tc" || shop.TCF.CmpID != 28 ||
		!shop.Enforce || other.Formats == nil || len(other.Formats) != 0 {
		t.Errorf("qa sites %+v", qa.Sites)
	}
	if byName["plain"].ConsentState != nil || byName["reject-all"].ConsentState == nil || len(byName["reject-all"].ConsentState.Formats) != 4 {
		t.Errorf("plain %+v, reject-all %+v", byName["plain"].ConsentState, byName["reject-all"].ConsentState)
	}
	// The JSON itself: null for a profile without consent_state, the
	// settings inline.
	var raw struct{ Profiles []map[string]any }
	decode(t, body, &raw)
	for _, p := range raw.Profiles {
		cs, present := p["consent_state"]
		switch p["name"] {
		case "plain":
			if !present || cs != nil {
				t.Errorf("plain: consent_state %v (present %v), want null", cs, present)
			}
		case "qa":
			m, _ := cs.(map[string]any)
			if fmt.Sprint(m["formats"]) != "[onetrust tcf]" || m["enforce"] != true || m["sites"] == nil || m["written"] != true {
				t.Errorf("qa: consent_state JSON %v", cs)
			}
		}
	}
}

// write_consent applies on reload, without a restart.
func TestWriteConsentReload(t *testing.T) {
	upCA := newTestCA(t, "upstream test CA")
	web := newCMPWeb(t, upCA)
	cfg := cmpConfig(t, upCA, web, "")
	next := cfg
	next.WriteConsent = false
	e := startProxy(t, cfg, WithReload(func() (config.Config, error) { return next, nil }))
	c := e.client(t, clientOpts{})
	nav := probe{method: "GET", url: "https://shop.test/", hdr: typedNavigation}
	if resp, _ := nav.do(t, c); len(consentNames(setCookies(t, resp))) == 0 {
		t.Fatal("nothing written before the reload")
	}
	rep, err := e.srv.Reload()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.RestartRequired {
		if r.Key == "write_consent" {
			t.Errorf("reload says write_consent needs a restart")
		}
	}
	if resp, _ := nav.do(t, c); len(consentNames(setCookies(t, resp))) != 0 {
		t.Error("consent cookies written after a reload turned write_consent off")
	}
}
