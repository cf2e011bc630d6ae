package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseConsentState(t *testing.T) {
	src := `profiles:
  - name: tester
    consent_state:
      formats: [onetrust, tcf]
      enforce: true
      onetrust:
        groups: {analytics: C0002, social: "5"}
        version: 6.34
      cookiebot: {region: us-06}
      tcf: {cookie: eupubconsent-v2, cmp_id: 300, cmp_version: 2, consent_screen: 3, consent_language: EN, publisher_cc: DE, vendor_list_version: 200, policy_version: 5}
      gpp: {cookie: g, sid_cookie: gs}
      sites:
        shop.example:
          onetrust: {groups: {analytics: C0007}}
        quiet.example:
          formats: []
`
	cfg, err := Parse("x.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	got := cfg.Profiles[0].ConsentState
	want := &ConsentState{
		ConsentSettings: ConsentSettings{
			Formats:   []string{"onetrust", "tcf"},
			OneTrust:  OneTrustState{Groups: map[string]string{"analytics": "C0002", "social": "5"}, Version: "6.34"},
			Cookiebot: CookiebotState{Region: "us-06"},
			TCF: TCFState{Cookie: "eupubconsent-v2", CmpID: 300, CmpVersion: 2, ConsentScreen: 3, ConsentLanguage: "EN",
				PublisherCC: "DE", VendorListVersion: 200, PolicyVersion: 5},
			GPP: GPPState{Cookie: "g", SIDCookie: "gs"},
		},
		Enforce: true,
		Sites: []ConsentSite{
			{Site: "shop.example", Line: 13, ConsentSettings: ConsentSettings{OneTrust: OneTrustState{Groups: map[string]string{"analytics": "C0007"}}}},
			{Site: "quiet.example", Line: 15, ConsentSettings: ConsentSettings{Formats: []string{}}},
		},
		Line: 4,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("consent_state = %+v\nwant %+v", got, want)
	}
	if got.Sites[0].Formats != nil || got.Sites[1].Formats == nil {
		t.Error("a site's formats: nil (inherit) and [] (nothing) must differ")
	}
	for key, line := range map[string]int{
		"profiles[0].consent_state":                                              3,
		"profiles[0].consent_state.tcf.cmp_id":                                   10,
		"profiles[0].consent_state.sites.shop.example":                           13,
		"profiles[0].consent_state.sites.shop.example.onetrust.groups.analytics": 14,
	} {
		if o := cfg.Origin(key); o.Line != line {
			t.Errorf("Origin(%s) = %+v, want line %d", key, o, line)
		}
	}
	if cfg.Profiles[0].ConsentState == nil {
		t.Fatal("lost")
	}
	// A profile without consent_state has none, and null is none too.
	cfg, err = Parse("x.yaml", []byte("profiles:\n  - name: a\n  - name: b\n    consent_state:\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range cfg.Profiles {
		if p.ConsentState != nil {
			t.Errorf("%s: consent_state %+v, want nil", p.Name, p.ConsentState)
		}
	}
}

func TestConsentStateErrors(t *testing.T) {
	const head = "profiles:\n  - name: a\n    consent_state:\n"
	tests := []struct {
		name, src string
		want      []string
	}{
		{"unknown key", "      formatz: [tcf]\n",
			[]string{`x.yaml:4: unknown key "formatz" in profiles[0].consent_state (did you mean "formats"?)`}},
		{"unknown tcf key", "      tcf:\n        cmpid: 3\n",
			[]string{`x.yaml:5: unknown key "cmpid" in profiles[0].consent_state.tcf (did you mean "cmp_id"?)`}},
		{"tcf int range", "      tcf:\n        cmp_id: 1\n        policy_version: 3\n",
			[]string{
				`x.yaml:5: profiles[0].consent_state.tcf.cmp_id: 1 must be from 2 to 4095 (leave the key out for the default)`,
				`x.yaml:6: profiles[0].consent_state.tcf.policy_version: 3 must be from 4 to 63 (leave the key out for the default)`,
			}},
		{"tcf int type", "      tcf: {vendor_list_version: many}\n",
			[]string{`x.yaml:4: profiles[0].consent_state.tcf.vendor_list_version: "many" is not an integer`}},
		{"enforce type", "      enforce: sometimes\n",
			[]string{`x.yaml:4: profiles[0].consent_state.enforce: "sometimes" is not a boolean (use true or false)`}},
		{"enforce per site", "      sites:\n        shop.example: {enforce: true}\n",
			[]string{`x.yaml:5: profiles[0].consent_state.sites.shop.example.enforce: enforce applies to the whole profile; set it next to sites, not per site`}},
		{"sites a list", "      sites: [shop.example]\n",
			[]string{`x.yaml:4: profiles[0].consent_state.sites: want a mapping (key: value), got a list`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := parseErr(t, head+tc.src)
			if want := strings.Join(tc.want, "\n"); got != want {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestValidateConsentState(t *testing.T) {
	src := `profiles:
  - name: a
    consent_state:
      formats: [tcf, cookiebott, tcf]
      onetrust:
        groups: {Analytics: "C 2"}
      tcf: {consent_language: ENG, cookie: "a b"}
      sites:
        Shop.Example: {}
`
	cfg, err := Parse("x.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	err = cfg.Validate()
	if err == nil {
		t.Fatal("Validate: no error")
	}
	want := []string{
		`x.yaml:4: profiles[0].consent_state.formats[1]: unknown format "cookiebott" (did you mean "cookiebot"?); formats: onetrust, cookiebot, tcf, gpp`,
		`x.yaml:4: profiles[0].consent_state.formats[2]: format "tcf" is listed twice`,
		`x.yaml:6: profiles[0].consent_state.onetrust.groups.Analytics: "Analytics" is not a category name (lower-case letters, digits, - and _, e.g. analytics)`,
		`x.yaml:6: profiles[0].consent_state.onetrust.groups.Analytics: OneTrust group id "C 2" must be 1 to 64 letters, digits, - or _ (e.g. C0002)`,
		`x.yaml:7: profiles[0].consent_state.tcf.consent_language: "ENG" must be two letters (e.g. EN, DE)`,
		`x.yaml:7: profiles[0].consent_state.tcf.cookie: "a b" is not a cookie name (letters, digits and !#$%&'*+-.^_` + "`" + `|~)`,
		`x.yaml:9: profiles[0].consent_state.sites.Shop.Example: "Shop.Example" is not a domain; write the registrable domain the cookies are for (e.g. shop.example)`,
	}
	if got := err.Error(); got != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
}
