package rules

import (
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// A profile's consent_state says which consent-platform (CMP) cookies the
// proxy writes so that the site itself sees the profile's choice. This file
// holds its schema, its parsing and its validation; the writers that turn
// it into cookie values live in rules/consent, which also documents the
// defaults of every zero value below.

// ConsentStateSpec is a profile's consent_state as written.
type ConsentStateSpec struct {
	// ConsentSettings are the profile-wide settings. Formats nil (or empty)
	// means nothing is written.
	ConsentSettings
	// Enforce replaces a choice already stored in the browser (the cookie
	// present with another choice). Off by default: an explicit choice in
	// the browser wins.
	Enforce bool
	// Sites override the settings per registrable domain, in file order.
	Sites []ConsentSiteSpec
	// Origin is where consent_state is written.
	Origin Origin
	// Origins optionally gives the line of each value, by path
	// ("tcf.cmp_id", "sites.shop.example.onetrust.groups.analytics"), so
	// that errors point at the value's own line. Missing paths use Origin.
	Origins map[string]Origin
}

// ConsentSiteSpec overrides a profile's consent settings on one site.
type ConsentSiteSpec struct {
	// Site is a registrable domain ("shop.example", "shop.example.co.uk").
	Site string
	ConsentSettings
}

// ConsentSettings are the settings a profile writes and a site may
// override. A zero value means "the default" at the profile level and "the
// profile's" at the site level.
type ConsentSettings struct {
	// Formats lists the platforms to write: onetrust, cookiebot, tcf, gpp.
	// At the site level nil keeps the profile's list and an empty non-nil
	// list writes nothing on that site.
	Formats   []string
	OneTrust  OneTrustSpec
	Cookiebot CookiebotSpec
	TCF       TCFSpec
	GPP       GPPSpec
}

// OneTrustSpec configures the OptanonConsent cookie.
type OneTrustSpec struct {
	// Groups maps a category to a OneTrust group id ("analytics": "C0002").
	// Entries are merged over the defaults, and a site's over the profile's.
	Groups map[string]string
	// Version is the OneTrust script version written as version=.
	Version string
}

// CookiebotSpec configures the CookieConsent cookie.
type CookiebotSpec struct {
	// Region is written as region: ("de", "us-06").
	Region string
}

// TCFSpec configures the IAB TCF v2.2 TC string.
type TCFSpec struct {
	// Cookie is the cookie name (euconsent-v2 by convention).
	Cookie            string
	CmpID             int
	CmpVersion        int
	ConsentScreen     int
	ConsentLanguage   string
	PublisherCC       string
	VendorListVersion int
	PolicyVersion     int
}

// GPPSpec configures the IAB GPP string cookies.
type GPPSpec struct {
	Cookie    string
	SIDCookie string
}

// ConsentFormats returns the consent_state format names, in documentation
// order.
func ConsentFormats() []string { return []string{"onetrust", "cookiebot", "tcf", "gpp"} }

// The keys of consent_state's mappings.
func consentStateKeys() []string {
	return []string{"formats", "enforce", "onetrust", "cookiebot", "tcf", "gpp", "sites"}
}
func consentSiteKeys() []string { return []string{"formats", "onetrust", "cookiebot", "tcf", "gpp"} }
func oneTrustKeys() []string    { return []string{"groups", "version"} }
func cookiebotKeys() []string   { return []string{"region"} }
func gppKeys() []string         { return []string{"cookie", "sid_cookie"} }
func tcfKeys() []string {
	return []string{"cookie", "cmp_id", "cmp_version", "consent_screen", "consent_language", "publisher_cc", "vendor_list_version", "policy_version"}
}

// tcfIntLimits are the valid ranges of the TC string's integer fields: the
// lower bound is what the TCF accepts (CMP ids 0 and 1 are invalid, policy
// version 4 is TCF v2.2), the upper one what the field's bits hold.
var tcfIntLimits = map[string][2]int{
	"cmp_id":              {2, 4095},
	"cmp_version":         {1, 4095},
	"consent_screen":      {1, 63},
	"vendor_list_version": {1, 4095},
	"policy_version":      {4, 63},
}

// clone returns a deep copy that keeps nil and empty Formats apart.
func (cs *ConsentStateSpec) clone() *ConsentStateSpec {
	if cs == nil {
		return nil
	}
	out := *cs
	out.ConsentSettings = cs.ConsentSettings.clone()
	if cs.Sites != nil {
		out.Sites = make([]ConsentSiteSpec, len(cs.Sites))
		for i, s := range cs.Sites {
			out.Sites[i] = ConsentSiteSpec{Site: s.Site, ConsentSettings: s.ConsentSettings.clone()}
		}
	}
	if cs.Origins != nil {
		out.Origins = make(map[string]Origin, len(cs.Origins))
		for k, v := range cs.Origins {
			out.Origins[k] = v
		}
	}
	return &out
}

func (s ConsentSettings) clone() ConsentSettings {
	out := s
	if s.Formats != nil {
		out.Formats = append(make([]string, 0, len(s.Formats)), s.Formats...)
	}
	if s.OneTrust.Groups != nil {
		out.OneTrust.Groups = make(map[string]string, len(s.OneTrust.Groups))
		for k, v := range s.OneTrust.Groups {
			out.OneTrust.Groups[k] = v
		}
	}
	return out
}

// at is the origin of the value at path, else of consent_state itself.
func (cs *ConsentStateSpec) at(path string) Origin {
	if o, ok := cs.Origins[path]; ok {
		return o
	}
	return cs.Origin
}

// checkConsentState validates the values of a consent_state; errors carry
// each value's origin. Structure (keys, types) is the parser's; whether the
// categories of onetrust.groups exist is Compile's, which knows every layer.
func checkConsentState(cs *ConsentStateSpec) []error {
	var errs []error
	add := func(path string, err error) {
		errs = append(errs, &posError{cs.at(path), fmt.Errorf("consent_state: %w", err)})
	}
	checkSettings := func(prefix string, s ConsentSettings) {
		seen := map[string]bool{}
		for i, f := range s.Formats {
			path := prefix + "formats[" + strconv.Itoa(i) + "]"
			if !contains(ConsentFormats(), f) {
				add(path, fmt.Errorf("unknown format %q%s; formats: %s", f, didYouMean(f, ConsentFormats()), oneOf(ConsentFormats())))
				continue
			}
			if seen[f] {
				add(path, fmt.Errorf("format %q is listed twice", f))
			}
			seen[f] = true
		}
		for _, cat := range sortedKeys(s.OneTrust.Groups) {
			path := prefix + "onetrust.groups." + cat
			if err := checkID("category", cat); err != nil {
				add(path, err)
			}
			if err := checkGroupID(s.OneTrust.Groups[cat]); err != nil {
				add(path, err)
			}
		}
		if v := s.OneTrust.Version; v != "" && !isDottedNumber(v) {
			add(prefix+"onetrust.version", fmt.Errorf("onetrust version %q: write the OneTrust script version, digits and dots (e.g. 202310.2.0)", v))
		}
		if r := s.Cookiebot.Region; r != "" && !isRegion(r) {
			add(prefix+"cookiebot.region", fmt.Errorf("cookiebot region %q: write a two-letter country code, optionally with a subdivision (e.g. de, us-06)", r))
		}
		for _, c := range []struct{ key, name string }{{"tcf.cookie", s.TCF.Cookie}, {"gpp.cookie", s.GPP.Cookie}, {"gpp.sid_cookie", s.GPP.SIDCookie}} {
			if c.name != "" && !isCookieName(c.name) {
				add(prefix+c.key, fmt.Errorf("%s %q is not a cookie name (letters, digits and !#$%%&'*+-.^_`|~)", c.key, c.name))
			}
		}
		for _, c := range []struct {
			key string
			v   int
		}{{"cmp_id", s.TCF.CmpID}, {"cmp_version", s.TCF.CmpVersion}, {"consent_screen", s.TCF.ConsentScreen}, {"vendor_list_version", s.TCF.VendorListVersion}, {"policy_version", s.TCF.PolicyVersion}} {
			lim := tcfIntLimits[c.key]
			if c.v != 0 && (c.v < lim[0] || c.v > lim[1]) {
				add(prefix+"tcf."+c.key, fmt.Errorf("tcf %s %d must be from %d to %d", c.key, c.v, lim[0], lim[1]))
			}
		}
		for _, c := range []struct{ key, v string }{{"consent_language", s.TCF.ConsentLanguage}, {"publisher_cc", s.TCF.PublisherCC}} {
			if c.v != "" && !isTwoLetters(c.v) {
				add(prefix+"tcf."+c.key, fmt.Errorf("tcf %s %q must be two letters (e.g. EN, DE)", c.key, c.v))
			}
		}
	}
	checkSettings("", cs.ConsentSettings)
	seen := map[string]int{}
	for i, s := range cs.Sites {
		prefix := "sites." + s.Site + "."
		if err := checkConsentSite(s.Site); err != nil {
			add("sites."+s.Site, err)
		}
		if j, dup := seen[s.Site]; dup {
			add("sites."+s.Site, fmt.Errorf("site %q is listed twice (entries %d and %d)", s.Site, j+1, i+1))
		}
		seen[s.Site] = i
		checkSettings(prefix, s.ConsentSettings)
	}
	sortErrors(errs)
	return errs
}

// checkConsentSite requires a registrable domain: cookies are written for
// it, so a subdomain would be a promise the proxy cannot keep.
func checkConsentSite(s string) error {
	if s == "" {
		return fmt.Errorf("site is empty; write a registrable domain (e.g. shop.example)")
	}
	hp, err := parseHostPattern(s)
	if err != nil || hp.star {
		return fmt.Errorf("site %q is not a domain; write a registrable domain (e.g. shop.example)", s)
	}
	if site := Site(s); site != s {
		return fmt.Errorf("site %q is not a registrable domain; write %q (consent cookies are scoped to the registrable domain)", s, site)
	}
	return nil
}

// checkGroupID accepts what OneTrust uses as group ids: C0002, BG71,
// V2STACK42, and plain numbers on some IAB-enabled sites.
func checkGroupID(s string) error {
	if s == "" || len(s) > 64 {
		return fmt.Errorf("onetrust group id %q must be 1 to 64 letters, digits, '-' or '_' (e.g. C0002)", s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("onetrust group id %q must be 1 to 64 letters, digits, '-' or '_' (e.g. C0002)", s)
		}
	}
	return nil
}

func isDottedNumber(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, part := range strings.Split(s, ".") {
		if part == "" {
			return false
		}
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return false
			}
		}
	}
	return true
}

func isRegion(s string) bool {
	cc, sub, hasSub := strings.Cut(s, "-")
	if !isTwoLetters(cc) {
		return false
	}
	if !hasSub {
		return true
	}
	if sub == "" || len(sub) > 3 {
		return false
	}
	for i := 0; i < len(sub); i++ {
		c := sub[i] | 0x20
		if !(c >= 'a' && c <= 'z' || sub[i] >= '0' && sub[i] <= '9') {
			return false
		}
	}
	return true
}

func isTwoLetters(s string) bool {
	if len(s) != 2 {
		return false
	}
	for i := 0; i < 2; i++ {
		c := s[i] | 0x20
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// isCookieName accepts an RFC 6265 token.
func isCookieName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// consentCategoryRefs lists the categories consent_state names, with their
// origins, for Compile's reference check.
func consentCategoryRefs(cs *ConsentStateSpec) []ref {
	var out []ref
	add := func(prefix string, s ConsentSettings) {
		for _, cat := range sortedKeys(s.OneTrust.Groups) {
			if checkID("category", cat) == nil {
				out = append(out, ref{cat, "consent_state onetrust.groups", cs.at(prefix + "onetrust.groups." + cat)})
			}
		}
	}
	add("", cs.ConsentSettings)
	for _, s := range cs.Sites {
		add("sites."+s.Site+".", s.ConsentSettings)
	}
	return out
}

// consentState parses a profile's consent_state mapping.
func (p *parser) consentState(n *yaml.Node) *ConsentStateSpec {
	if !p.resolve(n) {
		return nil
	}
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n.Line, "consent_state must be a mapping with formats, enforce, onetrust, cookiebot, tcf, gpp, sites")
		return nil
	}
	cs := &ConsentStateSpec{Origin: p.origin(n), Origins: map[string]Origin{}}
	p.mapping(n, "consent_state", consentStateKeys(), func(key string, k, v *yaml.Node) {
		switch key {
		case "enforce":
			cs.Enforce = p.boolean(v, "enforce")
		case "sites":
			p.consentSites(cs, v)
		default:
			p.consentSetting(cs, "", &cs.ConsentSettings, key, v)
		}
	})
	// The values that did parse are checked too, so that one run lists
	// every problem.
	p.errs = append(p.errs, checkConsentState(cs)...)
	return cs
}

func (p *parser) consentSites(cs *ConsentStateSpec, n *yaml.Node) {
	if !p.resolve(n) || isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n.Line, "consent_state sites must be a mapping of registrable domain to settings: {shop.example: {onetrust: {groups: {analytics: C0007}}}}")
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		site, ok := p.str(k, "site")
		if !ok {
			continue
		}
		if line, dup := seen[site]; dup {
			p.errorf(k.Line, "site %q is listed twice in consent_state sites (first at line %d)", site, line)
			continue
		}
		seen[site] = k.Line
		if err := checkConsentSite(site); err != nil {
			p.errorf(k.Line, "consent_state: %v", err)
			continue
		}
		cs.Origins["sites."+site] = p.origin(k)
		s := ConsentSiteSpec{Site: site}
		if p.resolve(v) && !isNull(v) {
			if v.Kind != yaml.MappingNode {
				p.errorf(v.Line, "consent_state site %q must be a mapping with formats, onetrust, cookiebot, tcf, gpp", site)
				continue
			}
			p.mapping(v, "consent_state site "+strconv.Quote(site), consentSiteKeys(), func(key string, _, sv *yaml.Node) {
				p.consentSetting(cs, "sites."+site+".", &s.ConsentSettings, key, sv)
			})
		}
		cs.Sites = append(cs.Sites, s)
	}
}

// consentSetting parses one of the keys that profiles and sites share.
func (p *parser) consentSetting(cs *ConsentStateSpec, prefix string, s *ConsentSettings, key string, v *yaml.Node) {
	record := func(path string, n *yaml.Node) { cs.Origins[prefix+path] = p.origin(n) }
	switch key {
	case "formats":
		list, nodes := p.strList(v, "formats")
		s.Formats = make([]string, 0, len(list))
		for i, f := range list {
			record("formats["+strconv.Itoa(i)+"]", nodes[i])
			s.Formats = append(s.Formats, f)
		}
	case "onetrust":
		p.consentMapping(v, "onetrust", oneTrustKeys(), func(key string, vn *yaml.Node) {
			switch key {
			case "groups":
				if !p.resolve(vn) || isNull(vn) {
					return
				}
				if vn.Kind != yaml.MappingNode {
					p.errorf(vn.Line, "onetrust groups must be a mapping of category to OneTrust group id: {analytics: C0002}")
					return
				}
				s.OneTrust.Groups = map[string]string{}
				for i := 0; i+1 < len(vn.Content); i += 2 {
					kn, gn := vn.Content[i], vn.Content[i+1]
					cat, ok := p.str(kn, "category")
					if !ok {
						continue
					}
					if _, dup := s.OneTrust.Groups[cat]; dup {
						p.errorf(kn.Line, "category %q is listed twice in onetrust groups", cat)
						continue
					}
					group, ok := p.str(gn, "onetrust group id")
					if !ok {
						continue
					}
					s.OneTrust.Groups[cat] = group
					record("onetrust.groups."+cat, kn)
				}
			case "version":
				// p.str keeps the text, so 6.34 stays "6.34", not a float.
				s.OneTrust.Version, _ = p.str(vn, "onetrust version")
				record("onetrust.version", vn)
			}
		})
	case "cookiebot":
		p.consentMapping(v, "cookiebot", cookiebotKeys(), func(key string, vn *yaml.Node) {
			s.Cookiebot.Region, _ = p.str(vn, "cookiebot region")
			record("cookiebot.region", vn)
		})
	case "tcf":
		p.consentMapping(v, "tcf", tcfKeys(), func(key string, vn *yaml.Node) {
			record("tcf."+key, vn)
			switch key {
			case "cookie":
				s.TCF.Cookie, _ = p.str(vn, "tcf cookie")
			case "consent_language":
				s.TCF.ConsentLanguage, _ = p.str(vn, "tcf consent_language")
			case "publisher_cc":
				s.TCF.PublisherCC, _ = p.str(vn, "tcf publisher_cc")
			default:
				n, ok := p.integer(vn, "tcf "+key)
				if !ok {
					return
				}
				if n == 0 {
					lim := tcfIntLimits[key]
					p.errorf(vn.Line, "consent_state: tcf %s 0 must be from %d to %d (leave the key out for the default)", key, lim[0], lim[1])
					return
				}
				switch key {
				case "cmp_id":
					s.TCF.CmpID = n
				case "cmp_version":
					s.TCF.CmpVersion = n
				case "consent_screen":
					s.TCF.ConsentScreen = n
				case "vendor_list_version":
					s.TCF.VendorListVersion = n
				case "policy_version":
					s.TCF.PolicyVersion = n
				}
			}
		})
	case "gpp":
		p.consentMapping(v, "gpp", gppKeys(), func(key string, vn *yaml.Node) {
			record("gpp."+key, vn)
			if key == "cookie" {
				s.GPP.Cookie, _ = p.str(vn, "gpp cookie")
			} else {
				s.GPP.SIDCookie, _ = p.str(vn, "gpp sid_cookie")
			}
		})
	}
}

// consentMapping walks one of consent_state's small mappings.
func (p *parser) consentMapping(n *yaml.Node, what string, keys []string, fn func(key string, v *yaml.Node)) {
	if !p.resolve(n) || isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n.Line, "consent_state %s must be a mapping with %s", what, oneOf(keys))
		return
	}
	p.mapping(n, "consent_state "+what, keys, func(key string, _, v *yaml.Node) { fn(key, v) })
}

// integer reads a YAML integer.
func (p *parser) integer(n *yaml.Node, what string) (int, bool) {
	if !p.resolve(n) {
		return 0, false
	}
	v, err := strconv.Atoi(n.Value)
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || err != nil {
		p.errorf(n.Line, "%s %q must be a whole number", what, n.Value)
		return 0, false
	}
	return v, true
}
