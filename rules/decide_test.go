package rules

import (
	"strings"
	"testing"
)

// testProfiles adds profiles that exercise every profile option over the
// built-in ones.
const testProfiles = `
	version: 1
	profiles:
	  - name: criteo-ok
	    description: reject-all, but Criteo allowed and Cloudflare denied
	    vendors: {criteo: allow, cloudflare: deny}
	  - name: all-but-criteo
	    allow: [analytics, advertising, marketing, social, functional, security]
	    vendors: {criteo: deny}
	  - name: strip-unknown
	    unknown_cookies: strip
	  - name: strip-denied
	    on_denied: strip
	  - name: security-ok
	    allow: [security]
`

func decideSet(t testing.TB) *Set {
	t.Helper()
	return trackerSet(t, parseText(t, "profiles_test.yaml", testProfiles))
}

type decideCase struct {
	name    string
	profile string
	url     string // host/path?query
	dest    Dest
	ctx     Context
	// want
	action   Action
	vendor   string
	service  string
	category Category
}

func runDecideCases(t *testing.T, s *Set, cases []decideCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			prof := tc.profile
			if prof == "" {
				prof = "reject-all"
			}
			r := splitURL(tc.url)
			r.Dest, r.Context = tc.dest, tc.ctx
			d := s.Decide(mustProfile(t, s, prof), r)
			if d.Action != tc.action || d.Vendor != tc.vendor || d.Service != tc.service || d.Category != tc.category {
				t.Errorf("Decide(%s, %s, dest %s, %s) = %s %s/%s (%s), want %s %s/%s (%s); reason %q",
					prof, tc.url, tc.dest, tc.ctx, d.Action, d.Vendor, d.Service, d.Category,
					tc.action, tc.vendor, tc.service, tc.category, d.Reason)
			}
			if d.Matched != (tc.vendor != "") {
				t.Errorf("Matched = %v, want %v", d.Matched, tc.vendor != "")
			}
			if d.Reason == "" {
				t.Error("empty Reason")
			}
		})
	}
}

func TestDecideMatching(t *testing.T) {
	s := decideSet(t)
	runDecideCases(t, s, []decideCase{
		// A bare domain matches itself and every subdomain.
		{name: "bare domain apex", url: "criteo.com/x", action: BlockImage, vendor: "criteo", service: "events", category: Advertising},
		{name: "bare domain subdomain", url: "dis.eu.criteo.com/x", action: BlockImage, vendor: "criteo", service: "events", category: Advertising},
		{name: "suffix is not a label boundary", url: "notcriteo.com/x", action: Allow},
		{name: "unrelated host", url: "example.com/", action: Allow},
		{name: "host is case-insensitive", url: "Static.CRITEO.net/js/ld/ld.js", action: BlockEmpty, vendor: "criteo", service: "onetag", category: Advertising},
		{name: "trailing dot", url: "static.criteo.net./js/ld/ld.js", action: BlockEmpty, vendor: "criteo", service: "onetag", category: Advertising},
		// Paths without '*': the path and below it after a '/'.
		{name: "path exact", url: "www.facebook.com/tr", action: BlockImage, vendor: "facebook", service: "pixel", category: Marketing},
		{name: "path below", url: "www.facebook.com/tr/", action: BlockImage, vendor: "facebook", service: "pixel", category: Marketing},
		{name: "path deeper", url: "www.facebook.com/tr/x", action: BlockImage, vendor: "facebook", service: "pixel", category: Marketing},
		{name: "path prefix is not a segment", url: "www.facebook.com/track", action: BlockEmpty, vendor: "facebook", service: "site", category: Social},
		// Paths with '*', which spans '/'.
		{name: "glob path", url: "connect.facebook.net/en_US/fbevents.js", action: BlockEmpty, vendor: "facebook", service: "pixel-script", category: Marketing},
		{name: "glob path spans slashes", url: "connect.facebook.net/signals/config/123", action: BlockEmpty, vendor: "facebook", service: "pixel-script", category: Marketing},
		{name: "glob path other file", url: "connect.facebook.net/en_US/sdk.js", action: BlockEmpty, vendor: "facebook", service: "sdk", category: Social},
		{name: "glob must match whole path", url: "connect.facebook.net/en_US/fbevents.js.map", action: BlockEmpty, vendor: "facebook", service: "site", category: Social},
		{name: "host with only path services, no path match", url: "www.googletagmanager.com/other.js", action: Allow},
		// The query never matters.
		{name: "query ignored GA", url: "www.googletagmanager.com/gtag/js?id=G-123", action: BlockEmpty, vendor: "google-analytics", service: "gtag", category: Analytics},
		{name: "query ignored Ads id", url: "www.googletagmanager.com/gtag/js?id=AW-123", action: BlockEmpty, vendor: "google-analytics", service: "gtag", category: Analytics},
		{name: "query cannot fake a path", url: "www.google.com/search?q=/pagead/x", action: Allow},
		{name: "fragment ignored", url: "www.facebook.com/tr#x", action: BlockImage, vendor: "facebook", service: "pixel", category: Marketing},
	})
}

func TestDecideSpecificity(t *testing.T) {
	s := decideSet(t)
	runDecideCases(t, s, []decideCase{
		// Longest host first, whatever the paths.
		{name: "longer host beats shorter", url: "c.clarity.ms/c.gif", action: BlockImage, vendor: "microsoft", service: "clarity-sync", category: Advertising, dest: DestImage},
		{name: "longer host needs its path", url: "c.clarity.ms/collect", action: BlockEmpty, vendor: "microsoft", service: "clarity", category: Analytics},
		{name: "sub-host service over domain service", url: "www.facebook.com/plugins/like.php", action: BlockEmpty, vendor: "facebook", service: "social-plugins", category: Social, dest: DestFrame},
		{name: "longer host without path match falls back", url: "www.facebook.com/tr", action: BlockImage, vendor: "facebook", service: "pixel", category: Marketing},
		// Then the longest path; a service without paths is least specific.
		{name: "path beats no path", url: "cm.g.doubleclick.net/pixel", action: BlockEmpty, vendor: "google-ads", service: "cookie-matching", category: Advertising, dest: DestScript},
		{name: "no path service as fallback", url: "cm.g.doubleclick.net/other", action: BlockImage, vendor: "google-ads", service: "doubleclick", category: Advertising},
		{name: "longer host beats longer path", url: "www.google-analytics.com/r/collect", action: BlockImage, vendor: "google-analytics", service: "legacy-pixel", category: Analytics},
	})
}

func TestDecideHostStar(t *testing.T) {
	s := trackerSet(t, parseText(t, "star.yaml", `
		version: 1
		vendors:
		  - id: star
		    services:
		      - {name: apex, category: advertising, kind: script, hosts: [example-tracker.com]}
		      - {name: subs, category: analytics, kind: script, hosts: ["*.example-tracker.com"]}
		      - {name: deep, category: social, kind: script, hosts: ["*.cdn.example-tracker.com"]}
	`))
	runDecideCases(t, s, []decideCase{
		{name: "apex: *. does not match", url: "example-tracker.com/", profile: "analytics-only", action: BlockEmpty, vendor: "star", service: "apex", category: Advertising},
		{name: "subdomain: *. beats bare", url: "www.example-tracker.com/", profile: "analytics-only", action: Allow, vendor: "star", service: "subs", category: Analytics},
		{name: "deep subdomain", url: "a.b.example-tracker.com/", profile: "analytics-only", action: Allow, vendor: "star", service: "subs", category: Analytics},
		{name: "*. apex falls back to shorter", url: "cdn.example-tracker.com/", profile: "analytics-only", action: Allow, vendor: "star", service: "subs", category: Analytics},
		{name: "*. longer domain", url: "x.cdn.example-tracker.com/", profile: "analytics-only", action: BlockEmpty, vendor: "star", service: "deep", category: Social},
	})
}

func TestDecideActions(t *testing.T) {
	s := decideSet(t)
	runDecideCases(t, s, []decideCase{
		// block-image vs block-empty
		{name: "image dest", url: "criteo.com/x", dest: DestImage, action: BlockImage, vendor: "criteo", service: "events", category: Advertising},
		{name: "pixel kind unknown dest", url: "criteo.com/x", dest: DestUnknown, action: BlockImage, vendor: "criteo", service: "events", category: Advertising},
		{name: "pixel kind script dest", url: "criteo.com/x", dest: DestScript, action: BlockEmpty, vendor: "criteo", service: "events", category: Advertising},
		{name: "pixel kind fetch", url: "criteo.com/x", dest: DestEmpty, action: BlockEmpty, vendor: "criteo", service: "events", category: Advertising},
		{name: "script kind image dest", url: "static.criteo.net/js/ld/ld.js", dest: DestImage, action: BlockImage, vendor: "criteo", service: "onetag", category: Advertising},
		{name: "script kind unknown dest", url: "static.criteo.net/js/ld/ld.js", action: BlockEmpty, vendor: "criteo", service: "onetag", category: Advertising},
		{name: "beacon kind", url: "analytics.tiktok.com/api/v2/pixel", action: BlockEmpty, vendor: "tiktok", service: "pixel", category: Marketing},
		// strip vs block
		{name: "on_denied strip", profile: "strip-denied", url: "criteo.com/x", dest: DestImage, action: Strip, vendor: "criteo", service: "events", category: Advertising},
		// contexts: only third-party requests are refused
		{name: "top-level never blocked", url: "www.facebook.com/", dest: DestDocument, ctx: TopLevel, action: Allow, vendor: "facebook", service: "site", category: Social},
		{name: "top-level never stripped", profile: "strip-denied", url: "www.facebook.com/", dest: DestDocument, ctx: TopLevel, action: Allow, vendor: "facebook", service: "site", category: Social},
		{name: "document never blocked", url: "www.facebook.com/", dest: DestDocument, ctx: ThirdParty, action: Allow, vendor: "facebook", service: "site", category: Social},
		{name: "first-party not blocked", url: "www.facebook.com/tr", ctx: FirstParty, action: Allow, vendor: "facebook", service: "pixel", category: Marketing},
		{name: "third-party is the zero value", url: "www.facebook.com/tr", action: BlockImage, vendor: "facebook", service: "pixel", category: Marketing},
		// allowed categories
		{name: "accept-all", profile: "accept-all", url: "www.facebook.com/tr", action: Allow, vendor: "facebook", service: "pixel", category: Marketing},
		{name: "analytics-only allows analytics", profile: "analytics-only", url: "www.google-analytics.com/g/collect", action: Allow, vendor: "google-analytics", service: "collect", category: Analytics},
		{name: "analytics-only refuses ads", profile: "analytics-only", url: "doubleclick.net/x", action: BlockImage, vendor: "google-ads", service: "doubleclick", category: Advertising},
		// essential is never refused
		{name: "essential service", url: "challenges.cloudflare.com/turnstile", action: Allow, vendor: "cloudflare", service: "bot-management", category: Essential},
		{name: "essential service despite vendor deny", profile: "criteo-ok", url: "challenges.cloudflare.com/turnstile", action: Allow, vendor: "cloudflare", service: "bot-management", category: Essential},
		// declared categories
		{name: "declared category refused", url: "hcaptcha.com/1/api.js", action: BlockEmpty, vendor: "hcaptcha", service: "challenge", category: "security"},
		{name: "declared category allowed", profile: "security-ok", url: "hcaptcha.com/1/api.js", action: Allow, vendor: "hcaptcha", service: "challenge", category: "security"},
		// vendor overrides beat categories
		{name: "vendor allow beats refused category", profile: "criteo-ok", url: "criteo.com/x", action: Allow, vendor: "criteo", service: "events", category: Advertising},
		{name: "override is per vendor", profile: "criteo-ok", url: "doubleclick.net/x", action: BlockImage, vendor: "google-ads", service: "doubleclick", category: Advertising},
		{name: "vendor deny beats allowed category", profile: "all-but-criteo", url: "criteo.com/x", action: BlockImage, vendor: "criteo", service: "events", category: Advertising},
		{name: "deny is per vendor", profile: "all-but-criteo", url: "doubleclick.net/x", action: Allow, vendor: "google-ads", service: "doubleclick", category: Advertising},
	})
}

func TestDecideFields(t *testing.T) {
	s := decideSet(t)
	d := s.Decide(mustProfile(t, s, "reject-all"), Request{Host: "www.facebook.com", Path: "/tr", Dest: DestImage})
	want := Decision{
		Action: BlockImage, Category: Marketing, Vendor: "facebook", VendorName: "Meta (Facebook)",
		Service: "pixel", Kind: KindPixel, Origin: Origin{"testdata/trackers.yaml", 58}, Matched: true,
		Reason: "marketing is refused by profile reject-all (on_denied: block)",
	}
	if d != want {
		t.Errorf("Decide = %+v\nwant %+v", d, want)
	}
	d = s.Decide(mustProfile(t, s, "reject-all"), Request{Host: "example.com", Path: "/"})
	if d != (Decision{Action: Allow, Reason: reasonNoMatch}) {
		t.Errorf("unmatched Decide = %+v", d)
	}
}

func TestDecideNilAndForeignProfile(t *testing.T) {
	s := decideSet(t)
	other := decideSet(t)
	r := Request{Host: "www.google-analytics.com", Path: "/g/collect"}
	if d := s.Decide(nil, r); d.Action != BlockEmpty {
		t.Errorf("nil profile: %s, want block-empty (essential only)", d.Action)
	}
	// A profile of another Set is used by name, with this Set's rules.
	if d := s.Decide(mustProfile(t, other, "analytics-only"), r); d.Action != Allow {
		t.Errorf("foreign analytics-only: %s, want allow", d.Action)
	}
}

type cookieCase struct {
	name    string
	profile string
	url     string
	ctx     Context
	dest    Dest
	cookie  string
	// want
	keep     bool
	known    bool
	category Category
	vendor   string
}

func runCookieCases(t *testing.T, s *Set, cases []cookieCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			prof := tc.profile
			if prof == "" {
				prof = "reject-all"
			}
			p := mustProfile(t, s, prof)
			r := splitURL(tc.url)
			r.Context, r.Dest = tc.ctx, tc.dest
			d := s.Decide(p, r)
			v := s.JudgeCookie(p, r, d, tc.cookie)
			if v.Name != tc.cookie || v.Keep != tc.keep || v.Known != tc.known || v.Category != tc.category || v.Vendor != tc.vendor {
				t.Errorf("JudgeCookie(%s, %s, %q) = keep %v known %v %s/%s, want keep %v known %v %s/%s; reason %q (decision %s)",
					prof, tc.url, tc.cookie, v.Keep, v.Known, v.Category, v.Vendor, tc.keep, tc.known, tc.category, tc.vendor, v.Reason, d.Action)
			}
			if v.Reason == "" {
				t.Error("empty Reason")
			}
			if v.Known && v.Origin.File == "" {
				t.Error("known cookie without an origin")
			}
		})
	}
}

func TestJudgeCookie(t *testing.T) {
	s := decideSet(t)
	runCookieCases(t, s, []cookieCase{
		// Cookie rules apply on every host, first party included.
		{name: "known refused on a site", url: "shop.example/", ctx: FirstParty, cookie: "_ga", known: true, category: Analytics, vendor: "google-analytics"},
		{name: "known allowed", profile: "analytics-only", url: "shop.example/", ctx: FirstParty, cookie: "_ga", keep: true, known: true, category: Analytics, vendor: "google-analytics"},
		{name: "glob", url: "shop.example/", cookie: "_ga_ABC123", known: true, category: Analytics, vendor: "google-analytics"},
		{name: "glob prefix only", url: "shop.example/", cookie: "_gat_UA-1-1", known: true, category: Analytics, vendor: "google-analytics"},
		{name: "exact beats glob", url: "shop.example/", cookie: "cto_bundle", known: true, category: Advertising, vendor: "criteo"},
		{name: "names are case-sensitive", url: "shop.example/", cookie: "_GA", keep: true},
		// Domain scope.
		{name: "scoped rule on its domain", url: "www.facebook.com/", ctx: TopLevel, dest: DestDocument, cookie: "datr", known: true, category: Social, vendor: "facebook"},
		{name: "scoped rule elsewhere is unknown", url: "shop.example/", cookie: "datr", keep: true},
		{name: "scoped generic name on its domain", url: "creativecdn.com/tags", profile: "accept-all", cookie: "c", keep: true, known: true, category: Advertising, vendor: "rtb-house"},
		{name: "scoped generic name elsewhere", url: "shop.example/", cookie: "c", keep: true},
		// Essential is never stripped, even with a vendor deny.
		{name: "essential kept", url: "shop.example/", cookie: "__cf_bm", keep: true, known: true, category: Essential, vendor: "cloudflare"},
		{name: "essential kept despite vendor deny", profile: "criteo-ok", url: "shop.example/", cookie: "__cf_bm", keep: true, known: true, category: Essential, vendor: "cloudflare"},
		{name: "essential without vendor", profile: "strip-unknown", url: "shop.example/", cookie: "PHPSESSID", keep: true, known: true, category: Essential},
		// Vendor overrides apply to the rule's vendor.
		{name: "vendor allow keeps its cookie", profile: "criteo-ok", url: "shop.example/", cookie: "cto_bundle", keep: true, known: true, category: Advertising, vendor: "criteo"},
		{name: "vendor allow is per vendor", profile: "criteo-ok", url: "shop.example/", cookie: "_gcl_au", known: true, category: Advertising, vendor: "google-ads"},
		{name: "vendor deny strips an allowed category", profile: "all-but-criteo", url: "shop.example/", cookie: "cto_bidid", known: true, category: Advertising, vendor: "criteo"},
		// Unknown cookies follow unknown_cookies...
		{name: "unknown allowed", url: "shop.example/", cookie: "theme", keep: true},
		{name: "unknown stripped", profile: "strip-unknown", url: "shop.example/", cookie: "theme"},
		// ...except on an allowed tracker request in third-party context,
		// where they take the tracker's category.
		{name: "tracker unknown, allowed tracker", profile: "accept-all", url: "criteo.com/x", cookie: "zz_tracker", keep: true, category: Advertising, vendor: "criteo"},
		{name: "tracker unknown, vendor allowed despite strip-unknown", profile: "criteo-ok", url: "criteo.com/x", cookie: "zz_tracker", keep: true, category: Advertising, vendor: "criteo"},
		{name: "tracker unknown, essential tracker", profile: "strip-unknown", url: "challenges.cloudflare.com/x", cookie: "zz_tracker", keep: true, category: Essential, vendor: "cloudflare"},
		{name: "tracker unknown, first-party follows policy", profile: "strip-unknown", url: "www.facebook.com/tr", ctx: FirstParty, cookie: "zz_tracker"},
		{name: "tracker unknown, top-level follows policy", url: "www.facebook.com/", ctx: TopLevel, dest: DestDocument, cookie: "zz_tracker", keep: true},
		// Blocked and stripped requests send no cookie; verdicts still name them.
		{name: "blocked request, known cookie", url: "www.facebook.com/tr", cookie: "_fbp", known: true, category: Marketing, vendor: "facebook"},
		{name: "blocked request, essential cookie", url: "www.facebook.com/tr", cookie: "__cf_bm", known: true, category: Essential, vendor: "cloudflare"},
		{name: "blocked request, unknown cookie", url: "www.facebook.com/tr", cookie: "zz", category: Marketing, vendor: "facebook"},
		{name: "stripped request", profile: "strip-denied", url: "criteo.com/x", cookie: "uid", known: true, category: Advertising, vendor: "criteo"},
	})
}

// TestCookieSpecificity covers the cookie precedence rules with rules made
// for it: exact over glob, longer prefix, more literal characters, scope.
func TestCookieSpecificity(t *testing.T) {
	s := trackerSet(t, parseText(t, "cookies_test.yaml", `
		version: 1
		cookies:
		  - {names: ["ab*"], category: analytics}
		  - {names: ["abc*"], category: advertising}
		  - {names: ["ab*z"], category: social}
		  - {names: ["*_sess"], category: functional}
		  - {names: ["*"], category: marketing, domains: [everything.example]}
		  - {names: [scoped], category: social, domains: [shop.example]}
		  - {names: [scoped], category: analytics}
		  - {names: [deep], category: analytics, domains: [example.org]}
		  - {names: [deep], category: advertising, domains: [a.example.org]}
	`))
	p := mustProfile(t, s, "accept-all")
	for _, tc := range []struct {
		host, cookie string
		want         Category
	}{
		{"x.example", "abd", Analytics},
		{"x.example", "abcd", Advertising},    // longer prefix
		{"x.example", "abqz", Social},         // same prefix, more literal characters
		{"x.example", "abcz", Advertising},    // longer prefix beats more literals
		{"x.example", "php_sess", Functional}, // suffix-only glob
		{"x.example", "unknown", ""},          // nothing
		{"everything.example", "unknown", Marketing},
		{"everything.example", "abd", Analytics}, // a longer prefix beats a scoped "*"
		{"www.shop.example", "scoped", Social},   // scoped beats unscoped
		{"x.example", "scoped", Analytics},
		{"b.a.example.org", "deep", Advertising}, // the more specific scope
		{"example.org", "deep", Analytics},
	} {
		r := Request{Host: tc.host, Path: "/", Context: FirstParty}
		v := s.JudgeCookie(p, r, s.Decide(p, r), tc.cookie)
		if v.Category != tc.want || v.Known != (tc.want != "") {
			t.Errorf("%s on %s: category %q known %v, want %q", tc.cookie, tc.host, v.Category, v.Known, tc.want)
		}
	}
}

func TestSite(t *testing.T) {
	for _, tc := range []struct{ host, site string }{
		{"www.example.com", "example.com"},
		{"example.com", "example.com"},
		{"a.b.example.co.uk", "example.co.uk"},
		{"user.github.io", "user.github.io"},
		{"co.uk", "co.uk"},
		{"localhost", "localhost"},
		{"127.0.0.1", "127.0.0.1"},
		{"::1", "::1"},
		{"WWW.Example.COM.", "example.com"},
	} {
		if got := Site(tc.host); got != tc.site {
			t.Errorf("Site(%q) = %q, want %q", tc.host, got, tc.site)
		}
	}
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"www.example.com", "cdn.example.com", true},
		{"example.com", "example.org", false},
		{"a.github.io", "b.github.io", false},
		{"127.0.0.1", "127.0.0.1", true},
		{"127.0.0.1", "127.0.0.2", false},
		{"localhost", "localhost", true},
	} {
		if got := SameSite(tc.a, tc.b); got != tc.same {
			t.Errorf("SameSite(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.same)
		}
	}
}

func TestParseDest(t *testing.T) {
	for in, want := range map[string]Dest{
		"": DestUnknown, "document": DestDocument, "iframe": DestFrame, "embed": DestFrame, "object": DestFrame,
		"image": DestImage, "script": DestScript, "serviceworker": DestScript, "style": DestStyle, "font": DestFont,
		"video": DestMedia, "empty": DestEmpty, "report": DestOther, "something-new": DestOther, "Image": DestImage,
	} {
		if got := ParseDest(in); got != want {
			t.Errorf("ParseDest(%q) = %s, want %s", in, got, want)
		}
	}
	for _, v := range DestValues() {
		if _, ok := LookupDest(v); !ok {
			t.Errorf("DestValues lists %q but LookupDest does not know it", v)
		}
	}
	if _, ok := LookupDest("picture"); ok {
		t.Error("LookupDest accepted an unknown value")
	}
}

func TestVocabularyStrings(t *testing.T) {
	var got []string
	for _, a := range Actions() {
		got = append(got, a.String())
	}
	if strings.Join(got, ",") != "allow,strip,block-image,block-empty" {
		t.Errorf("actions %v", got)
	}
	for _, tc := range []struct{ got, want string }{
		{ThirdParty.String(), "third-party"}, {FirstParty.String(), "first-party"}, {TopLevel.String(), "top-level"},
		{CookieStrip.String(), "strip"}, {CookieAllow.String(), "allow"}, {DeniedStrip.String(), "strip"}, {DeniedBlock.String(), "block"},
		{Origin{"a.yaml", 3}.String(), "a.yaml:3"}, {Origin{"config", 0}.String(), "config"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	var zero Context
	if zero != ThirdParty {
		t.Error("the zero Context must be ThirdParty, the safe default")
	}
	if len(BuiltinCategories()) != 6 || BuiltinCategories()[0].Name != Essential {
		t.Error("essential must be the first built-in category (category number 0)")
	}
}
