package proxy

import (
	"fmt"
	"sort"

	"github.com/consentproxy/consentproxy/config"
	"github.com/consentproxy/consentproxy/rules"
)

// ProfilesLayer is the rules layer holding the config file's `profiles:`,
// each keeping its file:line (and each vendor override its own line), so
// that rule errors and explanations cite the config file. It is nil when
// the configuration defines no profile.
func ProfilesLayer(cfg config.Config) *rules.File {
	if len(cfg.Profiles) == 0 {
		return nil
	}
	name := cfg.File
	if name == "" {
		name = "config"
	}
	f := &rules.File{Name: name}
	for i, p := range cfg.Profiles {
		key := fmt.Sprintf("profiles[%d]", i)
		ps := rules.ProfileSpec{
			Name:           p.Name,
			Description:    p.Description,
			Allow:          append([]string(nil), p.Allow...),
			UnknownCookies: p.UnknownCookies,
			OnDenied:       p.OnDenied,
			GPC:            p.GPC,
			DNT:            p.DNT,
			Origin:         ruleOrigin(cfg, key, name, p.Line),
		}
		if len(p.Vendors) > 0 {
			ps.Vendors = make(map[string]string, len(p.Vendors))
			ps.VendorOrigins = make(map[string]rules.Origin, len(p.Vendors))
			for id, v := range p.Vendors {
				ps.Vendors[id] = v
				ps.VendorOrigins[id] = ruleOrigin(cfg, key+".vendors."+id, name, p.Line)
			}
		}
		if cs := p.ConsentState; cs != nil {
			ps.ConsentState = consentStateSpec(cfg, key+".consent_state", name, cs)
		}
		f.Profiles = append(f.Profiles, ps)
	}
	return f
}

// ruleOrigin converts where a config value was written into a rules
// Origin; values not from a file cite the layer and the entry's line.
func ruleOrigin(cfg config.Config, key, file string, line int) rules.Origin {
	if o := cfg.Origin(key); o.File != "" {
		return rules.Origin{File: o.File, Line: o.Line}
	}
	return rules.Origin{File: file, Line: line}
}

// consentStateSpec converts a config profile's consent_state, keeping the
// file:line of every value the rules package checks so that its errors
// point into the config file.
func consentStateSpec(cfg config.Config, key, file string, cs *config.ConsentState) *rules.ConsentStateSpec {
	spec := &rules.ConsentStateSpec{
		ConsentSettings: consentSettings(cs.ConsentSettings), Enforce: cs.Enforce,
		Origin: rules.Origin{File: file, Line: cs.Line}, Origins: map[string]rules.Origin{},
	}
	addOrigins(cfg, spec.Origins, key, "", cs.ConsentSettings)
	for _, s := range cs.Sites {
		spec.Sites = append(spec.Sites, rules.ConsentSiteSpec{Site: s.Site, ConsentSettings: consentSettings(s.ConsentSettings)})
		spec.Origins["sites."+s.Site] = rules.Origin{File: file, Line: s.Line}
		addOrigins(cfg, spec.Origins, key+".sites."+s.Site, "sites."+s.Site+".", s.ConsentSettings)
	}
	return spec
}

func consentSettings(s config.ConsentSettings) rules.ConsentSettings {
	return rules.ConsentSettings{
		Formats:   s.Formats,
		OneTrust:  rules.OneTrustSpec{Groups: s.OneTrust.Groups, Version: s.OneTrust.Version},
		Cookiebot: rules.CookiebotSpec{Region: s.Cookiebot.Region},
		TCF: rules.TCFSpec{Cookie: s.TCF.Cookie, CmpID: s.TCF.CmpID, CmpVersion: s.TCF.CmpVersion, ConsentScreen: s.TCF.ConsentScreen,
			ConsentLanguage: s.TCF.ConsentLanguage, PublisherCC: s.TCF.PublisherCC, VendorListVersion: s.TCF.VendorListVersion,
			PolicyVersion: s.TCF.PolicyVersion},
		GPP: rules.GPPSpec{Cookie: s.GPP.Cookie, SIDCookie: s.GPP.SIDCookie},
	}
}

// addOrigins copies the config file's lines of the values rules checks,
// so that its errors point at them.
func addOrigins(cfg config.Config, dst map[string]rules.Origin, cfgKey, prefix string, s config.ConsentSettings) {
	for i := range s.Formats {
		dst[fmt.Sprintf("%sformats[%d]", prefix, i)] = fileOrigin(cfg, fmt.Sprintf("%s.formats[%d]", cfgKey, i))
	}
	cats := make([]string, 0, len(s.OneTrust.Groups))
	for c := range s.OneTrust.Groups {
		cats = append(cats, c)
	}
	sort.Strings(cats)
	for _, c := range cats {
		dst[prefix+"onetrust.groups."+c] = fileOrigin(cfg, cfgKey+".onetrust.groups."+c)
	}
	for _, k := range []string{"onetrust.version", "cookiebot.region", "tcf.cookie", "tcf.cmp_id", "tcf.cmp_version", "tcf.consent_screen",
		"tcf.consent_language", "tcf.publisher_cc", "tcf.vendor_list_version", "tcf.policy_version", "gpp.cookie", "gpp.sid_cookie"} {
		dst[prefix+k] = fileOrigin(cfg, cfgKey+"."+k)
	}
}

// fileOrigin is where the config file wrote key (zero when it did not).
func fileOrigin(cfg config.Config, key string) rules.Origin {
	o := cfg.Origin(key)
	return rules.Origin{File: o.File, Line: o.Line}
}
