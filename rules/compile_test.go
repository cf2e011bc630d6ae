package rules

import (
	"reflect"
	"strings"
	"testing"
)

// One test per merge rule of Compile's doc comment.

func compileLayers(t *testing.T, layers ...*File) *Set {
	t.Helper()
	s, err := Compile(append([]*File{builtinProfiles(t)}, layers...)...)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return s
}

func TestMergeServiceTieAcrossLayersLaterWins(t *testing.T) {
	low := parseText(t, "low.yaml", `
		version: 1
		vendors:
		  - id: ads-co
		    services: [{name: tag, category: advertising, kind: script, hosts: [tie.example]}]
	`)
	high := parseText(t, "high.yaml", `
		version: 1
		vendors:
		  - id: stats-co
		    services: [{name: tag, category: analytics, kind: script, hosts: [tie.example]}]
	`)
	s := compileLayers(t, low, high)
	// The later layer wins even though the earlier one is more restrictive.
	d := s.Decide(mustProfile(t, s, "analytics-only"), Request{Host: "tie.example", Path: "/"})
	if d.Vendor != "stats-co" || d.Action != Allow {
		t.Errorf("tie across layers: %s %s, want stats-co allow", d.Vendor, d.Action)
	}
	s = compileLayers(t, high, low)
	d = s.Decide(mustProfile(t, s, "analytics-only"), Request{Host: "tie.example", Path: "/"})
	if d.Vendor != "ads-co" || d.Action != BlockEmpty {
		t.Errorf("tie across layers, reversed: %s %s, want ads-co block-empty", d.Vendor, d.Action)
	}
}

func TestMergeServiceTieWithinLayerMostRestrictive(t *testing.T) {
	// Same host pattern, same path specificity, one layer: the service
	// refused by the profile wins, whichever is defined first.
	for _, first := range []string{"analytics", "advertising"} {
		second := "advertising"
		if first == "advertising" {
			second = "analytics"
		}
		s := compileLayers(t, parseText(t, "tie.yaml", `
			version: 1
			vendors:
			  - id: one
			    services: [{name: a, category: `+first+`, kind: script, hosts: [tie.example], paths: [/x]}]
			  - id: two
			    services: [{name: b, category: `+second+`, kind: script, hosts: [tie.example], paths: ["/x*"]}]
		`))
		r := Request{Host: "tie.example", Path: "/x"}
		if d := s.Decide(mustProfile(t, s, "analytics-only"), r); d.Category != Advertising || d.Action != BlockEmpty {
			t.Errorf("%s first: analytics-only got %s %s, want the refused advertising service", first, d.Category, d.Action)
		}
		// When both are allowed, the first defined is chosen (deterministic).
		if d := s.Decide(mustProfile(t, s, "accept-all"), r); d.Category != Category(first) || d.Action != Allow {
			t.Errorf("%s first: accept-all got %s %s, want %s allow", first, d.Category, d.Action, first)
		}
	}
}

func TestMergeVendorRedefined(t *testing.T) {
	s := compileLayers(t,
		parseText(t, "low.yaml", `
			version: 1
			vendors:
			  - id: acme
			    name: Acme
			    gvl_id: 7
			    sources: [low]
			    services:
			      - {name: tag, category: analytics, kind: script, hosts: [tag.acme.example]}
			      - {name: px, category: advertising, kind: pixel, hosts: [px.acme.example]}
		`),
		parseText(t, "high.yaml", `
			version: 1
			vendors:
			  - id: acme
			    name: Acme Corp
			    sources: [high]
			    services:
			      - {name: px, category: marketing, kind: pixel, hosts: [px.acme.example]}
			      - {name: sync, category: advertising, kind: sync, hosts: [sync.acme.example]}
		`))
	v, ok := s.Vendor("acme")
	if !ok {
		t.Fatal("no vendor acme")
	}
	if v.Name != "Acme Corp" || v.GVLID != 7 || !reflect.DeepEqual(v.Sources, []string{"low", "high"}) {
		t.Errorf("vendor = %q gvl %d sources %v, want later name, kept gvl_id, both sources", v.Name, v.GVLID, v.Sources)
	}
	var got []string
	for _, svc := range v.Services {
		got = append(got, svc.Name+":"+string(svc.Category)+"@"+svc.Origin.String())
	}
	want := []string{"tag:analytics@low.yaml:8", "px:marketing@high.yaml:7", "sync:advertising@high.yaml:8"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("services = %v, want %v (accumulated; same name replaced)", got, want)
	}
	p := mustProfile(t, s, "reject-all")
	if d := s.Decide(p, Request{Host: "px.acme.example", Path: "/"}); d.Category != Marketing || d.VendorName != "Acme Corp" {
		t.Errorf("replaced service decides %s by %q", d.Category, d.VendorName)
	}
	if d := s.Decide(p, Request{Host: "tag.acme.example", Path: "/"}); d.Service != "tag" {
		t.Errorf("earlier service lost: %+v", d)
	}
}

func TestMergeCookieRuleLaterWins(t *testing.T) {
	s := compileLayers(t,
		parseText(t, "low.yaml", `
			version: 1
			cookies:
			  - {names: [sid, "pref_*"], category: analytics}
			  - {names: [sid], category: analytics, domains: [shop.example]}
		`),
		parseText(t, "high.yaml", `
			version: 1
			cookies:
			  - {names: [sid], category: essential}
			  - {names: ["pref_*"], category: functional}
		`))
	p := mustProfile(t, s, "reject-all")
	for _, tc := range []struct {
		host, name string
		cat        Category
		origin     string
	}{
		{"x.example", "sid", Essential, "high.yaml:3"},        // same pattern, no domains: replaced
		{"shop.example", "sid", Analytics, "low.yaml:4"},      // other scope: kept, and scoped beats unscoped
		{"x.example", "pref_lang", Functional, "high.yaml:4"}, // glob replaced
	} {
		r := Request{Host: tc.host, Path: "/", Context: FirstParty}
		v := s.JudgeCookie(p, r, s.Decide(p, r), tc.name)
		if v.Category != tc.cat || v.Origin.String() != tc.origin {
			t.Errorf("%s on %s: %s from %s, want %s from %s", tc.name, tc.host, v.Category, v.Origin, tc.cat, tc.origin)
		}
	}
	if n := s.Counts().CookiePatterns; n != 3 {
		t.Errorf("CookiePatterns = %d, want 3 (replaced entries are gone)", n)
	}
}

// TestMergeCookieTieAcrossLayers: equally specific rules of different
// patterns in two layers: the later layer wins.
func TestMergeCookieTieAcrossLayers(t *testing.T) {
	s := compileLayers(t,
		parseText(t, "low.yaml", `
			version: 1
			cookies: [{names: ["ab*c"], category: advertising}]
		`),
		parseText(t, "high.yaml", `
			version: 1
			cookies: [{names: ["ab*d"], category: analytics}, {names: ["abc*"], category: functional}]
		`))
	p := mustProfile(t, s, "accept-all")
	r := Request{Host: "x.example", Path: "/"}
	// "abc*" has the longer prefix; "ab*c" and "ab*d" tie but only one matches each.
	for name, want := range map[string]Category{"abxc": Advertising, "abxd": Analytics, "abcd": Functional} {
		if v := s.JudgeCookie(p, r, Decision{}, name); v.Category != want {
			t.Errorf("%s: %s, want %s", name, v.Category, want)
		}
	}
}

func TestMergeCookieTieWithinLayerMostRestrictive(t *testing.T) {
	s := compileLayers(t, parseText(t, "one.yaml", `
		version: 1
		cookies:
		  - {names: [tok], category: analytics, domains: [a.example]}
		  - {names: [tok], category: advertising, domains: [a.example, b.example]}
	`))
	p := mustProfile(t, s, "analytics-only")
	r := Request{Host: "a.example", Path: "/"}
	if v := s.JudgeCookie(p, r, Decision{}, "tok"); v.Category != Advertising || v.Keep {
		t.Errorf("tie within a layer: %s keep %v, want the refused advertising rule", v.Category, v.Keep)
	}
}

func TestMergeProfilesAndCategories(t *testing.T) {
	s := compileLayers(t,
		parseText(t, "cats.yaml", `
			version: 1
			categories:
			  - {name: security, description: Bot detection}
		`),
		parseText(t, "user.yaml", `
			version: 1
			categories:
			  - {name: security, description: Fraud prevention}
			profiles:
			  - name: reject-all
			    description: mine
			    allow: [security]
			    unknown_cookies: strip
		`),
		// A layer built by hand, as the config file's profiles are.
		&File{Name: "config.yaml", Profiles: []ProfileSpec{{
			Name: "qa", Allow: []string{"analytics", "security"}, OnDenied: "strip", GPC: true,
			Origin: Origin{"config.yaml", 12},
		}}},
	)
	p := mustProfile(t, s, "reject-all")
	if p.Description != "mine" || p.UnknownCookies != CookieStrip || !p.Allows("security") || p.Origin.String() != "user.yaml:5" {
		t.Errorf("replaced profile: %+v", p)
	}
	qa := mustProfile(t, s, "qa")
	if !qa.Allows(Analytics) || !qa.Allows("security") || qa.Allows(Advertising) || !qa.Allows(Essential) || qa.OnDenied != DeniedStrip || !qa.GPC {
		t.Errorf("config profile: %+v", qa)
	}
	if got := qa.AllowedCategories(); !reflect.DeepEqual(got, []Category{Essential, Analytics, "security"}) {
		t.Errorf("AllowedCategories = %v", got)
	}
	var desc string
	for _, c := range s.Categories() {
		if c.Name == "security" {
			desc = c.Description
		}
	}
	if desc != "Fraud prevention" {
		t.Errorf("security description = %q, want the later layer's", desc)
	}
	if got := s.ProfileNames(); !reflect.DeepEqual(got, []string{"accept-all", "analytics-only", "qa", "reject-all"}) {
		t.Errorf("ProfileNames = %v", got)
	}
	if got := s.Layers(); !reflect.DeepEqual(got, []string{"builtin", "cats.yaml", "user.yaml", "config.yaml"}) {
		t.Errorf("Layers = %v", got)
	}
}

// TestCompileHandBuiltLayer: a File built in code gets the parser's checks,
// with errors at each item's origin.
func TestCompileHandBuiltLayer(t *testing.T) {
	_, err := Compile(builtinProfiles(t), &File{Name: "config.yaml", Profiles: []ProfileSpec{
		{Name: "qa", Allow: []string{"analytcs"}, UnknownCookies: "maybe", Origin: Origin{"config.yaml", 12}},
		{Name: "Bad Name", Origin: Origin{"config.yaml", 20}},
		{Name: "v", Vendors: map[string]string{"nobody": "deny"}, VendorOrigins: map[string]Origin{"nobody": {"config.yaml", 31}}, Origin: Origin{"config.yaml", 30}},
		{Name: "qa", Origin: Origin{"config.yaml", 40}},
	}, Vendors: []VendorSpec{{ID: "x", Services: []ServiceSpec{{Name: "s", Category: "analytics", Kind: "script", Hosts: []string{"HTTP://x"}, Origin: Origin{"config.yaml", 50}}}}}})
	if err == nil {
		t.Fatal("Compile accepted a bad hand-built layer")
	}
	want := []string{
		`config.yaml:12: unknown_cookies "maybe" must be allow or strip`,
		`config.yaml:12: profile "qa": unknown category "analytcs" (did you mean "analytics"?)`,
		`config.yaml:20: profile name "Bad Name"`,
		`config.yaml:31: profile "v": unknown vendor "nobody"`,
		`config.yaml:40: profile "qa" is defined twice (first at line 12)`,
		`config.yaml:50: host pattern "HTTP://x" is a URL`,
	}
	got := leaves(err)
	if len(got) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(got), len(want), err)
	}
	for i := range want {
		if !strings.HasPrefix(got[i].Error(), want[i]) {
			t.Errorf("error %d = %q\nwant prefix %q", i, got[i], want[i])
		}
	}
}

// TestCompileLayerOfSeveralFiles: ids repeated across the files of one
// layer (as the built-in layer is) are errors, citing both files.
func TestCompileLayerOfSeveralFiles(t *testing.T) {
	a := parseText(t, "builtin/a.yaml", `
		version: 1
		vendors: [{id: acme, services: [{name: s, category: analytics, kind: script, hosts: [acme.example]}]}]
		cookies: [{names: [acme_id], category: analytics}]
	`)
	b := parseText(t, "builtin/b.yaml", `
		version: 1
		vendors: [{id: acme}]
		cookies: [{names: [acme_id], category: advertising}]
	`)
	layer := &File{Name: "builtin"}
	for _, f := range []*File{a, b} {
		layer.Vendors = append(layer.Vendors, f.Vendors...)
		layer.Cookies = append(layer.Cookies, f.Cookies...)
	}
	_, err := Compile(layer)
	if err == nil {
		t.Fatal("Compile accepted a vendor defined in two files of one layer")
	}
	for _, want := range []string{
		`builtin/b.yaml:2: vendor "acme" is defined twice (first at builtin/a.yaml:2)`,
		`builtin/b.yaml:3: cookie "acme_id" is already categorised (first at builtin/a.yaml:3)`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}

func TestBuiltinProfiles(t *testing.T) {
	b, err := Builtin()
	if err != nil {
		t.Fatalf("Builtin: %v", err)
	}
	if b.Name != BuiltinLayer {
		t.Errorf("layer name %q", b.Name)
	}
	s, err := Compile(b)
	if err != nil {
		t.Fatalf("Compile(Builtin()): %v", err)
	}
	all := []Category{Analytics, Advertising, Marketing, Social, Functional}
	for _, tc := range []struct {
		name    string
		allowed []Category
	}{
		{"reject-all", nil},
		{"accept-all", all},
		{"analytics-only", []Category{Analytics}},
	} {
		p := mustProfile(t, s, tc.name)
		if !strings.HasPrefix(p.Origin.File, "builtin/") || p.Origin.Line == 0 {
			t.Errorf("%s origin %s, want builtin/...:line", tc.name, p.Origin)
		}
		if p.UnknownCookies != CookieAllow || p.OnDenied != DeniedBlock || p.GPC || p.DNT || len(p.VendorOverrides()) != 0 {
			t.Errorf("%s: %+v", tc.name, p)
		}
		for _, c := range append([]Category{Essential}, all...) {
			want := c == Essential
			for _, a := range tc.allowed {
				want = want || a == c
			}
			if p.Allows(c) != want {
				t.Errorf("%s.Allows(%s) = %v, want %v", tc.name, c, !want, want)
			}
		}
	}
	for _, f := range BuiltinFiles() {
		if !strings.HasPrefix(f, "builtin/") || !strings.HasSuffix(f, ".yaml") {
			t.Errorf("BuiltinFiles lists %q", f)
		}
	}
}
