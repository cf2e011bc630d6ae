package config

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The keys of a profile's consent_state, in the order of example.yaml.
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

// consentFormats are the platforms consent_state can write.
func consentFormats() []string { return []string{"onetrust", "cookiebot", "tcf", "gpp"} }

// tcfLimits are the valid ranges of the TC string's integer fields (the
// TCF rejects CMP ids 0 and 1; policy version 4 is TCF v2.2).
func tcfLimits(key string) (lo, hi int) {
	switch key {
	case "cmp_id":
		return 2, 4095
	case "consent_screen":
		return 1, 63
	case "policy_version":
		return 4, 63
	}
	return 1, 4095
}

// consentState decodes a profile's consent_state; null is none.
func (l *loader) consentState(n *yaml.Node, key string) *ConsentState {
	ents, ok := l.mapping(n, key)
	if !ok {
		return nil
	}
	r, _ := resolveAlias(n)
	if r == nil || isNull(r) {
		return nil
	}
	cs := &ConsentState{Line: r.Line}
	for _, e := range ents {
		ek := key + "." + e.name
		switch e.name {
		case "enforce":
			if v, ok := l.scalar(e.val, ek, KindBool); ok {
				cs.Enforce = v.(bool)
			}
		case "sites":
			cs.Sites = l.consentSites(e.val, ek)
		default:
			if !l.consentSetting(&cs.ConsentSettings, e, ek) {
				l.unknown(e.key, e.name, key, consentStateKeys(), "")
				continue
			}
		}
		l.record(ek, e.key)
	}
	return cs
}

func (l *loader) consentSites(n *yaml.Node, key string) []ConsentSite {
	ents, ok := l.mapping(n, key)
	if !ok {
		return nil
	}
	var out []ConsentSite
	for _, e := range ents {
		sk := key + "." + e.name
		site := ConsentSite{Site: e.name, Line: e.key.Line}
		l.record(sk, e.key)
		sents, ok := l.mapping(e.val, sk)
		if !ok {
			continue
		}
		for _, se := range sents {
			ek := sk + "." + se.name
			if se.name == "enforce" {
				l.errorf(se.key, "%s: enforce applies to the whole profile; set it next to sites, not per site", ek)
				continue
			}
			if !l.consentSetting(&site.ConsentSettings, se, ek) {
				l.unknown(se.key, se.name, sk, consentSiteKeys(), "")
				continue
			}
			l.record(ek, se.key)
		}
		out = append(out, site)
	}
	return out
}

// consentSetting decodes one of the keys profiles and sites share; false
// for any other key.
func (l *loader) consentSetting(s *ConsentSettings, e entry, key string) bool {
	switch e.name {
	case "formats":
		items, _ := l.list(e.val, key, KindStringList)
		s.Formats = make([]string, 0, len(items))
		for _, v := range items {
			s.Formats = append(s.Formats, v.(string))
		}
	case "onetrust":
		l.consentFields(e.val, key, oneTrustKeys(), func(f entry, fk string) {
			if f.name == "groups" {
				s.OneTrust.Groups = l.vendors(f.val, fk)
				return
			}
			if v, ok := l.scalar(f.val, fk, KindString); ok {
				s.OneTrust.Version = v.(string)
			}
		})
	case "cookiebot":
		l.consentFields(e.val, key, cookiebotKeys(), func(f entry, fk string) {
			if v, ok := l.scalar(f.val, fk, KindString); ok {
				s.Cookiebot.Region = v.(string)
			}
		})
	case "tcf":
		l.consentFields(e.val, key, tcfKeys(), func(f entry, fk string) {
			switch f.name {
			case "cookie", "consent_language", "publisher_cc":
				v, ok := l.scalar(f.val, fk, KindString)
				if !ok {
					return
				}
				switch f.name {
				case "cookie":
					s.TCF.Cookie = v.(string)
				case "consent_language":
					s.TCF.ConsentLanguage = v.(string)
				default:
					s.TCF.PublisherCC = v.(string)
				}
			default:
				v, ok := l.scalar(f.val, fk, KindInt)
				if !ok {
					return
				}
				n := v.(int)
				if lo, hi := tcfLimits(f.name); n < lo || n > hi {
					// Checked here, not in Validate, because 0 is how the
					// struct says "not set".
					r, _ := resolveAlias(f.val)
					l.errorf(r, "%s: %d must be from %d to %d (leave the key out for the default)", fk, n, lo, hi)
					return
				}
				switch f.name {
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
		l.consentFields(e.val, key, gppKeys(), func(f entry, fk string) {
			v, ok := l.scalar(f.val, fk, KindString)
			if !ok {
				return
			}
			if f.name == "cookie" {
				s.GPP.Cookie = v.(string)
			} else {
				s.GPP.SIDCookie = v.(string)
			}
		})
	default:
		return false
	}
	return true
}

// consentFields walks one of consent_state's small mappings.
func (l *loader) consentFields(n *yaml.Node, key string, valid []string, fn func(f entry, fk string)) {
	ents, ok := l.mapping(n, key)
	if !ok {
		return
	}
	for _, f := range ents {
		fk := key + "." + f.name
		if !slices.Contains(valid, f.name) {
			l.unknown(f.key, f.name, key, valid, "")
			continue
		}
		l.record(fk, f.key)
		fn(f, fk)
	}
}

// consentState checks what config alone can know of a consent_state. The
// rules package checks it again, with whether its categories exist.
func (v *validator) consentState(key string, cs *ConsentState) {
	v.consentSettings(key, cs.ConsentSettings)
	for _, s := range cs.Sites {
		sk := key + ".sites." + s.Site
		if !isRegistrableShape(s.Site) {
			v.errorf(sk, "%q is not a domain; write the registrable domain the cookies are for (e.g. shop.example)", s.Site)
		}
		v.consentSettings(sk, s.ConsentSettings)
	}
}

func (v *validator) consentSettings(key string, s ConsentSettings) {
	seen := map[string]bool{}
	for i, f := range s.Formats {
		fk := fmt.Sprintf("%s.formats[%d]", key, i)
		switch {
		case !slices.Contains(consentFormats(), f):
			hint := ""
			if x := suggest(f, consentFormats()); x != "" {
				hint = fmt.Sprintf(" (did you mean %q?)", x)
			}
			v.errorf(fk, "unknown format %q%s; formats: %s", f, hint, strings.Join(consentFormats(), ", "))
		case seen[f]:
			v.errorf(fk, "format %q is listed twice", f)
		}
		seen[f] = true
	}
	cats := make([]string, 0, len(s.OneTrust.Groups))
	for c := range s.OneTrust.Groups {
		cats = append(cats, c)
	}
	slices.Sort(cats)
	for _, c := range cats {
		gk := key + ".onetrust.groups." + c
		if !isIdentifier(c, true) {
			v.errorf(gk, "%q is not a category name (lower-case letters, digits, - and _, e.g. analytics)", c)
		}
		if g := s.OneTrust.Groups[c]; !isGroupID(g) {
			v.errorf(gk, "OneTrust group id %q must be 1 to 64 letters, digits, - or _ (e.g. C0002)", g)
		}
	}
	for _, c := range []struct{ key, v string }{{"tcf.consent_language", s.TCF.ConsentLanguage}, {"tcf.publisher_cc", s.TCF.PublisherCC}} {
		if c.v != "" && !isLetters(c.v, 2) {
			v.errorf(key+"."+c.key, "%q must be two letters (e.g. EN, DE)", c.v)
		}
	}
	for _, c := range []struct{ key, v string }{{"tcf.cookie", s.TCF.Cookie}, {"gpp.cookie", s.GPP.Cookie}, {"gpp.sid_cookie", s.GPP.SIDCookie}} {
		if c.v != "" && !isToken(c.v) {
			v.errorf(key+"."+c.key, "%q is not a cookie name (letters, digits and !#$%%&'*+-.^_`|~)", c.v)
		}
	}
}

func isGroupID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func isLetters(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < n; i++ {
		if c := s[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// isToken accepts an RFC 6265 cookie name.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// isRegistrableShape accepts a lower-case domain name with a dot. Whether
// it is the registrable domain needs the public suffix list, which the
// rules package has.
func isRegistrableShape(s string) bool {
	if !strings.Contains(s, ".") || strings.HasPrefix(s, ".") || strings.HasSuffix(s, ".") || strings.Contains(s, "..") {
		return false
	}
	return checkHostName(s) == nil && s == strings.ToLower(s) && !strings.Contains(s, "*")
}
