package consent

import (
	"reflect"
	"strings"
	"testing"
)

func TestStateCookies(t *testing.T) {
	set := builtinSet(t)
	st := stateOf(t, set, "analytics-only")
	cookies, err := st.Cookies("shop.example", testEnv())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	byName := map[string]Cookie{}
	for _, c := range cookies {
		names = append(names, c.Name)
		byName[c.Name] = c
	}
	want := []string{"OptanonConsent", "OptanonAlertBoxClosed", "CookieConsent", "euconsent-v2", "__gpp", "__gpp_sid"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("cookies %v, want %v", names, want)
	}
	tc, err := DecodeTC(byName["euconsent-v2"].Value)
	if err != nil {
		t.Fatal(err)
	}
	day := testNow.Truncate(24 * 60 * 60 * 1e9)
	if !tc.Created.Equal(day) || !tc.LastUpdated.Equal(day) || tc.CmpID != 2 || tc.CmpVersion != 1 || tc.ConsentScreen != 1 ||
		tc.ConsentLanguage != "EN" || tc.PublisherCC != "AA" || tc.VendorListVersion != 140 || tc.PolicyVersion != 5 ||
		!tc.IsServiceSpecific || tc.PurposeOneTreatment || tc.UseNonStandardTexts {
		t.Errorf("TC string core fields %+v", tc)
	}
	eq(t, "purposes", tc.PurposesConsent, []int{1, 8, 9, 10})
	eq(t, "LI purposes", tc.PurposesLITransparency, []int{8, 9, 10})
	eq(t, "vendors", tc.VendorConsents, []int{1126})
	eq(t, "segments", tc.Segments, []string{"core", "disclosed-vendors"})
	if len(tc.DisclosedVendors) != 18 {
		t.Errorf("disclosed %v, want the 18 GVL vendors", tc.DisclosedVendors)
	}
	g, err := DecodeGPP(byName["__gpp"].Value)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(byName["__gpp"].Value, "DBABMA~") || g.TCF() == nil || !reflect.DeepEqual(g.TCF().PurposesConsent, []int{1, 8, 9, 10}) {
		t.Errorf("gpp %s decodes to %+v", byName["__gpp"].Value, g)
	}
	if byName["__gpp_sid"].Value != "2" {
		t.Errorf("__gpp_sid = %s, want 2", byName["__gpp_sid"].Value)
	}
	ot, _ := ParseOptanonConsent(byName["OptanonConsent"].Value)
	eq(t, "onetrust groups", ot.Groups, []GroupConsent{{"C0001", true}, {"C0002", true}, {"C0003", false}, {"C0004", false}, {"C0005", false}})
}

func TestStateSiteOverrides(t *testing.T) {
	set := builtinSet(t, parseRules(t, `
version: 1
profiles:
  - name: qa
    allow: [analytics, social]
    consent_state:
      formats: [onetrust, tcf]
      enforce: true
      onetrust: {groups: {social: C0009}, version: "6.34.0"}
      tcf: {cookie: eupubconsent-v2, cmp_id: 28, publisher_cc: de}
      sites:
        shop.example:
          onetrust: {groups: {analytics: C0007}}
          tcf: {cmp_id: 300, vendor_list_version: 200}
        quiet.example:
          formats: []
`))
	st := stateOf(t, set, "qa")
	base := st.Settings("other.example")
	if !base.Enforce || base.TCF.Cookie != "eupubconsent-v2" || base.TCF.CmpID != 28 || base.TCF.PublisherCC != "DE" ||
		base.TCF.VendorListVersion != 140 || base.OneTrust.Version != "6.34.0" || base.OneTrust.Groups["social"] != "C0009" ||
		base.OneTrust.Groups["analytics"] != "C0002" {
		t.Errorf("profile settings %+v", base)
	}
	shop := st.Settings("shop.example")
	if shop.TCF.CmpID != 300 || shop.TCF.VendorListVersion != 200 || shop.TCF.Cookie != "eupubconsent-v2" ||
		shop.OneTrust.Groups["analytics"] != "C0007" || shop.OneTrust.Groups["social"] != "C0009" || !reflect.DeepEqual(shop.Formats, []Format{OneTrust, TCF}) {
		t.Errorf("shop settings %+v", shop)
	}
	cookies, _ := st.Cookies("shop.example", testEnv())
	ot, _ := ParseOptanonConsent(cookies[0].Value)
	eq(t, "shop groups", ot.Groups, []GroupConsent{{"C0001", true}, {"C0003", false}, {"C0004", false}, {"C0007", true}, {"C0009", true}})
	tc, _ := DecodeTC(cookies[2].Value)
	if cookies[2].Name != "eupubconsent-v2" || tc.CmpID != 300 {
		t.Errorf("shop TC cookie %s cmp %d", cookies[2].Name, tc.CmpID)
	}
	if quiet, _ := st.Cookies("quiet.example", testEnv()); len(quiet) != 0 {
		t.Errorf("quiet.example: %d cookies, want none (formats: [])", len(quiet))
	}
	// A profile without consent_state has no State.
	set = builtinSet(t, parseRules(t, "version: 1\nprofiles:\n  - name: bare\n"))
	p, _ := set.Profile("bare")
	if _, ok := NewState(set, p); ok {
		t.Error("NewState ok for a profile without consent_state")
	}
}

func TestSetCookie(t *testing.T) {
	c := Cookie{Name: "euconsent-v2", Value: "CQ"}
	for _, tc := range []struct {
		site   string
		secure bool
		want   string
	}{
		{"shop.example", true, "euconsent-v2=CQ; Domain=shop.example; Path=/; Max-Age=31536000; SameSite=Lax; Secure"},
		{"shop.example.co.uk", false, "euconsent-v2=CQ; Domain=shop.example.co.uk; Path=/; Max-Age=31536000; SameSite=Lax"},
		{"127.0.0.1", false, "euconsent-v2=CQ; Path=/; Max-Age=31536000; SameSite=Lax"},
		{"localhost", false, "euconsent-v2=CQ; Path=/; Max-Age=31536000; SameSite=Lax"},
	} {
		if got := c.SetCookie(tc.site, tc.secure); got != tc.want {
			t.Errorf("SetCookie(%s) = %s, want %s", tc.site, got, tc.want)
		}
	}
}

// TestPlan: what is written depends on what the browser already stores and
// on enforce.
func TestPlan(t *testing.T) {
	set := builtinSet(t, parseRules(t, `
version: 1
profiles:
  - name: analytics-enforced
    allow: [analytics]
    consent_state: {formats: [onetrust, cookiebot, tcf, gpp], enforce: true}
`))
	kind := stateOf(t, set, "analytics-only")
	enforced := stateOf(t, set, "analytics-enforced")
	ours, _ := kind.Cookies("shop.example", testEnv())
	value := func(name string) string {
		for _, c := range ours {
			if c.Name == name {
				return c.Value
			}
		}
		t.Fatalf("no cookie %s", name)
		return ""
	}
	acceptAll := stateOf(t, set, "accept-all")
	theirs, _ := acceptAll.Cookies("shop.example", testEnv())
	other := func(name string) string {
		for _, c := range theirs {
			if c.Name == name {
				return c.Value
			}
		}
		return ""
	}
	preClick := "isGpcEnabled=0&datestamp=x&version=202310.2.0&interactionCount=0&landingPath=https%3A%2F%2Fshop.example%2F&groups=C0001%3A1%2CC0002%3A0"
	tests := []struct {
		name  string
		st    *State
		jar   map[string]string
		write map[string]bool // name → Replace
	}{
		{"empty jar: everything", kind, nil, map[string]bool{
			"OptanonConsent": false, "OptanonAlertBoxClosed": false, "CookieConsent": false, "euconsent-v2": false, "__gpp": false, "__gpp_sid": false}},
		{"same choice stored: nothing", kind, map[string]string{
			"OptanonConsent": value("OptanonConsent"), "OptanonAlertBoxClosed": "2024-01-01T00:00:00.000Z", "CookieConsent": value("CookieConsent"),
			"euconsent-v2": value("euconsent-v2"), "__gpp": value("__gpp"), "__gpp_sid": "2"}, map[string]bool{}},
		{"same choice, companions missing: only companions", kind, map[string]string{
			"OptanonConsent": value("OptanonConsent"), "__gpp": value("__gpp")}, map[string]bool{
			"OptanonAlertBoxClosed": false, "CookieConsent": false, "euconsent-v2": false, "__gpp_sid": false}},
		{"another choice stored: kept without enforce", kind, map[string]string{
			"OptanonConsent": other("OptanonConsent"), "OptanonAlertBoxClosed": "2024-01-01T00:00:00.000Z", "CookieConsent": other("CookieConsent"),
			"euconsent-v2": other("euconsent-v2"), "__gpp": other("__gpp"), "__gpp_sid": "2"}, map[string]bool{}},
		{"another choice stored: replaced with enforce", enforced, map[string]string{
			"OptanonConsent": other("OptanonConsent"), "OptanonAlertBoxClosed": "2024-01-01T00:00:00.000Z", "CookieConsent": other("CookieConsent"),
			"euconsent-v2": other("euconsent-v2"), "__gpp": other("__gpp"), "__gpp_sid": "2"}, map[string]bool{
			"OptanonConsent": true, "OptanonAlertBoxClosed": true, "CookieConsent": true, "euconsent-v2": true, "__gpp": true, "__gpp_sid": true}},
		{"no choice yet (defaults, implied, garbage): replaced", kind, map[string]string{
			"OptanonConsent": preClick,
			"CookieConsent":  "{stamp:%27-1%27%2Cnecessary:true%2Cpreferences:true%2Cstatistics:true%2Cmarketing:true%2Cmethod:%27implied%27%2Cver:1%2Cutc:1%2Cregion:%27de%27}",
			"euconsent-v2":   "not-a-tc-string", "__gpp": "~"}, map[string]bool{
			"OptanonConsent": true, "OptanonAlertBoxClosed": false, "CookieConsent": true, "euconsent-v2": true, "__gpp": true, "__gpp_sid": false}},
		{"OneTrust answered in another way, banner closed: kept", kind, map[string]string{
			"OptanonConsent": strings.Replace(preClick, "interactionCount=0", "interactionCount=2", 1)}, map[string]bool{
			"CookieConsent": false, "euconsent-v2": false, "__gpp": false, "__gpp_sid": false}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			jar := func(name string) (string, bool) {
				v, ok := tc.jar[name]
				return v, ok
			}
			writes, err := tc.st.Plan("shop.example", jar, testEnv())
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]bool{}
			for _, w := range writes {
				got[w.Name] = w.Replace
			}
			if !reflect.DeepEqual(got, tc.write) {
				t.Errorf("writes %v, want %v", got, tc.write)
			}
		})
	}
}

// TestPlanKnownVendorsOnly: a CMP's accept-all lists hundreds of vendors the
// rule set does not know; the choice about the known ones is what counts.
func TestPlanKnownVendorsOnly(t *testing.T) {
	set := builtinSet(t)
	st := stateOf(t, set, "accept-all")
	tc := st.TCString("shop.example", testNow)
	tc.VendorConsents = append(tc.VendorConsents, 4000, 4001)
	tc.CmpID, tc.VendorListVersion = 28, 150
	v, err := EncodeTC(tc)
	if err != nil {
		t.Fatal(err)
	}
	writes, _ := st.Plan("shop.example", func(n string) (string, bool) {
		if n == "euconsent-v2" {
			return v, true
		}
		return "", false
	}, testEnv())
	for _, w := range writes {
		if w.Name == "euconsent-v2" {
			t.Errorf("the stored TC string was judged a different choice")
		}
	}
}
