package rules

import (
	"slices"
	"sort"
)

// Profile is a compiled consent profile of one Set. Its exported fields
// are copies for display: decisions use the compiled form, so changing
// them changes nothing (and cannot make a cached decision stale). Use
// Allows and VendorOverride to ask what it permits.
type Profile struct {
	Name           string
	Description    string
	UnknownCookies CookiePolicy
	OnDenied       DeniedPolicy
	// GPC and DNT: the proxy adds Sec-GPC: 1 / DNT: 1 to forwarded requests.
	GPC, DNT bool
	Origin   Origin

	set            *Set
	num            int // position in the Set, for the decision cache's hash
	unknownCookies CookiePolicy
	onDenied       DeniedPolicy
	spec           ProfileSpec
	allowed        []bool // by category number; essential always true
	// overrides by vendor id; nil when the profile has none, so the common
	// case costs no map probe.
	overrides map[string]*override
	// reasons by category number, built once so that a decision never
	// allocates text.
	reasons []categoryReasons
	// the texts that do not depend on a category
	unknownKeep, unknownStrip string
}

type override struct {
	allow   bool
	origin  Origin
	reasons categoryReasons
}

// categoryReasons are the Reason texts for one category (or one vendor
// override) under one profile.
type categoryReasons struct {
	allowed    string // the request or cookie is allowed
	refused    string // third-party request refused (names on_denied)
	topLevel   string // refused, but a top-level navigation
	firstParty string // refused, but first-party
	cookie     string // a known cookie: kept or stripped for this reason
	tracker    string // an unknown cookie that takes a tracker's category
}

// Allows reports whether the profile allows a category (essential always).
// It does not consider vendor overrides; see VendorOverride.
func (p *Profile) Allows(c Category) bool {
	if c == Essential {
		return true
	}
	i, ok := p.set.catIndex[c]
	return ok && p.allowed[i]
}

// VendorOverride reports the profile's override for a vendor id: ok is
// false when there is none, else allow says whether the vendor is allowed
// whatever its categories. A deny override never refuses essential services
// or strips essential cookies: essential is not refusable.
func (p *Profile) VendorOverride(id string) (allow bool, ok bool) {
	o := p.overrides[id]
	if o == nil {
		return false, false
	}
	return o.allow, true
}

// AllowedCategories returns the allowed categories (essential included) in
// the Set's category order.
func (p *Profile) AllowedCategories() []Category {
	var out []Category
	for i, ok := range p.allowed {
		if ok {
			out = append(out, p.set.categories[i].Name)
		}
	}
	return out
}

// VendorOverrides returns a copy of the overrides: vendor id → "allow" or "deny".
func (p *Profile) VendorOverrides() map[string]string {
	out := make(map[string]string, len(p.overrides))
	for id, o := range p.overrides {
		if o.allow {
			out[id] = OverrideAllow
		} else {
			out[id] = OverrideDeny
		}
	}
	return out
}

// Spec returns the profile as written (a deep copy).
func (p *Profile) Spec() ProfileSpec {
	s := p.spec
	s.Allow = slices.Clone(s.Allow)
	if s.Vendors != nil {
		s.Vendors = make(map[string]string, len(p.spec.Vendors))
		for k, v := range p.spec.Vendors {
			s.Vendors[k] = v
		}
	}
	if s.VendorOrigins != nil {
		s.VendorOrigins = make(map[string]Origin, len(p.spec.VendorOrigins))
		for k, v := range p.spec.VendorOrigins {
			s.VendorOrigins[k] = v
		}
	}
	s.ConsentState = p.spec.ConsentState.clone()
	return s
}

// ConsentState returns the profile's consent_state as written (a deep
// copy); ok is false when the profile has none. rules/consent turns it into
// cookie values.
func (p *Profile) ConsentState() (cs ConsentStateSpec, ok bool) {
	if p.spec.ConsentState == nil {
		return ConsentStateSpec{}, false
	}
	return *p.spec.ConsentState.clone(), true
}

// judge says whether a category (by number) of a vendor is allowed and why.
// Essential first, then the vendor override, then the categories.
func (p *Profile) judge(cat int, vendorID string) (bool, *categoryReasons) {
	if p.overrides != nil && vendorID != "" && cat != essentialCatNum {
		if o := p.overrides[vendorID]; o != nil {
			return o.allow, &o.reasons
		}
	}
	return p.allowed[cat], &p.reasons[cat]
}

// cookieStricter reports whether entry a would strip where b keeps, for the
// "a tie within one layer counts as the most restrictive" rule.
func (p *Profile) cookieStricter(a, b *cookieEntry) bool {
	ka, _ := p.judge(a.cat, a.vendor)
	kb, _ := p.judge(b.cat, b.vendor)
	return !ka && kb
}

func compileProfile(s *Set, ps ProfileSpec) *Profile {
	uc, _ := parseCookiePolicy(ps.UnknownCookies)
	od, _ := parseDeniedPolicy(ps.OnDenied)
	p := &Profile{
		Name:           ps.Name,
		Description:    ps.Description,
		UnknownCookies: uc,
		OnDenied:       od,
		GPC:            ps.GPC,
		DNT:            ps.DNT,
		Origin:         ps.Origin,
		set:            s,
		unknownCookies: uc,
		onDenied:       od,
		spec:           ps,
		allowed:        make([]bool, len(s.categories)),
		reasons:        make([]categoryReasons, len(s.categories)),
	}
	p.spec = p.Spec()
	p.allowed[essentialCatNum] = true
	for _, a := range ps.Allow {
		if i, ok := s.catIndex[Category(a)]; ok {
			p.allowed[i] = true
		}
	}
	for i, ci := range s.categories {
		p.reasons[i] = p.categoryReasons(string(ci.Name), i == essentialCatNum, p.allowed[i], "")
	}
	if len(ps.Vendors) > 0 {
		p.overrides = make(map[string]*override, len(ps.Vendors))
		ids := make([]string, 0, len(ps.Vendors))
		for id := range ps.Vendors {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			allow := ps.Vendors[id] == OverrideAllow
			o := &override{allow: allow, origin: ps.VendorOrigins[id]}
			o.reasons = p.categoryReasons("", false, allow, id)
			p.overrides[id] = o
		}
	}
	p.unknownKeep = "unknown cookie; profile " + p.Name + " keeps unknown cookies (unknown_cookies: allow)"
	p.unknownStrip = "unknown cookie; profile " + p.Name + " strips unknown cookies (unknown_cookies: strip)"
	return p
}

func (p *Profile) categoryReasons(cat string, essential, allowed bool, vendorID string) categoryReasons {
	var subject string
	if vendorID != "" {
		if allowed {
			subject = "vendor " + vendorID + " is allowed by an override in profile " + p.Name
		} else {
			subject = "vendor " + vendorID + " is denied by an override in profile " + p.Name
		}
	} else if essential {
		subject = "essential is always allowed"
	} else if allowed {
		subject = cat + " is allowed by profile " + p.Name
	} else {
		subject = cat + " is refused by profile " + p.Name
	}
	if allowed {
		return categoryReasons{
			allowed: subject,
			cookie:  subject,
			tracker: "unknown cookie on a tracker request takes its category: " + subject,
		}
	}
	return categoryReasons{
		refused:    subject + " (on_denied: " + p.onDenied.String() + ")",
		topLevel:   subject + ", but a top-level navigation is never blocked; its cookies are filtered",
		firstParty: subject + ", but the request is first-party; its cookies are filtered",
		cookie:     subject,
		tracker:    "unknown cookie on a tracker request takes its category: " + subject,
	}
}
