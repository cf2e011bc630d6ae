package consent

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Decoded is a consent value read by Decode. Kind says which of the other
// fields is set: tcf, gpp, gcs, gcd, onetrust or cookiebot.
type Decoded struct {
	Kind      string          `json:"kind"`
	TCF       *TCString       `json:"tcf,omitempty"`
	GPP       *GPPString      `json:"gpp,omitempty"`
	GCS       *GCS            `json:"gcs,omitempty"`
	GCD       *GCD            `json:"gcd,omitempty"`
	OneTrust  *OneTrustState  `json:"onetrust,omitempty"`
	Cookiebot *CookiebotState `json:"cookiebot,omitempty"`
}

// Kinds of Decoded.
const (
	KindTCF       = "tcf"
	KindGPP       = "gpp"
	KindGCS       = "gcs"
	KindGCD       = "gcd"
	KindOneTrust  = "onetrust"
	KindCookiebot = "cookiebot"
)

// prefixes are the "name=" forms Decode accepts (a cookie or a URL
// parameter pasted whole) and the kind each announces.
var prefixes = []struct{ name, kind string }{
	{"OptanonConsent=", KindOneTrust}, {"CookieConsent=", KindCookiebot}, {"euconsent-v2=", KindTCF},
	{"gdpr_consent=", KindTCF}, {"gpp=", KindGPP}, {"__gpp=", KindGPP}, {"gcs=", KindGCS}, {"gcd=", KindGCD},
}

// Decode recognises and decodes a consent value: a TC string (starts with
// "C", version 2), a GPP string (starts with "D", the header's type 3), a
// gcs value (G1xy), a gcd value (digits and signal letters), an
// OptanonConsent value (a form with groups=) or a CookieConsent value
// ({stamp:...}). A leading "name=" of those cookies and parameters is
// accepted.
func Decode(s string) (Decoded, error) {
	s = strings.TrimSpace(s)
	kind := ""
	for _, p := range prefixes {
		if strings.HasPrefix(s, p.name) {
			s, kind = s[len(p.name):], p.kind
			break
		}
	}
	if kind == "" {
		kind = detect(s)
	}
	var d Decoded
	var err error
	switch kind {
	case KindTCF:
		var tc TCString
		tc, err = DecodeTC(s)
		d.TCF = &tc
	case KindGPP:
		var g GPPString
		g, err = DecodeGPP(s)
		d.GPP = &g
	case KindGCS:
		var g GCS
		g, err = ParseGCS(s)
		d.GCS = &g
	case KindGCD:
		var g GCD
		g, err = ParseGCD(s)
		d.GCD = &g
	case KindOneTrust:
		v := s
		if !strings.Contains(v, "groups=") {
			// The whole value URL-encoded once more, as some tools copy it.
			if u, uerr := url.QueryUnescape(v); uerr == nil {
				v = u
			}
		}
		var st OneTrustState
		st, err = ParseOptanonConsent(v)
		d.OneTrust = &st
	case KindCookiebot:
		var st CookiebotState
		st, err = ParseCookieConsent(s)
		d.Cookiebot = &st
	default:
		return Decoded{}, errors.New("not a consent value this decoder knows: a TC string (C...), a GPP string (D...), gcs (G1xy), gcd (11p1p1p1p5), OptanonConsent (…groups=…) or CookieConsent ({stamp:…})")
	}
	if err != nil {
		return Decoded{}, err
	}
	d.Kind = kind
	return d, nil
}

func detect(s string) string {
	switch {
	case strings.Contains(s, "groups=") || strings.Contains(s, "groups%3D"):
		return KindOneTrust
	case strings.HasPrefix(s, "{stamp") || strings.HasPrefix(s, "%7Bstamp") || strings.HasPrefix(s, "%7bstamp"):
		return KindCookiebot
	case len(s) == 4 && strings.HasPrefix(s, "G1"):
		return KindGCS
	case len(s) >= 4 && s[0] >= '0' && s[0] <= '9':
		return KindGCD
	case strings.HasPrefix(s, "D"):
		return KindGPP
	case strings.HasPrefix(s, "C") || strings.HasPrefix(s, "B"):
		// "B" is a TCF v1 string; DecodeTC says so.
		return KindTCF
	}
	return ""
}

// Summary is a one-line description of a decoded value, for logs and
// listings: the kind and its consent, never the value.
func (d Decoded) Summary() string {
	switch d.Kind {
	case KindTCF:
		return fmt.Sprintf("TC string v%d: purposes %s, %d vendors", d.TCF.Version, orNone(joinInts(d.TCF.PurposesConsent)), len(d.TCF.VendorConsents))
	case KindGPP:
		return fmt.Sprintf("GPP string: sections %s", orNone(joinInts(d.GPP.SectionIDs)))
	case KindGCS:
		return fmt.Sprintf("gcs: ad_storage %s, analytics_storage %s", d.GCS.AdStorage, d.GCS.AnalyticsStorage)
	case KindGCD:
		var parts []string
		for _, s := range d.GCD.Signals {
			parts = append(parts, s.Name+" "+s.State)
		}
		return "gcd: " + strings.Join(parts, ", ")
	case KindOneTrust:
		var parts []string
		for _, g := range d.OneTrust.Groups {
			v := "0"
			if g.Granted {
				v = "1"
			}
			parts = append(parts, g.ID+":"+v)
		}
		return "OptanonConsent: groups " + strings.Join(parts, ",")
	case KindCookiebot:
		c := d.Cookiebot
		return fmt.Sprintf("CookieConsent: preferences %t, statistics %t, marketing %t (%s)", c.Preferences, c.Statistics, c.Marketing, c.Method)
	}
	return d.Kind
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
