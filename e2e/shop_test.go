package e2e

import (
	"slices"
	"strings"
	"testing"
)

// tracker is one third-party endpoint the shop page embeds, with the
// consent category tracker-endpoints.md gives it. The expectations below
// are derived from these categories and SPEC §4, not from the proxy's
// rules engine, so a wrong built-in rule shows up as a failure.
type tracker struct {
	name     string // id of the element / key in window.__e2e
	host     string
	path     string
	kind     string // pixel | script | frame | beacon
	category string
	// cookie is the third-party cookie the endpoint receives back once the
	// browser holds it; setBy names the tracker whose response sets it
	// (itself when "").
	cookie, setBy string
	// cookieCategory is the cookie's own category (fr is a marketing
	// cookie, also when the social widget is what carries it).
	cookieCategory string
}

var trackers = []tracker{
	{name: "gtag", host: "www.googletagmanager.com", path: "/gtag/js", kind: "script", category: "analytics"},
	{name: "fbevents", host: "connect.facebook.net", path: "/en_US/fbevents.js", kind: "script", category: "marketing"},
	{name: "criteo", host: "static.criteo.net", path: "/js/ld/ld.js", kind: "script", category: "advertising"},
	{name: "facebook", host: "www.facebook.com", path: "/tr", kind: "pixel", category: "marketing", cookie: "fr", cookieCategory: "marketing"},
	{name: "bing", host: "bat.bing.com", path: "/action/0", kind: "pixel", category: "marketing", cookie: "MUID", cookieCategory: "advertising"},
	{name: "doubleclick", host: "cm.g.doubleclick.net", path: "/pixel", kind: "pixel", category: "advertising", cookie: "IDE", cookieCategory: "advertising"},
	{name: "like", host: "www.facebook.com", path: "/plugins/like.php", kind: "frame", category: "social", cookie: "fr", setBy: "facebook", cookieCategory: "marketing"},
	{name: "collect", host: "www.google-analytics.com", path: "/g/collect", kind: "beacon", category: "analytics"},
}

func trackerNamed(name string) tracker {
	for _, tr := range trackers {
		if tr.name == name {
			return tr
		}
	}
	panic("no tracker " + name)
}

// firstPartyCookie is a cookie of the shop itself, set by its server or
// written by its page.
type firstPartyCookie struct {
	name     string
	category string // "" for a name no rule knows
	// byPage: written with document.cookie when missing (the proxy cannot
	// stop that; it can only keep it from the server).
	byPage bool
}

var firstPartyCookies = []firstPartyCookie{
	{name: "JSESSIONID", category: "essential"},
	{name: "_ga", category: "analytics"}, // by the server, and by the page when missing
	{name: "shop_pref"},
	{name: "_fbp", category: "marketing", byPage: true},
	{name: "promo_seen", byPage: true},
}

// shopPaths are the first-party requests of one load of the shop.
var shopPaths = []string{"/", "/app.js", "/checkout.js", "/api/cart"}

// consent is what a profile allows, as the test reads SPEC §3-4.
type consent struct {
	profile       string
	allow         []string // allowed categories besides essential
	stripUnknown  bool     // unknown_cookies: strip
	onDeniedStrip bool     // on_denied: strip (else block)
	gpc, dnt      bool
}

var allCategories = []string{"analytics", "advertising", "marketing", "social"}

func (c consent) allows(category string) bool {
	return category == "essential" || slices.Contains(c.allow, category)
}

func (c consent) keepsCookie(category string) bool {
	if category == "" {
		return !c.stripUnknown
	}
	return c.allows(category)
}

// reached: the tracker's request goes upstream (allowed, or refused under
// on_denied: strip, which forwards it without cookies).
func (c consent) reached(tr tracker) bool {
	return c.allows(tr.category) || c.onDeniedStrip
}

// passesCookie: the tracker's own cookie may travel, both ways.
func (c consent) passesCookie(tr tracker) bool {
	return c.allows(tr.category) && c.allows(tr.cookieCategory)
}

// jarModel is what the test expects Chromium's cookie jar to hold: which
// cookies exist (by "domain name") and whose _ga it is.
type jarModel struct {
	has          map[string]bool
	gaFromServer bool
}

func jarKey(domain, name string) string { return strings.TrimPrefix(domain, ".") + " " + name }

// after is the jar after a load under c: the server's Set-Cookies that
// the proxy let through, the page's own writes, and what it had.
func (j jarModel) after(c consent) jarModel {
	next := jarModel{has: map[string]bool{}, gaFromServer: j.gaFromServer || c.allows("analytics")}
	for k, v := range j.has {
		next.has[k] = v
	}
	for _, fc := range firstPartyCookies {
		if fc.byPage || fc.name == "_ga" || c.keepsCookie(fc.category) {
			next.has[jarKey(shopHost, fc.name)] = true
		}
	}
	for _, tr := range trackers {
		if tr.cookie != "" && tr.setBy == "" && c.passesCookie(tr) {
			next.has[jarKey(registrable(tr.host), tr.cookie)] = true
		}
	}
	return next
}

// shopCookies are the shop's cookies in the jar j that the proxy lets
// reach the shop under c.
func (c consent) shopCookies(j jarModel) []string {
	var names []string
	for _, fc := range firstPartyCookies {
		if j.has[jarKey(shopHost, fc.name)] && c.keepsCookie(fc.category) {
			names = append(names, fc.name)
		}
	}
	return names
}

// trackerCookies are the tracker's cookies in the jar j that may reach it
// under c.
func (c consent) trackerCookies(j jarModel, tr tracker) []string {
	if tr.cookie == "" || !c.passesCookie(tr) {
		return nil
	}
	setter := tr
	if tr.setBy != "" {
		setter = trackerNamed(tr.setBy)
	}
	if j.has[jarKey(registrable(setter.host), tr.cookie)] {
		return []string{tr.cookie}
	}
	return nil
}

// shopVisit drives loads of the shop in one browser and checks each from
// the three sides against the consent in force for it.
type shopVisit struct {
	t   *testing.T
	b   *browser
	w   *web
	jar jarModel
}

func newShopVisit(t *testing.T, b *browser, w *web) *shopVisit {
	return &shopVisit{t: t, b: b, w: w, jar: jarModel{has: map[string]bool{}}}
}

// load loads the shop once and checks that the proxy applied c: what the
// servers received, what the jar holds afterwards, what the page saw.
func (v *shopVisit) load(label string, c consent) pageLoad {
	t := v.t
	t.Helper()
	v.w.reset()
	l := v.b.load(shopURL)
	up := v.w.requests()
	before, after := v.jar, v.jar.after(c)
	checkServers(t, label, c, before, after, up)
	checkPage(t, label, c, l)
	if l.state.Cart != nil {
		if got := find(up, shopHost, "/api/cart"); len(got) == 1 && !slices.Equal(l.state.Cart.Cookies, got[0].Cookies) {
			t.Errorf("%s: the page saw the shop API receive %v, the server logged %v", label, l.state.Cart.Cookies, got[0].Cookies)
		}
	}
	checkJar(t, label, c, after, v.b.cookies())
	v.jar = after
	return l
}

// checkVisit is the common scenario: a first and a returning visit under
// one profile.
func checkVisit(t *testing.T, b *browser, w *web, c consent) {
	t.Helper()
	v := newShopVisit(t, b, w)
	v.load("first visit", c)
	v.load("returning visit", c)
}

func checkServers(t *testing.T, label string, c consent, before, after jarModel, up []received) {
	t.Helper()
	for _, tr := range trackers {
		got := find(up, tr.host, tr.path)
		switch {
		case c.reached(tr) && len(got) == 0:
			t.Errorf("%s: %s%s (%s, %s) never reached its server; profile %s lets it through", label, tr.host, tr.path, tr.kind, tr.category, c.profile)
		case !c.reached(tr) && len(got) > 0:
			t.Errorf("%s: %s%s (%s, %s) reached its server %d times; profile %s refuses %s", label, tr.host, tr.path, tr.kind, tr.category, len(got), c.profile, tr.category)
		}
		for _, r := range got {
			// What the tracker had in the jar before the load must arrive;
			// what was set during this load may (a race between the
			// setter's response and the request).
			must, may := c.trackerCookies(before, tr), c.trackerCookies(after, tr)
			if !containsAll(r.Cookies, must) || !containsAll(may, r.Cookies) {
				t.Errorf("%s: %s%s received cookies %v, want %v (profile %s)", label, tr.host, tr.path, r.Cookies, may, c.profile)
			}
		}
	}
	for _, p := range shopPaths {
		got := find(up, shopHost, p)
		if len(got) != 1 {
			t.Errorf("%s: the shop received %s %d times, want once", label, p, len(got))
			continue
		}
		must, may := c.shopCookies(before), c.shopCookies(after)
		switch p {
		case "/":
			may = must // sent before anything of this load was set
		case "/api/cart":
			must = may // sent after the page ran
		}
		// In between, the jar is filling (the preload scanner may fetch
		// /checkout.js before /app.js writes its cookies).
		if !containsAll(got[0].Cookies, must) || !containsAll(may, got[0].Cookies) {
			t.Errorf("%s: the shop received %s with cookies %v, want %v (profile %s)", label, p, got[0].Cookies, may, c.profile)
		}
	}
	for _, r := range up {
		if !knownEndpoint(r) {
			t.Errorf("%s: unexpected request upstream: %s", label, r)
		}
		if r.ProfileHeader {
			t.Errorf("%s: %s%s received X-Consent-Profile; the proxy must remove it", label, r.Host, r.Path)
		}
		if got, want := r.GPC, map[bool]string{true: "1"}[c.gpc]; got != want {
			t.Errorf("%s: %s%s Sec-GPC = %q, want %q", label, r.Host, r.Path, got, want)
		}
		if got, want := r.DNT, map[bool]string{true: "1"}[c.dnt]; got != want {
			t.Errorf("%s: %s%s DNT = %q, want %q", label, r.Host, r.Path, got, want)
		}
	}
}

func checkJar(t *testing.T, label string, c consent, want jarModel, jar []jarCookie) {
	t.Helper()
	got := map[string]jarCookie{}
	for _, jc := range jar {
		got[jarKey(jc.Domain, jc.Name)] = jc
	}
	var keys []string
	for _, fc := range firstPartyCookies {
		keys = append(keys, jarKey(shopHost, fc.name))
	}
	for _, tr := range trackers {
		if tr.cookie != "" && tr.setBy == "" {
			keys = append(keys, jarKey(registrable(tr.host), tr.cookie))
		}
	}
	for _, k := range keys {
		if _, ok := got[k]; ok != want.has[k] {
			t.Errorf("%s: jar holds %s = %v, want %v (profile %s)", label, k, ok, want.has[k], c.profile)
		}
	}
	for k := range got {
		if !slices.Contains(keys, k) {
			t.Errorf("%s: jar holds an unexpected cookie %s", label, k)
		}
	}
	// The server sets _ga, and the page writes another when it finds none:
	// the value says whether the server's Set-Cookie was ever let through.
	if ga, ok := got[jarKey(shopHost, "_ga")]; ok {
		want := map[bool]string{true: serverGA, false: jsGA}[want.gaFromServer]
		if ga.Value != want {
			t.Errorf("%s: jar _ga = %q, want %q (profile %s)", label, ga.Value, want, c.profile)
		}
	}
}

func checkPage(t *testing.T, label string, c consent, l pageLoad) {
	t.Helper()
	s := l.state
	if !s.Done {
		t.Errorf("%s: the page did not finish", label)
	}
	for _, tr := range trackers {
		through := c.reached(tr)
		switch tr.kind {
		case "pixel":
			// Every pixel fires onload: the tracker's 2×1 GIF when it went
			// through, the proxy's 1×1 when blocked.
			px, ok := s.Pixels[tr.name]
			wantWidth := map[bool]int{true: 2, false: 1}[through]
			if !ok || px.Event != "load" || px.Width != wantWidth {
				t.Errorf("%s: pixel %s: got %+v (recorded %v), want onload with a %d-pixel-wide image", label, tr.name, px, ok, wantWidth)
			}
		case "script":
			if got := s.Ran[tr.name]; got != through {
				t.Errorf("%s: script %s ran = %v, want %v (profile %s)", label, tr.name, got, through, c.profile)
			}
			// A blocked script is an empty 204: it loads, it does not fail.
			if ev := s.Scripts[tr.name]; ev != "load" {
				t.Errorf("%s: script %s fired %q, want load", label, tr.name, ev)
			}
		case "frame":
			if got := s.Messages[tr.name]; got != through {
				t.Errorf("%s: widget %s rendered = %v, want %v (profile %s)", label, tr.name, got, through, c.profile)
			}
		case "beacon":
			if s.Beacon == nil || !*s.Beacon {
				t.Errorf("%s: navigator.sendBeacon was not queued", label)
			}
			if s.Fetch != "ok" {
				t.Errorf("%s: the analytics fetch: %s", label, s.Fetch)
			}
		}
	}
	if s.Cart == nil || s.Cart.Error != "" {
		t.Errorf("%s: the shop API call failed: %+v", label, s.Cart)
	}
	checkNoBrowserErrors(t, label, l)
}

// checkNoBrowserErrors: every request got a response through a
// certificate of the proxy's CA, and the console holds no error or
// warning.
func checkNoBrowserErrors(t *testing.T, label string, l pageLoad) {
	t.Helper()
	for _, r := range l.requests {
		if r.Status == 0 {
			t.Errorf("%s: %s got no response (%s)", label, r.URL, r.Failed)
			continue
		}
		if r.Failed != "" && !abortedByDesign(r) {
			t.Errorf("%s: %s failed after its response: %s", label, r.URL, r.Failed)
		}
		if strings.HasPrefix(r.URL, "https://") && r.Issuer != env.caName {
			t.Errorf("%s: %s was served with a certificate issued by %q, want the proxy CA %q", label, r.URL, r.Issuer, env.caName)
		}
	}
	for _, m := range l.messages {
		t.Errorf("%s: browser reported: %s", label, m)
	}
}

// abortedByDesign: two cases where Chromium reports net::ERR_ABORTED
// after a response without anything going wrong. A no-cors fetch whose
// opaque response has no body (seen without any proxy too, against a
// direct connection). An iframe answered 204 (the proxy's block): a 204
// navigation does not commit, the frame stays empty, nothing reaches the
// console.
func abortedByDesign(r *netRequest) bool {
	if r.Failed != "net::ERR_ABORTED" {
		return false
	}
	return r.Type == "Fetch" || r.Type == "Document" && r.Status == 204
}

func find(up []received, host, path string) []received {
	var out []received
	for _, r := range up {
		if r.Host == host && r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

func knownEndpoint(r received) bool {
	if r.Host == shopHost {
		return slices.Contains(shopPaths, r.Path)
	}
	for _, tr := range trackers {
		if r.Host == tr.host && r.Path == tr.path {
			return true
		}
	}
	return false
}

// containsAll reports whether every name of sub is in set. Cookie order
// in a Cookie header is the jar's (path length, then creation time), not
// the test's business; the proxy keeps it, and the proxy's own tests check
// that.
func containsAll(set, sub []string) bool {
	for _, n := range sub {
		if !slices.Contains(set, n) {
			return false
		}
	}
	return true
}

// registrable is the cookie domain of a tracker host (the fake web's
// tracker hosts are all of the form x.vendor.tld).
func registrable(host string) string {
	parts := strings.Split(host, ".")
	return strings.Join(parts[len(parts)-2:], ".")
}
