package proxy

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/consentproxy/consentproxy/proxy/events"
)

// The admin API refuses what a web page could send: cross-origin writes,
// writes that are not JSON, requests without the token when one is set,
// and anything arriving through the proxy port.
func TestAdminAPISecurity(t *testing.T) {
	cfg := testConfig(t, nil)
	cfg.AdminToken = "tok"
	e := startProxy(t, cfg)
	a := e.admin(t)
	a.token = "tok"
	put := map[string]string{"name": "accept-all"}
	tests := []struct {
		name       string
		method     string
		path       string
		body       any
		hdr        []string
		noToken    bool
		wantStatus int
	}{
		{"cross-origin write", "PUT", "/api/profile", put, []string{"Origin", "https://evil.example"}, false, 403},
		{"cross-site fetch", "PUT", "/api/profile", put, []string{"Sec-Fetch-Site", "cross-site"}, false, 403},
		{"form-encoded write", "PUT", "/api/profile", put, []string{"Content-Type", "application/x-www-form-urlencoded"}, false, 415},
		{"text/plain write", "PUT", "/api/profile", put, []string{"Content-Type", "text/plain"}, false, 415},
		{"text/plain reload", "POST", "/api/reload", nil, []string{"Content-Type", "text/plain"}, false, 415},
		{"no token", "PUT", "/api/profile", put, nil, true, 401},
		{"no token, read", "GET", "/api/profiles", nil, nil, true, 401},
		{"no token, events", "GET", "/api/events", nil, nil, true, 401},
		{"no token, metrics", "GET", "/metrics", nil, nil, true, 401},
		{"no token, reload", "POST", "/api/reload", nil, nil, true, 401},
		{"healthz needs no token", "GET", "/healthz", nil, nil, true, 200},
		{"ca.pem needs no token", "GET", "/ca.pem", nil, nil, true, 200},
		{"DNS rebinding", "GET", "/api/profiles", nil, []string{"Host", "evil.example:8081"}, false, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := *a
			if tt.noToken {
				c.token = ""
			}
			var status int
			var body []byte
			if len(tt.hdr) == 2 && tt.hdr[0] == "Host" {
				req, _ := http.NewRequest(tt.method, c.base+tt.path, nil)
				req.Host = tt.hdr[1]
				req.Header.Set("Authorization", "Bearer tok")
				resp, err := c.c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				status = resp.StatusCode
			} else {
				status, body = c.do(t, tt.method, tt.path, tt.body, tt.hdr...)
			}
			if status != tt.wantStatus {
				t.Fatalf("got %d %s, want %d", status, body, tt.wantStatus)
			}
			if got := e.srv.ActiveProfile(); got != "reject-all" {
				t.Fatalf("the active profile changed to %q", got)
			}
		})
	}

	// Through the proxy port, the admin API is unreachable, whatever the
	// spelling of its address.
	port := e.srv.AdminAddr().(interface{ String() string }).String()
	_, p, _ := strings.Cut(port, ":")
	for _, host := range []string{"127.0.0.1:" + p, "localhost:" + p} {
		resp, body := rawProxy(t, e.srv.Addr(), "PUT", "http://"+host+"/api/profile",
			"Content-Type", "application/json", "Authorization", "Bearer tok", "Content-Length", "0")
		if resp.StatusCode != http.StatusLoopDetected {
			t.Errorf("PUT via the proxy to %s: %d %q, want 508", host, resp.StatusCode, body)
		}
	}
	if got := e.srv.ActiveProfile(); got != "reject-all" {
		t.Fatalf("the active profile changed to %q through the proxy", got)
	}
}

// PUT /api/profile validates its body strictly and answers 404 for a
// profile that does not exist.
func TestAdminProfileEndpoints(t *testing.T) {
	cfg := testConfig(t, nil)
	cfg.Profiles = testProfiles()
	e := startProxy(t, cfg)
	a := e.admin(t)

	bad := []struct {
		name string
		body string
		want int
	}{
		{"unknown profile", `{"name": "nope"}`, 404},
		{"missing name", `{}`, 400},
		{"empty name", `{"name": ""}`, 400},
		{"unknown field", `{"name": "accept-all", "force": true}`, 400},
		{"not JSON", `name=accept-all`, 400},
		{"two values", `{"name": "accept-all"} {"name": "reject-all"}`, 400},
		{"empty body", ``, 400},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("PUT", a.base+"/api/profile", strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/json")
			resp, err := a.c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var out map[string]string
			decodeBody(t, resp, &out)
			if resp.StatusCode != tt.want || out["error"] == "" {
				t.Fatalf("got %d %v, want %d with an error", resp.StatusCode, out, tt.want)
			}
			if tt.want == 404 && !strings.Contains(out["error"], "profiles: accept-all, analytics-only, fb-only") {
				t.Errorf("404 does not list the profiles: %q", out["error"])
			}
		})
	}

	status, body := a.do(t, "PUT", "/api/profile", map[string]string{"name": "strict"})
	var put activeJSON
	decode(t, body, &put)
	if status != 200 || put.Name != "strict" || put.Previous != "reject-all" || put.SelectedBy != "api" ||
		put.Profile.UnknownCookies != "strip" || !put.Profile.Active {
		t.Fatalf("PUT strict: %d %s", status, body)
	}
	var list struct {
		Active       string        `json:"active"`
		ActiveSource string        `json:"active_source"`
		Profiles     []ProfileJSON `json:"profiles"`
	}
	_, body = a.do(t, "GET", "/api/profiles", nil)
	decode(t, body, &list)
	names := []string{}
	active := 0
	for _, p := range list.Profiles {
		names = append(names, p.Name)
		if p.Active {
			active++
		}
	}
	if list.Active != "strict" || list.ActiveSource != "api" || active != 1 ||
		strings.Join(names, ",") != "accept-all,analytics-only,fb-only,reject-all,signals,strict,strip-all" {
		t.Errorf("GET /api/profiles: %s", body)
	}
	status, body = a.do(t, "GET", "/api/profiles/fb-only", nil)
	var fb ProfileJSON
	decode(t, body, &fb)
	if status != 200 || fb.Vendors["facebook"] != "allow" || fb.Vendors["google-analytics"] != "deny" ||
		strings.Join(fb.Allow, ",") != "essential,analytics" || fb.OnDenied != "block" || fb.Origin != "config" {
		t.Errorf("GET /api/profiles/fb-only: %d %s", status, body)
	}
	status, body = a.do(t, "GET", "/api/profiles/reject-all", nil)
	var rj ProfileJSON
	decode(t, body, &rj)
	if status != 200 || !strings.HasPrefix(rj.Origin, "builtin/profiles.yaml:") || strings.Join(rj.Allow, ",") != "essential" {
		t.Errorf("GET /api/profiles/reject-all: %d %s", status, body)
	}
	if status, _ := a.do(t, "GET", "/api/profiles/nope", nil); status != 404 {
		t.Errorf("GET /api/profiles/nope: %d, want 404", status)
	}
}

// eventsOf fetches /api/events with a query.
func eventsOf(t *testing.T, a *adminClient, query string) EventsJSON {
	t.Helper()
	status, body := a.do(t, "GET", "/api/events"+query, nil)
	if status != 200 {
		t.Fatalf("GET /api/events%s: %d %s", query, status, body)
	}
	var out EventsJSON
	decode(t, body, &out)
	return out
}

type cookieSummary struct{ name, dir, category string }

func summarize(cs []events.Cookie) []cookieSummary {
	out := []cookieSummary{}
	for _, c := range cs {
		out = append(out, cookieSummary{c.Name, string(c.Direction), c.Category})
	}
	return out
}

// /api/events lists what was blocked and stripped and why, newest first,
// with the SPEC §4 fields, and filters by host, action, category and
// profile.
func TestEventsAPI(t *testing.T) {
	upCA := newTestCA(t, "upstream test CA")
	web := newFakeWeb(t, upCA)
	e := startProxy(t, webConfig(t, upCA, web))
	c := e.client(t, clientOpts{})
	for _, p := range requestSet() {
		p.do(t, c)
	}
	// An allowed request without refused cookies is not an event.
	requestSet()[4].do(t, c, HeaderProfile, "accept-all")
	a := e.admin(t)

	all := eventsOf(t, a, "")
	type row struct {
		action, host, path, category, vendor, service, dest, context string
		status                                                       int
		cookies                                                      []cookieSummary
	}
	want := []row{
		{"cookies-stripped", "shop.test", "/", "", "", "", "document", "top-level", 200,
			[]cookieSummary{{"_ga", "request", "analytics"}, {"_ga", "response", "analytics"}}},
		{"cookies-stripped", "www.facebook.com", "/", "social", "facebook", "facebook", "document", "top-level", 200,
			[]cookieSummary{{"fr", "request", "marketing"}, {"_fbp", "request", "marketing"}, {"fr", "response", "marketing"}}},
		{"block-empty", "www.google-analytics.com", "/g/collect", "analytics", "google-analytics", "ga4-collect", "empty", "third-party", 204,
			[]cookieSummary{{"_ga", "request", "analytics"}, {"_gid", "request", "analytics"}}},
		{"block-empty", "www.googletagmanager.com", "/gtag/js", "analytics", "google-analytics", "gtag", "script", "third-party", 204,
			[]cookieSummary{{"_ga", "request", "analytics"}, {"_gid", "request", "analytics"}, {"_gcl_au", "request", "advertising"}}},
		{"block-image", "www.facebook.com", "/tr", "marketing", "facebook", "pixel", "image", "third-party", 200,
			[]cookieSummary{{"fr", "request", "marketing"}, {"_fbp", "request", "marketing"}}},
	}
	if all.Count != len(want) || all.Total != uint64(len(want)) || all.RingSize != 2000 {
		t.Fatalf("count %d total %d ring %d, want %d events", all.Count, all.Total, all.RingSize, len(want))
	}
	for i, w := range want {
		ev := all.Events[i]
		got := row{string(ev.Action), ev.Host, ev.Path, ev.Category, ev.Vendor, ev.Service, ev.Dest, ev.Context, ev.Status, summarize(ev.Cookies)}
		if fmt.Sprint(got) != fmt.Sprint(w) {
			t.Errorf("event %d:\n got %+v\nwant %+v", i, got, w)
		}
		if ev.Profile != "reject-all" || ev.ProfileSource != "default" || ev.Method == "" || ev.Scheme != "https" ||
			!strings.HasPrefix(ev.Client, "127.0.0.1:") || ev.Listener != e.proxyURL.Host || ev.Time.IsZero() || ev.Reason == "" {
			t.Errorf("event %d: %+v", i, ev)
		}
		if ev.Category != "" && !strings.HasPrefix(ev.Origin, "builtin/") {
			t.Errorf("event %d: rule origin %q", i, ev.Origin)
		}
		if i > 0 && ev.ID >= all.Events[i-1].ID {
			t.Errorf("events not newest first: %d after %d", ev.ID, all.Events[i-1].ID)
		}
	}

	filters := []struct {
		query string
		want  []string // hosts+paths, newest first
	}{
		{"?action=block-image", []string{"www.facebook.com/tr"}},
		{"?host=facebook.com", []string{"www.facebook.com/", "www.facebook.com/tr"}},
		{"?host=WWW.Facebook.com.", []string{"www.facebook.com/", "www.facebook.com/tr"}},
		{"?host=book.com", nil},
		{"?category=analytics", []string{"shop.test/", "www.google-analytics.com/g/collect", "www.googletagmanager.com/gtag/js"}},
		{"?category=advertising", []string{"www.googletagmanager.com/gtag/js"}},
		{"?profile=reject-all&action=block-empty", []string{"www.google-analytics.com/g/collect", "www.googletagmanager.com/gtag/js"}},
		{"?profile=accept-all", nil},
		{"?limit=2", []string{"shop.test/", "www.facebook.com/"}},
		{"?limit=99999&action=cookies-stripped", []string{"shop.test/", "www.facebook.com/"}},
	}
	for _, f := range filters {
		got := eventsOf(t, a, f.query)
		var keys []string
		for _, ev := range got.Events {
			keys = append(keys, ev.Host+ev.Path)
		}
		if strings.Join(keys, " ") != strings.Join(f.want, " ") || got.Count != len(f.want) {
			t.Errorf("%s: got %v, want %v", f.query, keys, f.want)
		}
	}
	for _, q := range []string{"?limit=0", "?limit=x", "?limit=-1", "?action=blocked", "?hots=x"} {
		if status, body := a.do(t, "GET", "/api/events"+q, nil); status != 400 {
			t.Errorf("GET /api/events%s: %d %s, want 400", q, status, body)
		}
	}
}

// A run with distinctive cookie values, query strings and a proxy password
// never shows them in events, logs (at debug level) or metrics.
func TestNoSecretsRecorded(t *testing.T) {
	upCA := newTestCA(t, "upstream test CA")
	web := newFakeWeb(t, upCA)
	plain := newPlainRecorder(t)
	cfg := webConfig(t, upCA, web)
	cfg.Resolve = append(cfg.Resolve, resolveTo("plain.test", plain.srv))
	cfg.Profiles = testProfiles()
	cfg.ProxyAuth = true
	const password = "SECRETPASS789"
	cfg.ProxyPassword = password
	e := startProxy(t, cfg)
	for _, profile := range []string{"reject-all", "analytics-only", "accept-all", "strip-all", "strict", "fb-only"} {
		c := e.client(t, clientOpts{proxy: proxyAt(e.srv.Addr(), profile, password)})
		for _, p := range requestSet() {
			p.do(t, c)
		}
		// Plain HTTP, with the credentials on every request.
		plainProbe := probe{method: "GET", url: "http://plain.test/p?q=" + secretQuery, hdr: with(thirdPartyImage, cookieHeader("_ga", "shopprefs")...)}
		plainProbe.do(t, c)
	}
	// Failed credentials are logged too: not their value.
	rawProxy(t, e.srv.Addr(), "GET", "http://plain.test/?q="+secretQuery, "Proxy-Authorization", basic("reject-all", "WRONG"+password))

	a := e.admin(t)
	_, evs := a.do(t, "GET", "/api/events?limit=10000", nil)
	_, metrics := a.do(t, "GET", "/metrics", nil)
	logs := e.logText()
	if !strings.Contains(string(evs), "cookies-stripped") || !strings.Contains(logs, "request blocked") {
		t.Fatalf("the run recorded nothing; the test proves nothing")
	}
	for what, text := range map[string]string{"events": string(evs), "logs": logs, "metrics": string(metrics)} {
		for _, secret := range []string{secretValue, secretQuery, password, "GA1.2", basic("reject-all", password)[6:]} {
			if strings.Contains(text, secret) {
				t.Errorf("%s contain %q", what, secret)
			}
		}
	}
}

// metricValues reads the Prometheus text format into series → value.
func metricValues(t *testing.T, text string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// /metrics counts requests by action and category, stripped cookies by
// direction and category, cache hits and misses, upstream errors and
// latency, with labels that never carry hosts, paths or cookies.
func TestMetrics(t *testing.T) {
	upCA := newTestCA(t, "upstream test CA")
	web := newFakeWeb(t, upCA)
	cfg := webConfig(t, upCA, web)
	cfg.Resolve = append(cfg.Resolve, "dead.test=127.0.0.1:1")
	e := startProxy(t, cfg)
	c := e.client(t, clientOpts{})
	for range 2 {
		for _, p := range requestSet() {
			p.do(t, c)
		}
	}
	if status, _, _ := get(t, c, "https://dead.test/"); status != 502 {
		t.Fatalf("dead upstream: %d", status)
	}
	_, body := e.admin(t).do(t, "GET", "/metrics", nil)
	m := metricValues(t, string(body))
	want := map[string]float64{
		`consentproxy_requests_total{action="block-image",category="marketing"}`:          2,
		`consentproxy_requests_total{action="block-empty",category="analytics"}`:          4,
		`consentproxy_requests_total{action="allow",category="social"}`:                   2,
		`consentproxy_requests_total{action="allow",category="none"}`:                     3, // the page twice, dead.test
		`consentproxy_cookies_stripped_total{category="analytics",direction="request"}`:   2 * (1 + 2 + 2),
		`consentproxy_cookies_stripped_total{category="analytics",direction="response"}`:  2,
		`consentproxy_cookies_stripped_total{category="marketing",direction="response"}`:  2,
		`consentproxy_cookies_stripped_total{category="advertising",direction="request"}`: 2,
		`consentproxy_upstream_errors_total{reason="connect"}`:                            1,
		`consentproxy_request_duration_seconds_count{action="block-image"}`:               2,
		`consentproxy_decision_cache_misses_total`:                                        6, // the five, then dead.test
		`consentproxy_decision_cache_hits_total`:                                          5,
		`consentproxy_events_total`:                                                       10,
		`consentproxy_enforcement_failures_total{stage="request"}`:                        0,
	}
	for series, v := range want {
		if got, ok := m[series]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", series, got, ok, v)
		}
	}
	if m[`consentproxy_cert_cache_misses_total`] < 1 {
		t.Errorf("cert cache misses %v, want at least 1", m[`consentproxy_cert_cache_misses_total`])
	}
	for series := range m {
		for _, bad := range []string{"facebook", "shop.test", "/tr", "_ga\"", "reject-all"} {
			if strings.Contains(series, bad) {
				t.Errorf("series %s carries %q", series, bad)
			}
		}
	}
}
