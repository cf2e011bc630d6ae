package consent

import (
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/consentproxy/consentproxy/rules"
)

// Format is a consent platform whose storage consent_state can write.
type Format string

// The formats, in documentation order (rules.ConsentFormats has the same
// names: the parser validates against it).
const (
	OneTrust  Format = "onetrust"
	Cookiebot Format = "cookiebot"
	TCF       Format = "tcf"
	GPP       Format = "gpp"
)

// Formats returns every format.
func Formats() []Format { return []Format{OneTrust, Cookiebot, TCF, GPP} }

// Settings are a profile's consent settings on one site, defaults applied.
type Settings struct {
	Formats   []Format          `json:"formats"`
	Enforce   bool              `json:"enforce"`
	OneTrust  OneTrustSettings  `json:"onetrust"`
	Cookiebot CookiebotSettings `json:"cookiebot"`
	TCF       TCFSettings       `json:"tcf"`
	GPP       GPPSettings       `json:"gpp"`
}

// OneTrustSettings configure OptanonConsent.
type OneTrustSettings struct {
	Groups  map[rules.Category]string `json:"groups"`
	Version string                    `json:"version"`
}

// CookiebotSettings configure CookieConsent.
type CookiebotSettings struct {
	Region string `json:"region"`
}

// TCFSettings configure the TC string.
type TCFSettings struct {
	Cookie            string `json:"cookie"`
	CmpID             int    `json:"cmp_id"`
	CmpVersion        int    `json:"cmp_version"`
	ConsentScreen     int    `json:"consent_screen"`
	ConsentLanguage   string `json:"consent_language"`
	PublisherCC       string `json:"publisher_cc"`
	VendorListVersion int    `json:"vendor_list_version"`
	PolicyVersion     int    `json:"policy_version"`
}

// GPPSettings configure the GPP cookies.
type GPPSettings struct {
	Cookie    string `json:"cookie"`
	SIDCookie string `json:"sid_cookie"`
}

// DefaultSettings are the values a consent_state leaves out:
//
//   - formats: none (a profile without formats writes nothing);
//   - onetrust: DefaultOneTrustGroups, version 202510.2.0 (a OneTrust
//     script version seen in 2026 cookies);
//   - cookiebot: region de (an EU region: Cookiebot applies GDPR there);
//   - tcf: cookie euconsent-v2 (the TCF's name), cmp_id 2 and cmp_version
//     1 (the smallest valid values: consentproxy is not a registered CMP,
//     so set your site's CMP), consent_screen 1, consent_language EN,
//     publisher_cc AA (the TCF's "unknown"), vendor_list_version 140,
//     policy_version 5 (TCF v2.2's current policy);
//   - gpp: cookies __gpp and __gpp_sid (GPP defines no storage).
func DefaultSettings() Settings {
	return Settings{
		OneTrust:  OneTrustSettings{Groups: DefaultOneTrustGroups(), Version: "202510.2.0"},
		Cookiebot: CookiebotSettings{Region: "de"},
		TCF: TCFSettings{Cookie: "euconsent-v2", CmpID: 2, CmpVersion: 1, ConsentScreen: 1, ConsentLanguage: "EN",
			PublisherCC: "AA", VendorListVersion: 140, PolicyVersion: 5},
		GPP: GPPSettings{Cookie: "__gpp", SIDCookie: "__gpp_sid"},
	}
}

// merge applies what a consent_state (or a site of it) sets over s.
func (s Settings) merge(o rules.ConsentSettings) Settings {
	if o.Formats != nil {
		s.Formats = make([]Format, 0, len(o.Formats))
		for _, f := range o.Formats {
			s.Formats = append(s.Formats, Format(f))
		}
	}
	groups := make(map[rules.Category]string, len(s.OneTrust.Groups)+len(o.OneTrust.Groups))
	for k, v := range s.OneTrust.Groups {
		groups[k] = v
	}
	for k, v := range o.OneTrust.Groups {
		groups[rules.Category(k)] = v
	}
	s.OneTrust.Groups = groups
	setString(&s.OneTrust.Version, o.OneTrust.Version)
	setString(&s.Cookiebot.Region, o.Cookiebot.Region)
	t := o.TCF
	setString(&s.TCF.Cookie, t.Cookie)
	setInt(&s.TCF.CmpID, t.CmpID)
	setInt(&s.TCF.CmpVersion, t.CmpVersion)
	setInt(&s.TCF.ConsentScreen, t.ConsentScreen)
	setString(&s.TCF.ConsentLanguage, strings.ToUpper(t.ConsentLanguage))
	setString(&s.TCF.PublisherCC, strings.ToUpper(t.PublisherCC))
	setInt(&s.TCF.VendorListVersion, t.VendorListVersion)
	setInt(&s.TCF.PolicyVersion, t.PolicyVersion)
	setString(&s.GPP.Cookie, o.GPP.Cookie)
	setString(&s.GPP.SIDCookie, o.GPP.SIDCookie)
	return s
}

func setString(dst *string, v string) {
	if v != "" {
		*dst = v
	}
}

func setInt(dst *int, v int) {
	if v != 0 {
		*dst = v
	}
}

// State is a profile's consent_state resolved against a rule set: its
// choice and its settings per site. Immutable and safe for concurrent use;
// build one per profile when a rule set is compiled, with the Set.
type State struct {
	profile string
	choice  Choice
	base    Settings
	sites   map[string]Settings
}

// NewState resolves a profile's consent_state; ok is false when the
// profile has none (nothing is written for it).
func NewState(set *rules.Set, p *rules.Profile) (st *State, ok bool) {
	spec, ok := p.ConsentState()
	if !ok {
		return nil, false
	}
	return NewStateFrom(set, p, spec), true
}

// NewStateFrom resolves a consent_state given apart from the profile (the
// CLI shows what a profile without one would write with the defaults).
func NewStateFrom(set *rules.Set, p *rules.Profile, spec rules.ConsentStateSpec) *State {
	st := &State{profile: p.Name, choice: NewChoice(set, p), sites: map[string]Settings{}}
	st.base = DefaultSettings().merge(spec.ConsentSettings)
	st.base.Enforce = spec.Enforce
	for _, s := range spec.Sites {
		st.sites[s.Site] = st.base.merge(s.ConsentSettings)
	}
	return st
}

// Choice returns the profile's choice.
func (st *State) Choice() Choice { return st.choice }

// Settings returns the settings on a site (a registrable domain, as
// rules.Site gives; "" for the profile-wide settings).
func (st *State) Settings(site string) Settings {
	if s, ok := st.sites[site]; ok {
		return s
	}
	return st.base
}

// Env is what writing needs from the outside world: the time, and
// randomness for consent ids (crypto/rand.Reader in the proxy).
type Env struct {
	Now  time.Time
	Rand io.Reader
}

// Cookie is one consent cookie to write. Its Value is consent data: never
// log it.
type Cookie struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Format Format `json:"format"`
}

// MaxAge is how long the consent cookies live: a year, what OneTrust and
// Cookiebot use by default and within the TCF's 13 months.
const MaxAge = 365 * 24 * time.Hour

// SetCookie returns the Set-Cookie header value that stores c for a site:
// Domain is the registrable domain so that every subdomain's pages read it
// (host-only for an IP address or a single-label host, where Domain is
// not allowed), Path=/, Max-Age a year, SameSite=Lax, and Secure when the
// page is HTTPS. Not HttpOnly: the page's script must read it.
func (c Cookie) SetCookie(site string, secure bool) string {
	var b strings.Builder
	b.WriteString(c.Name)
	b.WriteByte('=')
	b.WriteString(c.Value)
	if _, err := netip.ParseAddr(strings.Trim(site, "[]")); err != nil && strings.Contains(site, ".") {
		b.WriteString("; Domain=")
		b.WriteString(site)
	}
	fmt.Fprintf(&b, "; Path=/; Max-Age=%d; SameSite=Lax", int(MaxAge/time.Second))
	if secure {
		b.WriteString("; Secure")
	}
	return b.String()
}

// Cookies returns the cookies the state writes on a site, by format in the
// order of the settings' formats: onetrust gives OptanonConsent and
// OptanonAlertBoxClosed, cookiebot CookieConsent, tcf the TC string, gpp the
// GPP string (header and EU TCF section) and its section ids ("2").
func (st *State) Cookies(site string, env Env) ([]Cookie, error) {
	s := st.Settings(site)
	var out []Cookie
	for _, f := range s.Formats {
		cs, err := st.cookies(f, s, env)
		if err != nil {
			return nil, fmt.Errorf("consent state of profile %s: %w", st.profile, err)
		}
		out = append(out, cs...)
	}
	return out, nil
}

// CookiesFor returns the cookies of one format on a site, whether or not
// the settings list the format.
func (st *State) CookiesFor(site string, f Format, env Env) ([]Cookie, error) {
	cs, err := st.cookies(f, st.Settings(site), env)
	if err != nil {
		return nil, fmt.Errorf("consent state of profile %s: %w", st.profile, err)
	}
	return cs, nil
}

func (st *State) cookies(f Format, s Settings, env Env) ([]Cookie, error) {
	c := st.choice
	switch f {
	case OneTrust:
		v, err := OptanonConsent(OneTrustGroups(c, s.OneTrust.Groups), s.OneTrust.Version, env.Now, env.Rand)
		if err != nil {
			return nil, err
		}
		return []Cookie{
			{Name: OptanonConsentCookie, Value: v, Format: OneTrust},
			{Name: OptanonAlertBoxClosedCookie, Value: OptanonAlertBoxClosed(env.Now), Format: OneTrust},
		}, nil
	case Cookiebot:
		v, err := CookieConsent(CookiebotFor(c), s.Cookiebot.Region, env.Now, env.Rand)
		if err != nil {
			return nil, err
		}
		return []Cookie{{Name: CookieConsentCookie, Value: v, Format: Cookiebot}}, nil
	case TCF:
		v, err := EncodeTC(st.tcString(s.TCF, env.Now))
		if err != nil {
			return nil, err
		}
		return []Cookie{{Name: s.TCF.Cookie, Value: v, Format: TCF}}, nil
	case GPP:
		tc, err := EncodeTC(st.tcString(s.TCF, env.Now))
		if err != nil {
			return nil, err
		}
		v, err := EncodeGPP(map[int]string{GPPSectionTCFEU: tc})
		if err != nil {
			return nil, err
		}
		return []Cookie{
			{Name: s.GPP.Cookie, Value: v, Format: GPP},
			{Name: s.GPP.SIDCookie, Value: "2", Format: GPP},
		}, nil
	}
	return nil, fmt.Errorf("unknown format %q", f)
}

// TCString returns the TC string content the state writes on a site.
func (st *State) TCString(site string, now time.Time) TCString {
	return st.tcString(st.Settings(site).TCF, now)
}

// tcString builds the TC string of the choice. Created and LastUpdated are
// the day (UTC midnight), as iabtcf-es sets them to make strings less
// identifying; the string is service-specific (it lives in the site's own
// cookie); vendor legitimate interest mirrors vendor consent; no special
// feature is opted in; purpose 1 was disclosed (PurposeOneTreatment 0).
func (st *State) tcString(s TCFSettings, now time.Time) TCString {
	day := time.Date(now.UTC().Year(), now.UTC().Month(), now.UTC().Day(), 0, 0, 0, 0, time.UTC)
	c := st.choice
	return TCString{
		Version: 2, Created: day, LastUpdated: day,
		CmpID: s.CmpID, CmpVersion: s.CmpVersion, ConsentScreen: s.ConsentScreen, ConsentLanguage: s.ConsentLanguage,
		VendorListVersion: s.VendorListVersion, PolicyVersion: s.PolicyVersion, IsServiceSpecific: true,
		SpecialFeatureOptIns: []int{}, PurposesConsent: slices.Clone(c.Purposes), PurposesLITransparency: slices.Clone(c.LIPurposes),
		PublisherCC: s.PublisherCC, VendorConsents: slices.Clone(c.Vendors), VendorLegitimateInterests: slices.Clone(c.Vendors),
		DisclosedVendors: slices.Clone(c.Disclosed),
	}
}

// Write is a cookie the proxy must write: set on the response and put in
// the request's Cookie header. Replace says a cookie of that name is
// already in the request: replace that pair rather than add one.
type Write struct {
	Cookie
	Replace bool `json:"replace"`
}

// Plan decides which consent cookies to write on a first-party request to
// a site, from the cookies the request carries (jar looks one up by name).
// Per format: when its cookie is missing, or holds no choice (OneTrust's
// pre-interaction defaults, Cookiebot's implied consent, a value that does
// not decode), all its cookies are written; when it holds the profile's
// choice already, only its missing companions (OptanonAlertBoxClosed,
// __gpp_sid); when it holds a different choice, all its cookies only with
// enforce: true, else nothing, because the browser's explicit choice wins.
func (st *State) Plan(site string, jar func(name string) (string, bool), env Env) ([]Write, error) {
	s := st.Settings(site)
	var out []Write
	for _, f := range s.Formats {
		cs, err := st.cookies(f, s, env)
		if err != nil {
			return nil, fmt.Errorf("consent state of profile %s: %w", st.profile, err)
		}
		v := judge(f, cs, jar)
		for i, c := range cs {
			_, present := jar(c.Name)
			switch {
			case v == verdictDifferent && !s.Enforce:
			case v == verdictSame && (i == 0 || present):
			default:
				out = append(out, Write{Cookie: c, Replace: present})
			}
		}
	}
	return out, nil
}

// verdict is how a browser's stored consent compares with the profile's.
type verdict uint8

const (
	verdictNone      verdict = iota // missing, or not a choice
	verdictSame                     // the same choice
	verdictDifferent                // another choice
)

// judge compares what the browser stores for a format (its first cookie;
// OneTrust also reads OptanonAlertBoxClosed) with the cookies we write.
func judge(f Format, ours []Cookie, jar func(string) (string, bool)) verdict {
	have, ok := jar(ours[0].Name)
	if !ok {
		return verdictNone
	}
	same := func(b bool) verdict {
		if b {
			return verdictSame
		}
		return verdictDifferent
	}
	switch f {
	case OneTrust:
		st, err := ParseOptanonConsent(have)
		if err != nil {
			return verdictNone
		}
		if _, closed := jar(OptanonAlertBoxClosedCookie); !closed && st.InteractionCount < 1 {
			return verdictNone // OneTrust's defaults before any click
		}
		want, _ := ParseOptanonConsent(ours[0].Value)
		return same(groupsAgree(want.Groups, st.Groups))
	case Cookiebot:
		st, err := ParseCookieConsent(have)
		if err != nil || !st.explicit() {
			return verdictNone
		}
		want, _ := ParseCookieConsent(ours[0].Value)
		return same(st.Preferences == want.Preferences && st.Statistics == want.Statistics && st.Marketing == want.Marketing)
	case TCF:
		tc, err := DecodeTC(have)
		if err != nil {
			return verdictNone
		}
		want, _ := DecodeTC(ours[0].Value)
		return same(tcAgree(want, tc, want.DisclosedVendors))
	case GPP:
		g, err := DecodeGPP(have)
		if err != nil {
			return verdictNone
		}
		tc := g.TCF()
		if tc == nil {
			return verdictDifferent // another region's sections: not ours to replace
		}
		want, _ := DecodeGPP(ours[0].Value)
		w := want.TCF()
		return same(tcAgree(*w, *tc, w.DisclosedVendors))
	}
	return verdictNone
}

// groupsAgree compares the groups both values hold; a group only one of
// them has (the site's own groups, or a default group the site lacks)
// says nothing.
func groupsAgree(want, have []GroupConsent) bool {
	for _, w := range want {
		for _, h := range have {
			if h.ID == w.ID && h.Granted != w.Granted {
				return false
			}
		}
	}
	return true
}

// tcAgree compares the consent a TC string expresses: purposes (consent
// and legitimate interest), special features, and the consent of the
// vendors the rule set knows (a CMP's list has hundreds more, about which
// the profile says nothing). Dates, CMP fields and vendor list versions may
// differ.
func tcAgree(want, have TCString, known []int) bool {
	var haveKnown []int
	for _, id := range have.VendorConsents {
		if _, ok := slices.BinarySearch(known, id); ok {
			haveKnown = append(haveKnown, id)
		}
	}
	return slices.Equal(want.PurposesConsent, have.PurposesConsent) &&
		slices.Equal(want.PurposesLITransparency, have.PurposesLITransparency) &&
		slices.Equal(want.SpecialFeatureOptIns, have.SpecialFeatureOptIns) &&
		slices.Equal(want.VendorConsents, nonNil(haveKnown))
}
