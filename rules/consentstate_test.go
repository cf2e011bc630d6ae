package rules

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseConsentState(t *testing.T) {
	f := parseText(t, "cs.yaml", `
		version: 1
		profiles:
		  - name: tester
		    allow: [analytics]
		    consent_state:
		      formats: [onetrust, tcf, gpp]
		      enforce: true
		      onetrust:
		        groups: {analytics: C0002, social: C0005}
		        version: 6.34
		      cookiebot: {region: us-06}
		      tcf: {cookie: eupubconsent-v2, cmp_id: 300, cmp_version: 2, consent_screen: 3, consent_language: de, publisher_cc: DE, vendor_list_version: 200, policy_version: 5}
		      gpp: {cookie: my_gpp, sid_cookie: my_gpp_sid}
		      sites:
		        shop.example:
		          onetrust: {groups: {analytics: C0007}}
		        example.co.uk:
		          formats: []
		        blog.example: {}
	`)
	set, err := Compile(f)
	if err != nil {
		t.Fatal(err)
	}
	p := mustProfile(t, set, "tester")
	got, ok := p.ConsentState()
	if !ok {
		t.Fatal("ConsentState: no consent_state")
	}
	want := ConsentSettings{
		Formats:   []string{"onetrust", "tcf", "gpp"},
		OneTrust:  OneTrustSpec{Groups: map[string]string{"analytics": "C0002", "social": "C0005"}, Version: "6.34"},
		Cookiebot: CookiebotSpec{Region: "us-06"},
		TCF: TCFSpec{Cookie: "eupubconsent-v2", CmpID: 300, CmpVersion: 2, ConsentScreen: 3, ConsentLanguage: "de",
			PublisherCC: "DE", VendorListVersion: 200, PolicyVersion: 5},
		GPP: GPPSpec{Cookie: "my_gpp", SIDCookie: "my_gpp_sid"},
	}
	if !reflect.DeepEqual(got.ConsentSettings, want) {
		t.Errorf("settings = %+v\nwant %+v", got.ConsentSettings, want)
	}
	if !got.Enforce {
		t.Error("enforce: false, want true")
	}
	if got.Origin.String() != "cs.yaml:6" {
		t.Errorf("origin = %s, want cs.yaml:6", got.Origin)
	}
	if o := got.Origins["sites.shop.example.onetrust.groups.analytics"]; o.Line != 16 {
		t.Errorf("origin of the site's group = %s, want line 16", o)
	}
	if len(got.Sites) != 3 {
		t.Fatalf("sites = %+v, want 3 in file order", got.Sites)
	}
	wantSites := []ConsentSiteSpec{
		{Site: "shop.example", ConsentSettings: ConsentSettings{OneTrust: OneTrustSpec{Groups: map[string]string{"analytics": "C0007"}}}},
		{Site: "example.co.uk", ConsentSettings: ConsentSettings{Formats: []string{}}},
		{Site: "blog.example"},
	}
	if !reflect.DeepEqual(got.Sites, wantSites) {
		t.Errorf("sites = %+v\nwant %+v", got.Sites, wantSites)
	}
	// nil (inherit) and empty (write nothing) must stay apart through copies.
	if got.Sites[1].Formats == nil || got.Sites[2].Formats != nil {
		t.Errorf("formats nil/empty lost: news=%#v blog=%#v", got.Sites[1].Formats, got.Sites[2].Formats)
	}
	// The copy is deep: changing it changes nothing in the profile.
	got.OneTrust.Groups["analytics"] = "X"
	got.Sites[0].OneTrust.Groups["analytics"] = "X"
	again, _ := p.ConsentState()
	if again.OneTrust.Groups["analytics"] != "C0002" || again.Sites[0].OneTrust.Groups["analytics"] != "C0007" {
		t.Error("ConsentState returned shared maps")
	}
	if spec := p.Spec(); spec.ConsentState == nil || spec.ConsentState.TCF.CmpID != 300 {
		t.Errorf("Spec().ConsentState = %+v", spec.ConsentState)
	}
	if _, ok := mustProfile(t, set, "tester").ConsentState(); !ok {
		t.Error("lost")
	}
}

func TestConsentStateAbsent(t *testing.T) {
	f := parseText(t, "none.yaml", `
		version: 1
		profiles:
		  - name: plain
		    allow: []
		  - name: null-state
		    consent_state:
	`)
	set, err := Compile(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"plain", "null-state"} {
		if _, ok := mustProfile(t, set, name).ConsentState(); ok {
			t.Errorf("%s: ConsentState ok, want none", name)
		}
	}
}

// TestCompileChecksHandBuiltConsentState: a layer built by hand (the config
// file's profiles) gets the parser's checks, at the origins it gives.
func TestCompileChecksHandBuiltConsentState(t *testing.T) {
	o := Origin{File: "config.yaml", Line: 20}
	cs := &ConsentStateSpec{
		ConsentSettings: ConsentSettings{
			Formats:  []string{"tcf", "iab"},
			OneTrust: OneTrustSpec{Groups: map[string]string{"analytix": "C0002"}},
			TCF:      TCFSpec{CmpID: 5000},
		},
		Sites:   []ConsentSiteSpec{{Site: "www.shop.example"}, {Site: "a.example"}, {Site: "a.example"}},
		Origin:  o,
		Origins: map[string]Origin{"tcf.cmp_id": {File: "config.yaml", Line: 27}},
	}
	_, err := Compile(&File{Name: "config", Profiles: []ProfileSpec{{Name: "x", ConsentState: cs, Origin: o}}})
	if err == nil {
		t.Fatal("no error")
	}
	var got []string
	for _, e := range leaves(err) {
		got = append(got, e.Error())
	}
	want := []string{
		`config.yaml:20: consent_state: unknown format "iab"; formats: onetrust, cookiebot, tcf, gpp`,
		`config.yaml:20: consent_state: site "www.shop.example" is not a registrable domain; write "shop.example" (consent cookies are scoped to the registrable domain)`,
		`config.yaml:20: consent_state: site "a.example" is listed twice (entries 2 and 3)`,
		`config.yaml:20: profile "x" consent_state onetrust.groups: unknown category "analytix" (did you mean "analytics"?); declare it under categories: or use one of: essential, analytics, advertising, marketing, social, functional`,
		`config.yaml:27: consent_state: tcf cmp_id 5000 must be from 2 to 4095`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
