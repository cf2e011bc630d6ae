package consent

import (
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/consentproxy/consentproxy/rules"
)

// Public cookies, as sites' OneTrust and Cookiebot scripts wrote them, in
// request headers committed to public repositories (found with a code
// search for "OptanonConsent=isGpcEnabled=0&datestamp=" and
// "CookieConsent={stamp:%27").
const (
	// OneTrust 202310.2.0 on a French site, with OptanonAlertBoxClosed=2024-01-08T16:40:37.807Z.
	publicOptanon2023 = "isGpcEnabled=0&datestamp=Tue+Jan+09+2024+17%3A20%3A35+GMT%2B0100+(heure+normale+d%E2%80%99Europe+centrale)&version=202310.2.0&browserGpcFlag=0&isIABGlobal=false&hosts=&consentId=627466bc-15a5-4fce-99be-688f3d2fec7b&interactionCount=1&landingPath=NotLandingPage&groups=C0001%3A1%2CC0004%3A1%2CC0002%3A1%2CC0003%3A1%2CV2STACK42%3A1&geolocation=FR%3BGES&AwaitingReconsent=false"
	// OneTrust 202510.2.0, January 2026, with isAnonUser.
	publicOptanon2026    = "isGpcEnabled=0&datestamp=Sat+Jan+31+2026+11%3A54%3A12+GMT%2B0200+(EET)&version=202510.2.0&browserGpcFlag=0&isIABGlobal=false&hosts=&consentId=baaa923f-8e98-46bc-9bee-f87ddb728371&interactionCount=1&isAnonUser=1&landingPath=NotLandingPage&groups=C0001%3A1%2CC0002%3A1%2CC0003%3A1%2CC0004%3A1&AwaitingReconsent=false"
	publicAlertBoxClosed = "2024-01-08T16:40:37.807Z"
	// Cookiebot, explicit consent to everything, region se.
	publicCookieConsent = "{stamp:%27xtFW9hfJwUUeaB64PUUgxmP4CzXwrcaGiW3PX6VSL/UPiGXyTHnb5w==%27%2Cnecessary:true%2Cpreferences:true%2Cstatistics:true%2Cmarketing:true%2Cmethod:%27explicit%27%2Cver:1%2Cutc:1759564151940%2Cregion:%27se%27}"
	// Cookiebot, explicit refusal of all but necessary, region pl.
	publicCookieConsentRefused = "{stamp:%27f+7ywpRuvGmFIujhI+oEbPugblwcsBmNcpD/7RUUNZKavIMY97rzhQ==%27%2Cnecessary:true%2Cpreferences:false%2Cstatistics:false%2Cmarketing:false%2Cmethod:%27explicit%27%2Cver:1%2Cutc:1745620490943%2Cregion:%27pl%27}"
)

func TestOptanonConsentWriter(t *testing.T) {
	set := builtinSet(t)
	c := choiceOf(t, set, "analytics-only")
	groups := OneTrustGroups(c, DefaultOneTrustGroups())
	want := []GroupConsent{{"C0001", true}, {"C0002", true}, {"C0003", false}, {"C0004", false}, {"C0005", false}}
	if !reflect.DeepEqual(groups, want) {
		t.Fatalf("groups = %v, want %v", groups, want)
	}
	got, err := OptanonConsent(groups, "202310.2.0", testNow, &counting{})
	if err != nil {
		t.Fatal(err)
	}
	const wantValue = "isGpcEnabled=0&datestamp=Tue+Jan+09+2024+16%3A20%3A35+GMT%2B0000+(Coordinated+Universal+Time)&version=202310.2.0&browserGpcFlag=0&isIABGlobal=false&hosts=&consentId=00010203-0405-4607-8809-0a0b0c0d0e0f&interactionCount=1&isAnonUser=1&landingPath=NotLandingPage&groups=C0001%3A1%2CC0002%3A1%2CC0003%3A0%2CC0004%3A0%2CC0005%3A0&AwaitingReconsent=false"
	if got != wantValue {
		t.Errorf("OptanonConsent =\n%s\nwant\n%s", got, wantValue)
	}
	// Field for field as OneTrust writes them: the public cookies' fields,
	// less those tied to a place (geolocation), come in the same order.
	ours := fieldNames(got)
	for _, public := range []string{publicOptanon2023, publicOptanon2026} {
		var theirs []string
		for _, f := range fieldNames(public) {
			if f != "geolocation" {
				theirs = append(theirs, f)
			}
		}
		if !isSubsequence(theirs, ours) && !isSubsequence(ours, theirs) {
			t.Errorf("fields %v do not follow OneTrust's order %v", ours, theirs)
		}
	}
	if !reflect.DeepEqual(fieldNames(got), fieldNames(publicOptanon2026)) {
		t.Errorf("fields %v, want those of OneTrust 202510.2.0: %v", fieldNames(got), fieldNames(publicOptanon2026))
	}
	// The escaping is OneTrust's: ":" and "," and "+" escaped, spaces as
	// "+", parentheses raw.
	for _, frag := range []string{"%3A", "%2C", "GMT%2B", "+(", ")&"} {
		if !strings.Contains(got, frag) || !strings.Contains(publicOptanon2023, frag) {
			t.Errorf("escape %q: ours %v, OneTrust's %v", frag, strings.Contains(got, frag), strings.Contains(publicOptanon2023, frag))
		}
	}
	if got := OptanonAlertBoxClosed(testNow); got != "2024-01-09T16:20:35.807Z" || len(got) != len(publicAlertBoxClosed) {
		t.Errorf("OptanonAlertBoxClosed = %s, shaped like %s", got, publicAlertBoxClosed)
	}
}

func fieldNames(form string) []string {
	var out []string
	for _, p := range strings.Split(form, "&") {
		k, _, _ := strings.Cut(p, "=")
		out = append(out, k)
	}
	return out
}

func isSubsequence(sub, of []string) bool {
	i := 0
	for _, x := range of {
		if i < len(sub) && sub[i] == x {
			i++
		}
	}
	return i == len(sub)
}

func TestParseOptanonConsent(t *testing.T) {
	st, err := ParseOptanonConsent(publicOptanon2023)
	if err != nil {
		t.Fatal(err)
	}
	want := []GroupConsent{{"C0001", true}, {"C0004", true}, {"C0002", true}, {"C0003", true}, {"V2STACK42", true}}
	if !reflect.DeepEqual(st.Groups, want) || st.InteractionCount != 1 || st.Version != "202310.2.0" {
		t.Errorf("parsed %+v", st)
	}
	if _, err := ParseOptanonConsent("isGpcEnabled=0&version=1"); err == nil {
		t.Error("a value without groups parsed")
	}
	if _, err := ParseOptanonConsent("groups=C0001%3Ayes"); err == nil {
		t.Error("a group without 0 or 1 parsed")
	}
}

// cookieConsentShape is the shape of Cookiebot's cookie: the public values
// must match it, so ours matching it means the same format.
var cookieConsentShape = regexp.MustCompile(`^\{stamp:%27[A-Za-z0-9+/]{54}==%27%2Cnecessary:true%2Cpreferences:(true|false)%2Cstatistics:(true|false)%2Cmarketing:(true|false)%2Cmethod:%27explicit%27%2Cver:1%2Cutc:[0-9]{13}%2Cregion:%27[a-z]{2}%27\}$`)

func TestCookieConsentWriter(t *testing.T) {
	for _, public := range []string{publicCookieConsent, publicCookieConsentRefused} {
		if !cookieConsentShape.MatchString(public) {
			t.Fatalf("the shape does not match the public cookie %s", public)
		}
	}
	set := builtinSet(t)
	tests := []struct {
		profile string
		want    CookiebotState
	}{
		{"reject-all", CookiebotState{Necessary: true}},
		{"analytics-only", CookiebotState{Necessary: true, Statistics: true}},
		{"accept-all", CookiebotState{Necessary: true, Preferences: true, Statistics: true, Marketing: true}},
	}
	for _, tc := range tests {
		got := CookiebotFor(choiceOf(t, set, tc.profile))
		if got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.profile, got, tc.want)
		}
		v, err := CookieConsent(got, "de", testNow, &counting{})
		if err != nil {
			t.Fatal(err)
		}
		if !cookieConsentShape.MatchString(v) {
			t.Errorf("%s: %s is not shaped like Cookiebot's cookie", tc.profile, v)
		}
		back, err := ParseCookieConsent(v)
		if err != nil {
			t.Fatal(err)
		}
		if back.Preferences != tc.want.Preferences || back.Statistics != tc.want.Statistics || back.Marketing != tc.want.Marketing ||
			back.Method != "explicit" || back.Region != "de" || back.UTC != testNow.UnixMilli() || !back.explicit() {
			t.Errorf("%s: read back %+v", tc.profile, back)
		}
	}
	v, _ := CookieConsent(CookiebotState{Necessary: true, Statistics: true}, "de", testNow, &counting{})
	const want = "{stamp:%27AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJw==%27%2Cnecessary:true%2Cpreferences:false%2Cstatistics:true%2Cmarketing:false%2Cmethod:%27explicit%27%2Cver:1%2Cutc:1704817235807%2Cregion:%27de%27}"
	if v != want {
		t.Errorf("CookieConsent =\n%s\nwant\n%s", v, want)
	}
	st, err := ParseCookieConsent(publicCookieConsentRefused)
	if err != nil || st.Preferences || st.Statistics || st.Marketing || !st.Necessary || st.Region != "pl" || !st.explicit() {
		t.Errorf("public refusal parsed as %+v, %v", st, err)
	}
	implied, err := ParseCookieConsent("{stamp:%27-1%27%2Cnecessary:true%2Cpreferences:true%2Cstatistics:true%2Cmarketing:true%2Cmethod:%27implied%27%2Cver:1%2Cutc:1695456095624%2Cregion:%27CN%27}")
	if err != nil || implied.explicit() {
		t.Errorf("implied consent: %+v, %v; want parsed and not explicit", implied, err)
	}
}

func TestPurposesFor(t *testing.T) {
	set := builtinSet(t)
	tests := []struct {
		profile     string
		consent, li []int
	}{
		{"reject-all", []int{}, []int{}},
		{"analytics-only", []int{1, 8, 9, 10}, []int{8, 9, 10}},
		{"accept-all", []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, []int{2, 7, 8, 9, 10, 11}},
	}
	for _, tc := range tests {
		c := choiceOf(t, set, tc.profile)
		if !reflect.DeepEqual(c.Purposes, tc.consent) || !reflect.DeepEqual(c.LIPurposes, tc.li) {
			t.Errorf("%s: purposes %v, LI %v; want %v, %v", tc.profile, c.Purposes, c.LIPurposes, tc.consent, tc.li)
		}
	}
	only := func(cats ...rules.Category) func(rules.Category) bool {
		return func(c rules.Category) bool {
			for _, x := range cats {
				if x == c {
					return true
				}
			}
			return false
		}
	}
	for _, tc := range []struct {
		cats []rules.Category
		want []int
	}{
		{[]rules.Category{rules.Marketing}, []int{1, 3, 7}},
		{[]rules.Category{rules.Functional}, []int{1, 5, 6, 11}},
		{[]rules.Category{rules.Social}, []int{1}},
		{[]rules.Category{rules.Advertising}, []int{1, 2, 3, 4, 7}},
	} {
		if got, _ := PurposesFor(only(tc.cats...)); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%v: purposes %v, want %v", tc.cats, got, tc.want)
		}
	}
}

func TestChoiceVendors(t *testing.T) {
	set := builtinSet(t, parseRules(t, `
version: 1
profiles:
  - name: criteo-too
    allow: [analytics]
    vendors: {criteo: allow, google: deny}
  - name: ads-but-not-google
    allow: [advertising, marketing]
    vendors: {google: deny}
`))
	if c := choiceOf(t, set, "reject-all"); len(c.Vendors) != 0 || len(c.Disclosed) != 18 {
		t.Errorf("reject-all: vendors %v, disclosed %d; want none and the 18 GVL vendors of the built-in set", c.Vendors, len(c.Disclosed))
	}
	acceptAll := choiceOf(t, set, "accept-all")
	if !reflect.DeepEqual(acceptAll.Vendors, acceptAll.Disclosed) {
		t.Errorf("accept-all: vendors %v, want every disclosed one %v", acceptAll.Vendors, acceptAll.Disclosed)
	}
	if c := choiceOf(t, set, "criteo-too"); !reflect.DeepEqual(c.Vendors, []int{91, 1126}) {
		t.Errorf("criteo-too: vendors %v, want [91 1126] (Criteo by override, Microsoft for Clarity, its analytics service)", c.Vendors)
	}
	c := choiceOf(t, set, "ads-but-not-google")
	if c.VendorAllowed(755) || !c.VendorAllowed(91) {
		t.Errorf("ads-but-not-google: google %v criteo %v; want false, true", c.VendorAllowed(755), c.VendorAllowed(91))
	}
}
