package consent

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/consentproxy/consentproxy/rules"
)

// Consent signals that hits to vendors carry in their query strings, and
// the check of a hit against a profile's choice.

// Signal states of Google Consent Mode.
const (
	Granted = "granted"
	Denied  = "denied"
	NotSet  = "not set"
)

// GCS is a decoded Google Consent Mode gcs parameter, "G1" followed by
// ad_storage and analytics_storage: 1 granted, 0 denied, "-" not set (G100
// denies both, G111 grants both, G101 grants analytics only).
type GCS struct {
	AdStorage        string `json:"ad_storage"`
	AnalyticsStorage string `json:"analytics_storage"`
}

// ParseGCS decodes a gcs value.
func ParseGCS(s string) (GCS, error) {
	if len(s) != 4 || s[:2] != "G1" {
		return GCS{}, fmt.Errorf("gcs %q: want G1 and two of 0, 1 or -", short(s))
	}
	state := func(c byte) (string, error) {
		switch c {
		case '1':
			return Granted, nil
		case '0':
			return Denied, nil
		case '-':
			return NotSet, nil
		}
		return "", fmt.Errorf("gcs %q: %q is not 0, 1 or -", s, c)
	}
	ad, err := state(s[2])
	if err != nil {
		return GCS{}, err
	}
	an, err := state(s[3])
	if err != nil {
		return GCS{}, err
	}
	return GCS{AdStorage: ad, AnalyticsStorage: an}, nil
}

// FormatGCS is the gcs value for two states (not set as "-").
func FormatGCS(ad, analytics bool) string {
	b := []byte("G100")
	if ad {
		b[2] = '1'
	}
	if analytics {
		b[3] = '1'
	}
	return string(b)
}

// GCD is a decoded Google Consent Mode v2 gcd parameter. Google does not
// document it; the reading follows Markus Baersch's analysis published on
// simoahava.com ("Consent Mode V2 For Google Tags"): two digits, then a
// letter per signal — ad_storage, analytics_storage, ad_user_data,
// ad_personalization — each followed by a digit ("11p1p1p1p5",
// "13l3l3l3l1"). The letter tells the default and the update:
//
//	l  not set             p  denied by default    t  granted by default
//	m  denied by update    n  granted by update
//	q  denied by default and by update             r  denied by default, granted by update
//	u  granted by default, denied by update        v  granted by default and by update
//
// The digits (the leading pair, the separators and the last one) are
// kept but not interpreted: their meaning is not public.
type GCD struct {
	Signals []GCDSignal `json:"signals"`
	Digits  string      `json:"digits"`
}

// GCDSignal is one signal of a gcd value.
type GCDSignal struct {
	Name  string `json:"name"`
	Code  string `json:"code"`
	State string `json:"state"` // granted, denied or not set: the effective state
	// Default and Update are each granted, denied or "" (none).
	Default string `json:"default"`
	Update  string `json:"update"`
}

// gcdSignalNames are the signals of gcd in order.
var gcdSignalNames = []string{"ad_storage", "analytics_storage", "ad_user_data", "ad_personalization"}

// gcdLetters maps a letter to its default and update.
var gcdLetters = map[byte][2]string{
	'l': {"", ""},
	'p': {Denied, ""},
	't': {Granted, ""},
	'm': {"", Denied},
	'n': {"", Granted},
	'q': {Denied, Denied},
	'r': {Denied, Granted},
	'u': {Granted, Denied},
	'v': {Granted, Granted},
}

// ParseGCD decodes a gcd value.
func ParseGCD(s string) (GCD, error) {
	if len(s) < 4 || len(s) > 32 || s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' {
		return GCD{}, fmt.Errorf("gcd %q: want two digits, then a letter and a digit per signal (e.g. 11p1p1p1p5)", short(s))
	}
	g := GCD{Digits: s[:2]}
	rest := s[2:]
	for i := 0; len(rest) > 0; i++ {
		if len(rest) < 2 {
			return GCD{}, fmt.Errorf("gcd %q: signal %d has no closing digit", short(s), i+1)
		}
		dv, ok := gcdLetters[rest[0]]
		if !ok || rest[1] < '0' || rest[1] > '9' {
			return GCD{}, fmt.Errorf("gcd %q: %q is not a signal letter and digit", short(s), rest[:2])
		}
		name := fmt.Sprintf("signal %d", i+1)
		if i < len(gcdSignalNames) {
			name = gcdSignalNames[i]
		}
		state := NotSet
		switch {
		case dv[1] != "":
			state = dv[1]
		case dv[0] != "":
			state = dv[0]
		}
		g.Signals = append(g.Signals, GCDSignal{Name: name, Code: rest[:1], State: state, Default: dv[0], Update: dv[1]})
		g.Digits += rest[1:2]
		rest = rest[2:]
	}
	return g, nil
}

// Signal returns the state of a named signal, NotSet when absent.
func (g GCD) Signal(name string) string {
	for _, s := range g.Signals {
		if s.Name == name {
			return s.State
		}
	}
	return NotSet
}

// Mismatch is a consent signal of a hit that disagrees with the profile:
// the parameter, and short renderings of what the hit claims and what the
// profile implies (never a whole consent string). Overclaim is set when
// the hit claims consent the profile refused, the privacy problem; a hit
// that claims less than allowed is reported too, with Overclaim false.
type Mismatch struct {
	Param     string `json:"param"`
	Claimed   string `json:"claimed"`
	Expected  string `json:"expected"`
	Overclaim bool   `json:"overclaim"`
}

func (m Mismatch) String() string {
	return fmt.Sprintf("%s: claimed %s, expected %s", m.Param, m.Claimed, m.Expected)
}

// Check compares the consent signals of a hit to a vendor with the choice:
//
//   - gcs: ad_storage must be granted only when advertising and marketing
//     are allowed, analytics_storage only when analytics is. A "-" (not
//     set) counts as granted: Google's tags treat a missing signal so.
//   - gcd: ad_storage, analytics_storage as for gcs; ad_user_data and
//     ad_personalization as ad_storage. "l" (not set) counts as granted.
//   - npa: 1 (non-personalised ads) expected unless ad_storage is.
//   - gdpr: 0 ("GDPR does not apply", so the vendor ignores consent) is an
//     overclaim when the choice refuses anything.
//   - gdpr_consent and the EU TCF section of gpp: the TC string's purpose
//     consents must be the choice's purposes, no special feature opted in,
//     and the consent bit of the hit's vendor (gvlID, 0 when unknown) must
//     match the choice. Legitimate interest bits are not checked: CMPs
//     establish them by default, as the TCF lets them. A string that does
//     not decode is reported.
//   - gpp_sid: when the choice refuses anything, section 2 (EU TCF) must be
//     among the applicable sections, else the vendor applies no EU consent.
//
// Parameters the hit does not carry are not checked.
func (c Choice) Check(query url.Values, gvlID int) []Mismatch {
	var out []Mismatch
	ad, analytics := c.adStorage(), c.Allows(rules.Analytics)
	state := func(b bool) string {
		if b {
			return Granted
		}
		return Denied
	}
	if v := query.Get("gcs"); v != "" {
		want := FormatGCS(ad, analytics)
		g, err := ParseGCS(v)
		switch {
		case err != nil:
			out = append(out, Mismatch{Param: "gcs", Claimed: short(v) + " (unreadable)", Expected: want})
		case effective(g.AdStorage) != ad || effective(g.AnalyticsStorage) != analytics:
			over := effective(g.AdStorage) && !ad || effective(g.AnalyticsStorage) && !analytics
			out = append(out, Mismatch{Param: "gcs", Claimed: v, Expected: want, Overclaim: over})
		}
	}
	if v := query.Get("gcd"); v != "" {
		g, err := ParseGCD(v)
		if err != nil {
			out = append(out, Mismatch{Param: "gcd", Claimed: short(v) + " (unreadable)", Expected: "ad_storage=" + state(ad) + " analytics_storage=" + state(analytics)})
		} else {
			want := map[string]bool{"ad_storage": ad, "analytics_storage": analytics, "ad_user_data": ad, "ad_personalization": ad}
			var claimed, expected []string
			over := false
			for _, name := range gcdSignalNames {
				got := effective(g.Signal(name))
				if got != want[name] {
					claimed = append(claimed, name+"="+g.Signal(name))
					expected = append(expected, name+"="+state(want[name]))
					over = over || got && !want[name]
				}
			}
			if len(claimed) > 0 {
				out = append(out, Mismatch{Param: "gcd", Claimed: strings.Join(claimed, " "), Expected: strings.Join(expected, " "), Overclaim: over})
			}
		}
	}
	if v := query.Get("npa"); v != "" {
		want := "1"
		if ad {
			want = "0"
		}
		if v != want {
			out = append(out, Mismatch{Param: "npa", Claimed: short(v), Expected: want, Overclaim: v == "0"})
		}
	}
	if v := query.Get("gdpr"); v == "0" && c.refusesAny() {
		out = append(out, Mismatch{Param: "gdpr", Claimed: "0", Expected: "1", Overclaim: true})
	}
	if v := query.Get("gdpr_consent"); v != "" {
		tc, err := DecodeTC(v)
		if err != nil {
			out = append(out, Mismatch{Param: "gdpr_consent", Claimed: "an unreadable TC string", Expected: "a TC string"})
		} else {
			out = append(out, c.checkTC("gdpr_consent", tc, gvlID)...)
		}
	}
	if v := query.Get("gpp"); v != "" {
		g, err := DecodeGPP(v)
		switch {
		case err != nil:
			out = append(out, Mismatch{Param: "gpp", Claimed: "an unreadable GPP string", Expected: "a GPP string"})
		case g.TCF() != nil:
			out = append(out, c.checkTC("gpp", *g.TCF(), gvlID)...)
		case c.refusesAny():
			out = append(out, Mismatch{Param: "gpp", Claimed: "no EU TCF section (sections " + joinInts(g.SectionIDs) + ")", Expected: "an EU TCF section", Overclaim: true})
		}
	}
	if v := query.Get("gpp_sid"); v != "" && c.refusesAny() {
		ids, err := ParseGPPSID(v)
		if err != nil || !slices.Contains(ids, GPPSectionTCFEU) {
			out = append(out, Mismatch{Param: "gpp_sid", Claimed: short(v), Expected: "2 (EU TCF applies)", Overclaim: true})
		}
	}
	return out
}

// effective is whether a signal state lets the tag behave as granted.
func effective(state string) bool { return state != Denied }

// checkTC compares a TC string's consents with the choice, naming only the
// purposes, features and vendor that disagree.
func (c Choice) checkTC(param string, tc TCString, gvlID int) []Mismatch {
	var out []Mismatch
	extra, missing := diff(tc.PurposesConsent, c.Purposes)
	if len(extra) > 0 {
		out = append(out, Mismatch{Param: param, Claimed: "consent to purposes " + joinInts(extra), Expected: "no consent to purposes " + joinInts(extra), Overclaim: true})
	}
	if len(missing) > 0 {
		out = append(out, Mismatch{Param: param, Claimed: "no consent to purposes " + joinInts(missing), Expected: "consent to purposes " + joinInts(missing)})
	}
	if len(tc.SpecialFeatureOptIns) > 0 {
		out = append(out, Mismatch{Param: param, Claimed: "special features " + joinInts(tc.SpecialFeatureOptIns) + " opted in", Expected: "no special feature", Overclaim: true})
	}
	if gvlID > 0 {
		has, want := slices.Contains(tc.VendorConsents, gvlID), c.VendorAllowed(gvlID)
		yes := func(b bool) string {
			if b {
				return fmt.Sprintf("consent for vendor %d", gvlID)
			}
			return fmt.Sprintf("no consent for vendor %d", gvlID)
		}
		if has != want {
			out = append(out, Mismatch{Param: param, Claimed: yes(has), Expected: yes(want), Overclaim: has})
		}
	}
	return out
}

// diff returns the ids only in a, and those only in b.
func diff(a, b []int) (onlyA, onlyB []int) {
	for _, x := range a {
		if !slices.Contains(b, x) {
			onlyA = append(onlyA, x)
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			onlyB = append(onlyB, x)
		}
	}
	return onlyA, onlyB
}
