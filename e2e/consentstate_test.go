package e2e

import (
	"maps"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	rulesconsent "github.com/consentproxy/consentproxy/rules/consent"
)

// The consent state the proxy writes on first-party sites (README
// "Consent state"), as the test models it: which consent-platform cookies
// a profile writes, when, and what they must say. The expectations come
// from README's tables, not from the proxy's code; rules/consent only
// decodes what Chromium stored.

// consentFormat is a consent platform's cookies as the built-in profiles
// write them: the first holds the choice, the others are its companions.
type consentFormat struct {
	name    string
	cookies []string
}

var consentFormats = []consentFormat{
	{"onetrust", []string{"OptanonConsent", "OptanonAlertBoxClosed"}},
	{"cookiebot", []string{"CookieConsent"}},
	{"tcf", []string{"euconsent-v2"}},
	{"gpp", []string{"__gpp", "__gpp_sid"}},
}

// consentCookieNames are every consent cookie the built-in profiles write.
func consentCookieNames() []string {
	var out []string
	for _, f := range consentFormats {
		out = append(out, f.cookies...)
	}
	return out
}

// cmpChoice is a choice as each format records it, read from README's
// "What is written" table: OneTrust's groups, Cookiebot's flags, the TCF
// purposes with consent, and the consent of the IAB vendors the test
// knows (iabVendors).
type cmpChoice struct {
	groups                             map[string]bool
	preferences, statistics, marketing bool
	purposes                           []int
	vendors                            []int
}

// iabVendors are vendors of the tracker table with a Global Vendor List
// id, and the one category all their services have: Google (DoubleClick)
// and Criteo.
var iabVendors = []struct {
	id       int
	category string
}{{755, "advertising"}, {91, "advertising"}}

// purposeCategories: the TCF purposes 2-11 and the categories any of which
// grants each (README "TCF purposes").
var purposeCategories = map[int][]string{
	2: {"advertising"}, 3: {"advertising", "marketing"}, 4: {"advertising"},
	5: {"functional"}, 6: {"functional"}, 7: {"advertising", "marketing"},
	8: {"analytics"}, 9: {"analytics"}, 10: {"analytics"}, 11: {"functional"},
}

// writesFormat: the proxy writes the cookies of format f under c.
func (c consent) writesFormat(f string) bool {
	return c.writes && (c.formats == nil || slices.Contains(c.formats, f))
}

// choice is what c's consent cookies say.
func (c consent) choice() cmpChoice {
	ch := cmpChoice{
		groups: map[string]bool{
			"C0001": true,
			"C0002": c.allows("analytics"),
			"C0003": c.allows("functional"),
			"C0004": c.allows("advertising") && c.allows("marketing"),
			"C0005": c.allows("social"),
		},
		preferences: c.allows("functional"),
		statistics:  c.allows("analytics"),
		marketing:   c.allows("advertising") && c.allows("marketing") && c.allows("social"),
	}
	if slices.ContainsFunc(c.allow, func(cat string) bool { return cat != "essential" }) {
		ch.purposes = append(ch.purposes, 1)
	}
	for p := 2; p <= 11; p++ {
		if slices.ContainsFunc(purposeCategories[p], c.allows) {
			ch.purposes = append(ch.purposes, p)
		}
	}
	for _, v := range iabVendors {
		if c.allows(v.category) {
			ch.vendors = append(ch.vendors, v.id)
		}
	}
	return ch
}

// sameChoice: the proxy takes a format's stored choice for its own
// (nothing to replace) when it says the same as the profile would.
func sameChoice(format string, a, b cmpChoice) bool {
	switch format {
	case "onetrust":
		return maps.Equal(a.groups, b.groups)
	case "cookiebot":
		return a.preferences == b.preferences && a.statistics == b.statistics && a.marketing == b.marketing
	}
	return slices.Equal(a.purposes, b.purposes) && slices.Equal(a.vendors, b.vendors)
}

// consentAfter is the choice each format's cookies hold after a
// first-party HTML page load under c, from held (by format name; a format
// absent holds nothing): a missing format is written; a stored choice is
// kept, replaced only by a different one under enforce: true.
func (c consent) consentAfter(held map[string]cmpChoice) map[string]cmpChoice {
	next := maps.Clone(held)
	if next == nil {
		next = map[string]cmpChoice{}
	}
	ours := c.choice()
	for _, f := range consentFormats {
		if !c.writesFormat(f.name) {
			continue
		}
		if h, ok := held[f.name]; !ok || c.enforce && !sameChoice(f.name, h, ours) {
			next[f.name] = ours
		}
	}
	return next
}

// consentSent are the consent cookies a first-party request carries to
// the site under c when the jar holds held: the jar's own, and, when c
// writes, the proxy adds the missing ones itself, so even the first
// navigation carries them all.
func (c consent) consentSent(held map[string]cmpChoice) []string {
	var names []string
	for _, f := range consentFormats {
		if _, ok := held[f.name]; ok || c.writesFormat(f.name) {
			names = append(names, f.cookies...)
		}
	}
	return names
}

// checkConsentJar checks the consent cookies of site (a registrable
// domain) in Chromium's jar: exactly those of the formats of want, one
// cookie per name, each set on the registrable domain (a Domain cookie:
// every subdomain's page reads it), readable by the page's script (not
// HttpOnly), SameSite=Lax, Secure, Path=/, for a year; and each decoding
// (with rules/consent's decoders) to the choice want gives its format.
func checkConsentJar(t *testing.T, label string, jar []jarCookie, site string, want map[string]cmpChoice) {
	t.Helper()
	now := time.Now()
	for _, f := range consentFormats {
		choice, wanted := want[f.name]
		values := map[string]string{}
		for _, name := range f.cookies {
			var found []jarCookie
			for _, jc := range jar {
				if jc.Name == name && (jc.Domain == site || strings.HasSuffix(jc.Domain, "."+site)) {
					found = append(found, jc)
				}
			}
			switch {
			case !wanted && len(found) > 0:
				t.Errorf("%s: jar holds %s (%s) on %s; want no %s cookie", label, name, f.name, found[0].Domain, f.name)
				continue
			case !wanted:
				continue
			case len(found) != 1:
				t.Errorf("%s: jar holds %d %s cookies for %s, want 1: %+v", label, len(found), name, site, found)
				continue
			}
			jc := found[0]
			values[name] = jc.Value
			// Max-Age is a year; the cookie may have been set a while ago.
			expires := time.Unix(int64(jc.Expires), 0)
			if jc.Domain != "."+site || jc.Path != "/" || jc.HTTPOnly || !jc.Secure || jc.SameSite != "Lax" || jc.Session ||
				math.Abs(expires.Sub(now.Add(365*24*time.Hour)).Hours()) > 24 {
				t.Errorf("%s: jar cookie %s: domain %q path %q httpOnly %v secure %v sameSite %q session %v expires %s; want domain %q, path /, not HttpOnly, Secure, SameSite Lax, expiring in a year",
					label, name, jc.Domain, jc.Path, jc.HTTPOnly, jc.Secure, jc.SameSite, jc.Session, expires.UTC().Format(time.DateOnly), "."+site)
			}
		}
		if !wanted || len(values) != len(f.cookies) {
			continue
		}
		checkConsentValues(t, label+": jar", f.name, values, choice)
	}
}

// checkConsentValues decodes one format's cookie values (by name) and
// compares them with the choice.
func checkConsentValues(t *testing.T, label, format string, values map[string]string, want cmpChoice) {
	t.Helper()
	switch format {
	case "onetrust":
		st, err := rulesconsent.ParseOptanonConsent(values["OptanonConsent"])
		if err != nil {
			t.Errorf("%s: OptanonConsent: %v", label, err)
			return
		}
		got := map[string]bool{}
		for _, g := range st.Groups {
			got[g.ID] = g.Granted
		}
		if !maps.Equal(got, want.groups) || st.InteractionCount < 1 {
			t.Errorf("%s: OptanonConsent groups %v, interactionCount %d; want %v after an interaction", label, got, st.InteractionCount, want.groups)
		}
		if _, err := time.Parse("2006-01-02T15:04:05.000Z", values["OptanonAlertBoxClosed"]); err != nil {
			t.Errorf("%s: OptanonAlertBoxClosed %q is not an ISO-8601 time: %v", label, values["OptanonAlertBoxClosed"], err)
		}
	case "cookiebot":
		st, err := rulesconsent.ParseCookieConsent(values["CookieConsent"])
		if err != nil {
			t.Errorf("%s: CookieConsent: %v", label, err)
			return
		}
		if !st.Necessary || st.Preferences != want.preferences || st.Statistics != want.statistics || st.Marketing != want.marketing || st.Method != "explicit" {
			t.Errorf("%s: CookieConsent necessary %v preferences %v statistics %v marketing %v method %q; want true %v %v %v explicit",
				label, st.Necessary, st.Preferences, st.Statistics, st.Marketing, st.Method, want.preferences, want.statistics, want.marketing)
		}
	case "tcf":
		tc, err := rulesconsent.DecodeTC(values["euconsent-v2"])
		if err != nil {
			t.Errorf("%s: euconsent-v2: %v", label, err)
			return
		}
		checkTC(t, label+": euconsent-v2", tc, want)
	case "gpp":
		g, err := rulesconsent.DecodeGPP(values["__gpp"])
		if err != nil {
			t.Errorf("%s: __gpp: %v", label, err)
			return
		}
		if tc := g.TCF(); tc == nil {
			t.Errorf("%s: __gpp has no EU TCF section: sections %v", label, g.SectionIDs)
		} else {
			checkTC(t, label+": __gpp", *tc, want)
		}
		if sid := values["__gpp_sid"]; sid != "2" {
			t.Errorf("%s: __gpp_sid = %q, want 2 (EU TCF)", label, sid)
		}
	}
}

// checkTC compares a TC string's purposes with consent, special features
// and the consent of the test's IAB vendors with the choice.
func checkTC(t *testing.T, label string, tc rulesconsent.TCString, want cmpChoice) {
	t.Helper()
	var vendors []int
	for _, v := range iabVendors {
		if slices.Contains(tc.VendorConsents, v.id) {
			vendors = append(vendors, v.id)
		}
	}
	if !slices.Equal(tc.PurposesConsent, want.purposes) || !slices.Equal(vendors, want.vendors) || len(tc.SpecialFeatureOptIns) > 0 {
		t.Errorf("%s: purposes %v, vendors %v (of %v), special features %v; want purposes %v, vendors %v, no special feature",
			label, tc.PurposesConsent, vendors, iabVendors, tc.SpecialFeatureOptIns, want.purposes, want.vendors)
	}
}
