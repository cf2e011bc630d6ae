package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// The built-in profiles as SPEC §3 defines them.
var (
	rejectAll     = consent{profile: "reject-all"}
	analyticsOnly = consent{profile: "analytics-only", allow: []string{"analytics"}}
	acceptAll     = consent{profile: "accept-all", allow: allCategories}
)

// TestBuiltinProfiles: each built-in profile, a first and a returning
// visit in a fresh browser, checked from the servers', the jar's and the
// page's side, and in the proxy's event log.
func TestBuiltinProfiles(t *testing.T) {
	need(t)
	for _, c := range []consent{rejectAll, analyticsOnly, acceptAll} {
		t.Run(c.profile, func(t *testing.T) {
			w := newWeb(t)
			p := startProxy(t, w, "--profile", c.profile)
			b := startBrowser(t, p.proxyURL(), browserOptions{})
			checkVisit(t, b, w, c)
			checkEvents(t, p, c, "default")
		})
	}
}

// TestRuntimeSwitch: PUT /api/profile between two loads of the same tab
// takes effect at once, on the connections Chromium keeps alive, in both
// directions.
func TestRuntimeSwitch(t *testing.T) {
	need(t)
	w := newWeb(t)
	p := startProxy(t, w, "--profile", "reject-all")
	b := startBrowser(t, p.proxyURL(), browserOptions{})
	v := newShopVisit(t, b, w)

	v.load("before the switch", rejectAll)
	for _, step := range []struct {
		to consent
	}{{acceptAll}, {rejectAll}, {analyticsOnly}} {
		var got struct {
			Name string `json:"name"`
		}
		if st := p.adminDo(t, "PUT", "/api/profile", map[string]string{"name": step.to.profile}, &got); st != 200 || got.Name != step.to.profile {
			t.Fatalf("PUT /api/profile %s = %d %+v", step.to.profile, st, got)
		}
		l := v.load("after switching to "+step.to.profile, step.to)
		// The point of the scenario: the shop's document came over a
		// connection (a tunnel) opened before the switch.
		if len(l.requests) == 0 || l.requests[0].URL != shopURL || !l.requests[0].Reused {
			t.Errorf("after switching to %s the document did not reuse a kept-alive connection, so this test proved less than it says: %+v", step.to.profile, l.requests[:1])
		}
	}
	if st := p.adminDo(t, "PUT", "/api/profile", map[string]string{"name": "no-such-profile"}, nil); st != 404 {
		t.Errorf("PUT an unknown profile = %d, want 404", st)
	}
	v.load("after a refused switch", analyticsOnly)
}

// TestProxyCredentialsPerClient: on a listener that asks for proxy
// credentials, each browser's username picks its profile. Chromium's 407
// challenge is answered through CDP (Fetch.authRequired), as Playwright
// does with its proxy username and password.
func TestProxyCredentialsPerClient(t *testing.T) {
	need(t)
	w := newWeb(t)
	// The default is neither client's profile, so a client that fell back
	// to it would fail its checks.
	p := startProxy(t, w, "--profile", "analytics-only", "--proxy-auth", "--proxy-password", "e2e-secret")
	for _, c := range []consent{rejectAll, acceptAll} {
		t.Run(c.profile, func(t *testing.T) {
			w.reset()
			b := startBrowser(t, p.proxyURL(), browserOptions{credentials: &fetch.AuthChallengeResponse{
				Response: fetch.AuthChallengeResponseResponseProvideCredentials,
				Username: c.profile, Password: "e2e-secret",
			}})
			checkVisit(t, b, w, c)
			if b.proxyAuths() == 0 {
				t.Errorf("Chromium never met a 407: the listener did not ask for credentials")
			}
			checkEvents(t, p, c, "credentials")
		})
	}
	t.Run("wrong password", func(t *testing.T) {
		w.reset()
		b := startBrowser(t, p.proxyURL(), browserOptions{credentials: &fetch.AuthChallengeResponse{
			Response: fetch.AuthChallengeResponseResponseProvideCredentials,
			Username: "accept-all", Password: "wrong",
		}})
		ctx, cancel := contextWithTimeout(b)
		defer cancel()
		err := chromedp.Do(ctx, chromedp.Navigate(shopURL))
		// Chromium retries the same credentials a few times, then gives
		// up (net::ERR_TOO_MANY_RETRIES with Chromium 148).
		if err == nil || !strings.Contains(err.Error(), "ERR_") {
			t.Errorf("navigation with a wrong proxy password: %v, want a network error", err)
		}
		if up := w.requests(); len(up) > 0 {
			t.Errorf("with a wrong proxy password, %d requests reached the servers: %v", len(up), up)
		}
	})
}

// strictConfig defines two profiles in a config file: strict (nothing but
// essential, unknown cookies stripped, GPC and DNT sent) as the default,
// and strip-trackers (analytics allowed; refused trackers forwarded
// without cookies instead of blocked), and an extra listener whose profile
// is accept-all.
const strictConfig = `profile: strict
profiles:
  - name: strict
    description: Essential only; unknown cookies stripped too
    allow: []
    unknown_cookies: strip
    gpc: true
    dnt: true
  - name: strip-trackers
    description: Analytics allowed; other trackers reach their servers without cookies
    allow: [analytics]
    on_denied: strip
listeners:
  - listen: 127.0.0.1:0
    profile: accept-all
`

var (
	strict        = consent{profile: "strict", stripUnknown: true, gpc: true, dnt: true}
	stripTrackers = consent{profile: "strip-trackers", allow: []string{"analytics"}, onDeniedStrip: true}
)

// TestStrictCustomProfile: a profile from the config file with
// unknown_cookies: strip and consent signals, as the default.
func TestStrictCustomProfile(t *testing.T) {
	need(t)
	w := newWeb(t)
	p := startProxy(t, w, "--config", writeConfig(t, strictConfig))
	b := startBrowser(t, p.proxyURL(), browserOptions{})
	checkVisit(t, b, w, strict)
	checkEvents(t, p, strict, "default")
}

// TestProfileHeader: X-Consent-Profile on every request (what Playwright's
// extraHTTPHeaders and Selenium's CDP both do) picks the profile, and
// never reaches a server.
func TestProfileHeader(t *testing.T) {
	need(t)
	w := newWeb(t)
	p := startProxy(t, w, "--config", writeConfig(t, strictConfig))
	b := startBrowser(t, p.proxyURL(), browserOptions{})
	if _, err := chromedp.Call(b.ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
		Headers: network.Headers{"X-Consent-Profile": stripTrackers.profile},
	}); err != nil {
		t.Fatal(err)
	}
	checkVisit(t, b, w, stripTrackers)
	checkEvents(t, p, stripTrackers, "header")
}

// TestListenerProfile: a browser on the extra listener gets its profile
// (the way to give Selenium drivers their own profile).
func TestListenerProfile(t *testing.T) {
	need(t)
	w := newWeb(t)
	p := startProxy(t, w, "--config", writeConfig(t, strictConfig))
	if len(p.listeners) != 1 {
		t.Fatalf("proxy listeners = %v, want the one of the config", p.listeners)
	}
	b := startBrowser(t, "http://"+p.listeners[0], browserOptions{})
	checkVisit(t, b, w, acceptAll)
}

// checkEvents reads the proxy's event log (GET /api/events) after a visit
// under c: every refused tracker request is there, with its host, its
// path without the query string, the profile and how it was chosen; and
// no event holds a cookie value or a query string.
func checkEvents(t *testing.T, p *proxyProc, c consent, source string) {
	t.Helper()
	var raw json.RawMessage
	if st := p.adminDo(t, "GET", "/api/events?limit=1000", nil, &raw); st != 200 {
		t.Fatalf("GET /api/events = %d", st)
	}
	var got struct {
		Events []struct {
			Profile       string `json:"profile"`
			ProfileSource string `json:"profile_source"`
			Host          string `json:"host"`
			Path          string `json:"path"`
			Action        string `json:"action"`
			Category      string `json:"category"`
			Cookies       []struct {
				Name      string `json:"name"`
				Direction string `json:"direction"`
			} `json:"cookies"`
		} `json:"events"`
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	for _, tr := range trackers {
		if c.allows(tr.category) {
			continue
		}
		want := "block-empty"
		switch {
		case c.onDeniedStrip:
			want = "strip"
		case tr.kind == "pixel":
			want = "block-image"
		}
		found := false
		for _, e := range got.Events {
			if e.Host == tr.host && e.Path == tr.path && e.Action == want {
				found = true
				if e.Profile != c.profile || e.ProfileSource != source || e.Category != tr.category {
					t.Errorf("event for %s%s: profile %s (%s), category %s; want %s (%s), %s", tr.host, tr.path, e.Profile, e.ProfileSource, e.Category, c.profile, source, tr.category)
				}
			}
		}
		if !found {
			t.Errorf("no %s event for %s%s (profile %s)", want, tr.host, tr.path, c.profile)
		}
	}
	// First-party cookies the profile refuses: their stripping is an event
	// too, naming the cookie, never its value.
	for _, fc := range firstPartyCookies {
		if c.keepsCookie(fc.category) {
			continue
		}
		found := false
		for _, e := range got.Events {
			for _, ck := range e.Cookies {
				if e.Host == shopHost && e.Action == "cookies-stripped" && ck.Name == fc.name {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("no cookies-stripped event names %s on %s (profile %s)", fc.name, shopHost, c.profile)
		}
	}
	secrets := []string{"?", "ev=PageView", "G-E2ETEST1", serverGA, jsGA, "8F2A61C0", "0xAbC.1", "AHWqTUk", "2F8E1D3C", "fb.1.1700000000000", "e2e-secret"}
	for _, s := range secrets {
		if strings.Contains(string(raw), s) {
			t.Errorf("the event log holds %q (a query string, a cookie value or a password)", s)
		}
	}
	if t.Failed() {
		t.Logf("events: %s", truncate(string(raw), 4000))
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + fmt.Sprintf("... (%d more bytes)", len(s)-n)
}
