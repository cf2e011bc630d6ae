package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"

	rulesconsent "github.com/consentproxy/consentproxy/rules/consent"
)

// The consent state seen from the site's side (issue 8): a first-party
// page whose consent platform reads OptanonConsent, else euconsent-v2,
// from document.cookie, shows its banner without a choice and loads each
// tag only for a granted group. Its behaviour must follow the profile.

// cmpState is window.__e2e of the fake CMP page
// (testdata/web/www.news.example/index.html).
type cmpState struct {
	Banner  string            `json:"banner"`
	Source  string            `json:"source"`
	Consent string            `json:"consent"`
	Tags    map[string]string `json:"tags"`
	GCS     *string           `json:"gcs"`
	Done    bool              `json:"done"`
}

// The CMP page's tags (testdata/web/www.news.example/index.html).
const (
	analyticsTag   = "https://www.googletagmanager.com/gtag/js"
	advertisingTag = "https://securepubads.g.doubleclick.net/tag/js/gpt.js"
)

// cmpConfig: the built-in analytics-only as the default; a listener for
// reject-all, and one for a config profile that writes the TC string
// alone and replaces any other choice the browser holds.
const cmpConfig = `profile: analytics-only
profiles:
  - name: analytics-tcf-enforced
    description: Analytics only; the TC string alone, replacing another choice
    allow: [analytics]
    consent_state:
      formats: [tcf]
      enforce: true
listeners:
  - listen: 127.0.0.1:0
    profile: reject-all
  - listen: 127.0.0.1:0
    profile: analytics-tcf-enforced
`

// tcfEnforced is analytics-tcf-enforced of cmpConfig.
var tcfEnforced = consent{profile: "analytics-tcf-enforced", allow: []string{"analytics"}, writes: true, enforce: true, formats: []string{"tcf"}}

// cmpWant is what a load of the CMP page must show.
type cmpWant struct {
	banner, source, consent string
	// gcs is the analytics tag's hit's gcs, "" when the tag must not load.
	gcs string
	// upstream are the third-party requests that reach their servers, as
	// host+path; every other tag request is blocked or never made.
	upstream []string
	// sent are the consent cookies the page's own requests carry.
	sent []string
}

// TestCMPPage: the fake CMP page under the built-in profiles, with an
// explicit choice already in the browser (kept, and replaced under
// enforce: true), and with write_consent off.
func TestCMPPage(t *testing.T) {
	need(t)
	w := newWeb(t)
	p := startProxy(t, w, "--config", writeConfig(t, cmpConfig))
	if len(p.listeners) != 2 {
		t.Fatalf("proxy listeners = %v, want the two of the config", p.listeners)
	}
	all := consentCookieNames()

	t.Run("analytics-only", func(t *testing.T) {
		b := startBrowser(t, p.proxyURL(), browserOptions{})
		since := lastEventID(t, p)
		up := loadCMP(t, b, w, newsURL, cmpWant{
			banner: "hidden", source: "onetrust", consent: "analytics", gcs: "G101",
			upstream: []string{"www.googletagmanager.com/gtag/js", "www.google-analytics.com/g/collect"},
			sent:     all,
		})
		want := analyticsOnly.consentAfter(nil)
		checkConsentJar(t, "analytics-only", b.cookies(), newsSite, want)
		// The navigation itself carried the choice, so the site's server
		// renders with it.
		checkServerConsent(t, "analytics-only", up, want)
		// G101 is what analytics-only implies: no signal_mismatch.
		if evs := signalEvents(t, p, since); len(evs) != 0 {
			t.Errorf("a consistent hit (gcs=G101 under analytics-only) produced signal_mismatch events: %+v", evs)
		}
	})

	t.Run("reject-all", func(t *testing.T) {
		b := startBrowser(t, "http://"+p.listeners[0], browserOptions{})
		since := lastEventID(t, p)
		up := loadCMP(t, b, w, newsURL, cmpWant{banner: "hidden", source: "onetrust", consent: "", sent: all})
		want := rejectAll.consentAfter(nil)
		checkConsentJar(t, "reject-all", b.cookies(), newsSite, want)
		checkServerConsent(t, "reject-all", up, want)

		// A page whose tags claim consent regardless (G111) next to one
		// wired correctly (G100): both hits are blocked, one disagrees.
		w.reset()
		var hits struct {
			Hits []string `json:"hits"`
		}
		requests, messages := b.navigate(newsURL+"hits.html?gcs=G111&gcs=G100", &hits)
		checkNoBrowserErrors(t, "hits page", pageLoad{requests: requests, messages: messages})
		if !slices.Equal(hits.Hits, []string{"G111", "G100"}) {
			t.Errorf("hits page sent %v, want [G111 G100]", hits.Hits)
		}
		if got := find(w.requests(), "www.google-analytics.com", "/g/collect"); len(got) > 0 {
			t.Errorf("reject-all: %d GA4 hits reached their server, want none (blocked)", len(got))
		}
		evs := signalEvents(t, p, since)
		if len(evs) != 1 {
			t.Fatalf("signal_mismatch events after gcs=G111 and gcs=G100 under reject-all: %d, want exactly 1: %+v", len(evs), evs)
		}
		e := evs[0]
		if e.Profile != "reject-all" || e.Host != "www.google-analytics.com" || e.Path != "/g/collect" || e.Category != "analytics" ||
			e.Signal == nil || *e.Signal != (eventSignal{Param: "gcs", Claimed: "G111", Expected: "G100", Overclaim: true, Blocked: true}) {
			t.Errorf("signal_mismatch event %+v (signal %+v); want reject-all, www.google-analytics.com/g/collect, analytics, gcs claimed G111, expected G100, an overclaim, blocked", e, e.Signal)
		}
		if got := metricValue(t, p, `consentproxy_signal_mismatches_total{param="gcs"}`); got != "1" {
			t.Errorf(`consentproxy_signal_mismatches_total{param="gcs"} = %s, want 1`, got)
		}
	})

	// The browser's own choice: advertising and marketing, no analytics,
	// as the site's banner would have stored it.
	explicit := consent{profile: "the browser's choice", allow: []string{"advertising", "marketing"}}
	optanon, tc := explicitConsent(t, explicit)

	t.Run("explicit choice kept", func(t *testing.T) {
		b := startBrowser(t, p.proxyURL(), browserOptions{})
		setConsentCookie(b, "OptanonConsent", optanon)
		setConsentCookie(b, "OptanonAlertBoxClosed", "2026-01-15T09:30:00.000Z")
		setConsentCookie(b, "euconsent-v2", tc)
		// The page follows the stored choice: the advertising tag, which
		// the proxy still blocks (analytics-only), and no analytics tag.
		up := loadCMP(t, b, w, newsURL, cmpWant{banner: "hidden", source: "onetrust", consent: "advertising", sent: all})
		want := map[string]cmpChoice{"onetrust": explicit.choice(), "tcf": explicit.choice()}
		want = analyticsOnly.consentAfter(want) // adds cookiebot and gpp
		jar := b.cookies()
		checkConsentJar(t, "explicit choice kept", jar, newsSite, want)
		for name, v := range map[string]string{"OptanonConsent": optanon, "OptanonAlertBoxClosed": "2026-01-15T09:30:00.000Z", "euconsent-v2": tc} {
			if got := jarValue(jar, name); got != v {
				t.Errorf("jar %s = %q, want the browser's own value %q, kept", name, got, v)
			}
		}
		checkServerConsent(t, "explicit choice kept", up, want)
	})

	t.Run("explicit choice replaced with enforce", func(t *testing.T) {
		b := startBrowser(t, "http://"+p.listeners[1], browserOptions{})
		setConsentCookie(b, "euconsent-v2", tc)
		since := lastEventID(t, p)
		up := loadCMP(t, b, w, newsURL, cmpWant{
			banner: "hidden", source: "tcf", consent: "analytics", gcs: "G101",
			upstream: []string{"www.googletagmanager.com/gtag/js", "www.google-analytics.com/g/collect"},
			sent:     []string{"euconsent-v2"},
		})
		want := tcfEnforced.consentAfter(map[string]cmpChoice{"tcf": explicit.choice()})
		checkConsentJar(t, "explicit choice replaced", b.cookies(), newsSite, want)
		checkServerConsent(t, "explicit choice replaced", up, want)
		if evs := signalEvents(t, p, since); len(evs) != 0 {
			t.Errorf("a consistent hit (gcs=G101 under %s) produced signal_mismatch events: %+v", tcfEnforced.profile, evs)
		}
	})

	t.Run("write_consent false", func(t *testing.T) {
		off := startProxy(t, w, "--profile", "analytics-only", "--write-consent=false")
		b := startBrowser(t, off.proxyURL(), browserOptions{})
		// As for a new visitor: the banner, no tag.
		loadCMP(t, b, w, newsURL, cmpWant{banner: "shown", source: "none", consent: ""})
		checkConsentJar(t, "write_consent false", b.cookies(), newsSite, nil)
	})
}

// loadCMP loads the CMP page at url in b and checks it against want from
// the page's side (banner, the choice it read, the tags it loaded), the
// browser's (which tags it requested at all) and the servers' (what
// reached them, and which consent cookies the page's own requests
// carried). It returns what the servers received.
func loadCMP(t *testing.T, b *browser, w *web, url string, want cmpWant) []received {
	t.Helper()
	w.reset()
	var s cmpState
	requests, messages := b.navigate(url, &s)
	up := w.requests()
	if s.Banner != want.banner || s.Source != want.source || s.Consent != want.consent {
		t.Errorf("CMP page: banner %q, choice read from %q, granted %q; want %q, %q, %q", s.Banner, s.Source, s.Consent, want.banner, want.source, want.consent)
	}
	for group, tag := range map[string]string{"analytics": analyticsTag, "advertising": advertisingTag} {
		wanted := slices.Contains(strings.Split(want.consent, ","), group)
		requested := slices.ContainsFunc(requests, func(r *netRequest) bool { return strings.HasPrefix(r.URL, tag) })
		if requested != wanted {
			t.Errorf("CMP page: the %s tag %s was requested = %v, want %v", group, tag, requested, wanted)
		}
		if wanted && s.Tags[group] != "load" {
			t.Errorf("CMP page: the %s tag fired %q, want load", group, s.Tags[group])
		}
	}
	switch {
	case want.gcs == "" && s.GCS != nil:
		t.Errorf("CMP page: an analytics hit was sent (gcs %s), want none", *s.GCS)
	case want.gcs != "" && (s.GCS == nil || *s.GCS != want.gcs):
		t.Errorf("CMP page: the analytics hit's gcs = %v, want %s", s.GCS, want.gcs)
	}

	var third []string
	for _, r := range up {
		if r.Host == newsHost {
			continue
		}
		third = append(third, r.Host+r.Path)
		if len(r.Cookies) > 0 {
			t.Errorf("CMP page: third-party %s%s received cookies %v, want none", r.Host, r.Path, r.Cookies)
		}
		if r.Path == "/g/collect" && r.GCS != want.gcs {
			t.Errorf("CMP page: the GA4 hit reached its server with gcs %q, want %q", r.GCS, want.gcs)
		}
	}
	slices.Sort(third)
	if wantUp := slices.Sorted(slices.Values(want.upstream)); !slices.Equal(third, wantUp) {
		t.Errorf("CMP page: third-party requests that reached their servers: %v, want %v", third, wantUp)
	}
	for _, path := range []string{"/", "/cmp.js"} {
		got := find(up, newsHost, path)
		if len(got) != 1 {
			t.Errorf("CMP page: the site received %s %d times, want once", path, len(got))
			continue
		}
		if !containsAll(got[0].Cookies, want.sent) || !containsAll(want.sent, got[0].Cookies) || len(got[0].Cookies) != len(want.sent) {
			t.Errorf("CMP page: the site received %s with cookies %v, want %v", path, got[0].Cookies, want.sent)
		}
	}
	checkNoBrowserErrors(t, "CMP page", pageLoad{requests: requests, messages: messages})
	return up
}

// checkServerConsent decodes the consent cookies the site's server
// received with the page's navigation and compares them with want.
func checkServerConsent(t *testing.T, label string, up []received, want map[string]cmpChoice) {
	t.Helper()
	nav := find(up, newsHost, "/")
	if len(nav) != 1 {
		return // loadCMP said so
	}
	for _, f := range consentFormats {
		if choice, ok := want[f.name]; ok {
			checkConsentValues(t, label+": the navigation to the site", f.name, nav[0].Consent, choice)
		}
	}
}

// explicitConsent is the OptanonConsent value and TC string a site's CMP
// would have stored for the choice c (made in its banner, a while ago).
func explicitConsent(t *testing.T, c consent) (optanon, tc string) {
	t.Helper()
	ch := c.choice()
	var groups []string
	for _, id := range []string{"C0001", "C0002", "C0003", "C0004", "C0005"} {
		groups = append(groups, id+":"+map[bool]string{true: "1", false: "0"}[ch.groups[id]])
	}
	optanon = "isGpcEnabled=0&datestamp=Thu+Jan+15+2026+09%3A30%3A00+GMT%2B0000+(Coordinated+Universal+Time)" +
		"&version=202510.2.0&browserGpcFlag=0&isIABGlobal=false&hosts=&consentId=4f1c7d9e-2b6a-4e3f-9a8d-5c0b1e2f3a4d" +
		"&interactionCount=1&isAnonUser=1&landingPath=NotLandingPage&groups=" + url.QueryEscape(strings.Join(groups, ",")) +
		"&AwaitingReconsent=false"
	day := time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC)
	tc, err := rulesconsent.EncodeTC(rulesconsent.TCString{
		Version: 2, Created: day, LastUpdated: day, CmpID: 28, CmpVersion: 3, ConsentScreen: 1,
		ConsentLanguage: "EN", VendorListVersion: 140, PolicyVersion: 5, IsServiceSpecific: true,
		PurposesConsent: ch.purposes, PublisherCC: "DE", VendorConsents: slices.Sorted(slices.Values(ch.vendors)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return optanon, tc
}

// setConsentCookie stores a consent cookie in b's jar for newsSite before
// any load, as the site's CMP stores it: on the registrable domain,
// readable by script, Lax, Secure, for a year.
func setConsentCookie(b *browser, name, value string) {
	b.t.Helper()
	secure, httpOnly := true, false
	expires := cdp.TimeSinceEpoch(time.Now().Add(365 * 24 * time.Hour).Unix())
	b.setCookie(network.SetCookieParams{
		Name: name, Value: value, Domain: "." + newsSite, Path: "/",
		Secure: &secure, HTTPOnly: &httpOnly, SameSite: network.CookieSameSiteLax, Expires: expires,
	})
	if got := jarValue(b.cookies(), name); got != value {
		b.t.Fatalf("set %s through CDP: the jar holds %q", name, got)
	}
}

// jarValue is the value of the cookie name on newsSite in jar ("" when
// none).
func jarValue(jar []jarCookie, name string) string {
	for _, jc := range jar {
		if jc.Name == name && strings.HasSuffix("."+jc.Domain, "."+newsSite) {
			return jc.Value
		}
	}
	return ""
}

// signalEvent is a signal_mismatch event of /api/events.
type signalEvent struct {
	ID       int          `json:"id"`
	Profile  string       `json:"profile"`
	Host     string       `json:"host"`
	Path     string       `json:"path"`
	Category string       `json:"category"`
	Signal   *eventSignal `json:"signal"`
}

type eventSignal struct {
	Param     string `json:"param"`
	Claimed   string `json:"claimed"`
	Expected  string `json:"expected"`
	Overclaim bool   `json:"overclaim"`
	Blocked   bool   `json:"blocked"`
}

// lastEventID is the id of the newest event of p (0 when none), so that a
// scenario can read only its own events.
func lastEventID(t *testing.T, p *proxyProc) int {
	t.Helper()
	var got struct {
		Events []signalEvent `json:"events"`
	}
	if st := p.adminDo(t, "GET", "/api/events?limit=1", nil, &got); st != 200 {
		t.Fatalf("GET /api/events = %d", st)
	}
	if len(got.Events) == 0 {
		return 0
	}
	return got.Events[0].ID
}

// signalEvents are p's signal_mismatch events newer than the event since,
// oldest first. No event may hold the hits' query strings.
func signalEvents(t *testing.T, p *proxyProc, since int) []signalEvent {
	t.Helper()
	var raw json.RawMessage
	if st := p.adminDo(t, "GET", "/api/events?action=signal_mismatch&limit=1000", nil, &raw); st != 200 {
		t.Fatalf("GET /api/events?action=signal_mismatch = %d", st)
	}
	for _, s := range []string{"?", "tid=", "G-FAKECMP", "cid="} {
		if strings.Contains(string(raw), s) {
			t.Errorf("the signal_mismatch events hold %q (a query string): %s", s, truncate(string(raw), 2000))
		}
	}
	var got struct {
		Events []signalEvent `json:"events"`
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	var out []signalEvent
	for _, e := range slices.Backward(got.Events) {
		if e.ID > since {
			out = append(out, e)
		}
	}
	return out
}

// metricValue reads one sample of p's /metrics ("" when absent).
func metricValue(t *testing.T, p *proxyProc, sample string) string {
	t.Helper()
	resp, err := http.Get("http://" + p.admin + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			return v
		}
	}
	return ""
}
