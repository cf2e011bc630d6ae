package consent

import (
	"net/url"
	"reflect"
	"testing"
)

func TestParseGCS(t *testing.T) {
	for in, want := range map[string]GCS{
		"G100": {Denied, Denied},
		"G111": {Granted, Granted},
		"G101": {Denied, Granted},
		"G110": {Granted, Denied},
		"G1--": {NotSet, NotSet},
	} {
		got, err := ParseGCS(in)
		if err != nil || got != want {
			t.Errorf("ParseGCS(%s) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "G1", "G10", "G200", "G1x0", "G1000"} {
		if _, err := ParseGCS(bad); err == nil {
			t.Errorf("ParseGCS(%q): no error", bad)
		}
	}
}

func TestParseGCD(t *testing.T) {
	tests := []struct {
		in     string
		states []string
		codes  string
		digits string
	}{
		{"11p1p1p1p5", []string{Denied, Denied, Denied, Denied}, "pppp", "111115"},
		{"13l3l3l3l1", []string{NotSet, NotSet, NotSet, NotSet}, "llll", "133331"},
		{"11t1t1t1t5", []string{Granted, Granted, Granted, Granted}, "tttt", "111115"},
		{"11r1r1r1r5", []string{Granted, Granted, Granted, Granted}, "rrrr", "111115"},
		{"11q1r1q1q5", []string{Denied, Granted, Denied, Denied}, "qrqq", "111115"},
		{"11u1v1m1n5", []string{Denied, Granted, Denied, Granted}, "uvmn", "111115"},
	}
	for _, tc := range tests {
		g, err := ParseGCD(tc.in)
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		var states []string
		codes := ""
		for _, s := range g.Signals {
			states = append(states, s.State)
			codes += s.Code
		}
		if !reflect.DeepEqual(states, tc.states) || codes != tc.codes || g.Digits != tc.digits {
			t.Errorf("%s: states %v codes %s digits %s; want %v %s %s", tc.in, states, codes, g.Digits, tc.states, tc.codes, tc.digits)
		}
		if g.Signals[0].Name != "ad_storage" || g.Signals[3].Name != "ad_personalization" {
			t.Errorf("%s: names %+v", tc.in, g.Signals)
		}
	}
	r, _ := ParseGCD("11r1p1p1p5")
	if s := r.Signals[0]; s.Default != Denied || s.Update != Granted {
		t.Errorf("r = default %s update %s, want denied then granted", s.Default, s.Update)
	}
	for _, bad := range []string{"", "11", "1xp1p1p1p5", "11z1p1p1p5", "11p", "11pp"} {
		if _, err := ParseGCD(bad); err == nil {
			t.Errorf("ParseGCD(%q): no error", bad)
		}
	}
}

// TestCheck: fake GA4 and ad hits with signals consistent and inconsistent
// with reject-all, analytics-only and accept-all give exactly the expected
// mismatches.
func TestCheck(t *testing.T) {
	set := builtinSet(t)
	tcFor := func(profile string) string {
		s, err := EncodeTC(stateOf(t, set, profile).TCString("", testNow))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	gppFor := func(profile string) string {
		s, err := EncodeGPP(map[int]string{2: tcFor(profile)})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	const google = 755
	tests := []struct {
		profile string
		query   string
		gvlID   int
		want    []Mismatch
	}{
		// GA4 collect hits.
		{"reject-all", "v=2&tid=G-X&gcs=G100&gcd=13p3p3p3p5", 0, nil},
		{"reject-all", "v=2&tid=G-X&gcs=G111&gcd=13t3t3t3t5", 0, []Mismatch{
			{"gcs", "G111", "G100", true},
			{"gcd", "ad_storage=granted analytics_storage=granted ad_user_data=granted ad_personalization=granted",
				"ad_storage=denied analytics_storage=denied ad_user_data=denied ad_personalization=denied", true},
		}},
		{"reject-all", "v=2&gcs=G1--&gcd=13l3l3l3l1", 0, []Mismatch{
			{"gcs", "G1--", "G100", true},
			{"gcd", "ad_storage=not set analytics_storage=not set ad_user_data=not set ad_personalization=not set",
				"ad_storage=denied analytics_storage=denied ad_user_data=denied ad_personalization=denied", true},
		}},
		{"analytics-only", "v=2&gcs=G101&gcd=13q3r3q3q5", 0, nil},
		{"analytics-only", "v=2&gcs=G111&gcd=13r3r3q3q5", 0, []Mismatch{
			{"gcs", "G111", "G101", true},
			{"gcd", "ad_storage=granted", "ad_storage=denied", true},
		}},
		{"analytics-only", "v=2&gcs=G100", 0, []Mismatch{{"gcs", "G100", "G101", false}}},
		{"accept-all", "v=2&gcs=G111&gcd=13v3v3v3v5", 0, nil},
		{"accept-all", "v=2&gcs=G101&gcd=13v3v3p3p5", 0, []Mismatch{
			{"gcs", "G101", "G111", false},
			{"gcd", "ad_user_data=denied ad_personalization=denied", "ad_user_data=granted ad_personalization=granted", false},
		}},
		// Ad hits with IAB signals to Google (GVL 755).
		{"reject-all", "gdpr=1&gdpr_consent=" + tcFor("reject-all") + "&npa=1", google, nil},
		{"reject-all", "gdpr=1&gdpr_consent=" + tcFor("accept-all") + "&npa=0", google, []Mismatch{
			{"npa", "0", "1", true},
			{"gdpr_consent", "consent to purposes 1,2,3,4,5,6,7,8,9,10,11", "no consent to purposes 1,2,3,4,5,6,7,8,9,10,11", true},
			{"gdpr_consent", "consent for vendor 755", "no consent for vendor 755", true},
		}},
		{"reject-all", "gdpr=0&gdpr_consent=" + tcFor("reject-all"), google, []Mismatch{{"gdpr", "0", "1", true}}},
		{"analytics-only", "gdpr=1&gdpr_consent=" + tcFor("analytics-only"), google, nil},
		{"analytics-only", "gdpr=1&gdpr_consent=" + tcFor("reject-all"), 0, []Mismatch{
			{"gdpr_consent", "no consent to purposes 1,8,9,10", "consent to purposes 1,8,9,10", false},
		}},
		{"analytics-only", "gdpr_consent=COtybn4PA_zT4KjACBENAPCIAEBAAECAAIAAAAAAAAAA", 0, []Mismatch{
			{"gdpr_consent", "consent to purposes 2", "no consent to purposes 2", true},
			{"gdpr_consent", "no consent to purposes 1,8,9", "consent to purposes 1,8,9", false},
			{"gdpr_consent", "special features 1 opted in", "no special feature", true},
		}},
		{"accept-all", "gdpr=1&gdpr_consent=" + tcFor("accept-all") + "&npa=0", google, nil},
		{"accept-all", "gdpr=0", google, nil},
		{"reject-all", "gdpr_consent=garbage!", 0, []Mismatch{{"gdpr_consent", "an unreadable TC string", "a TC string", false}}},
		// GPP.
		{"reject-all", "gpp=" + gppFor("reject-all") + "&gpp_sid=2", google, nil},
		{"reject-all", "gpp=" + gppFor("accept-all") + "&gpp_sid=2", google, []Mismatch{
			{"gpp", "consent to purposes 1,2,3,4,5,6,7,8,9,10,11", "no consent to purposes 1,2,3,4,5,6,7,8,9,10,11", true},
			{"gpp", "consent for vendor 755", "no consent for vendor 755", true},
		}},
		{"reject-all", "gpp=DBABLA~BVQqAAAAAgA.QA&gpp_sid=7", 0, []Mismatch{
			{"gpp", "no EU TCF section (sections 7)", "an EU TCF section", true},
			{"gpp_sid", "7", "2 (EU TCF applies)", true},
		}},
		{"accept-all", "gpp=DBABLA~BVQqAAAAAgA.QA&gpp_sid=7", 0, nil},
		// Nothing to check.
		{"reject-all", "v=2&tid=G-X&en=page_view", 0, nil},
	}
	for _, tc := range tests {
		q, err := url.ParseQuery(tc.query)
		if err != nil {
			t.Fatal(err)
		}
		got := choiceOf(t, set, tc.profile).Check(q, tc.gvlID)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s %s:\n got %v\nwant %v", tc.profile, short(tc.query), got, tc.want)
		}
		for _, m := range got {
			if len(m.Claimed) > 120 || len(m.Expected) > 120 {
				t.Errorf("mismatch values must stay short: %+v", m)
			}
		}
	}
}

func TestMismatchString(t *testing.T) {
	m := Mismatch{Param: "gcs", Claimed: "G111", Expected: "G100", Overclaim: true}
	if got := m.String(); got != "gcs: claimed G111, expected G100" {
		t.Errorf("String() = %s", got)
	}
}
