package rules

import "strings"

// Request is the facts of a request that a decision depends on.
type Request struct {
	// Host is lower-case, without port or trailing dot.
	Host string
	// Path is the decoded URL path (url.URL.Path), without the query
	// string, which never takes part in matching.
	Path    string
	Dest    Dest
	Context Context
}

// Decision is what to do with a request, and why.
type Decision struct {
	Action Action
	// Category, Vendor (id), VendorName, Service, Kind and Origin describe
	// the tracker service that matched; they are empty when Matched is false.
	Category   Category
	Vendor     string
	VendorName string
	Service    string
	Kind       Kind
	Origin     Origin
	Matched    bool
	// Reason is one human sentence (no query strings, no cookie values).
	Reason string
}

// CookieVerdict is what happens to one cookie name.
type CookieVerdict struct {
	Name string
	Keep bool
	// Known is true when a cookie rule matched the name; Category, Vendor and
	// Origin then come from that rule. For an unknown name on a tracker
	// request they come from the tracker service.
	Known    bool
	Category Category
	Vendor   string
	Origin   Origin
	Reason   string
}

// Reasons that do not depend on a profile.
const (
	reasonNoMatch   = "no tracker service matches this host and path"
	reasonDocument  = ", but a document is never blocked (a blocked navigation would silently do nothing); its cookies are filtered"
	reasonBlocked   = "the request is blocked: no cookie reaches the server"
	reasonStripped  = "the request is stripped: every cookie is removed"
	reasonEssential = "essential cookies are never stripped"
)

// essentialCatNum is essential's category number in every Set:
// BuiltinCategories lists it first and Compile adds those first.
const essentialCatNum = 0

// own maps a profile to this Set's profile of the same name: category
// numbers are per Set. A nil or foreign profile with no counterpart is
// judged as essential-only.
func (s *Set) own(p *Profile) *Profile {
	if p != nil && p.set == s {
		return p
	}
	if p != nil {
		if q := s.profiles[p.Name]; q != nil {
			return q
		}
	}
	return s.fallback
}

// normHost lower-cases and drops a trailing dot, allocating only when the
// host actually needs it.
func normHost(h string) string {
	for i := 0; i < len(h); i++ {
		if c := h[i]; c >= 'A' && c <= 'Z' {
			h = strings.ToLower(h)
			break
		}
	}
	return strings.TrimSuffix(h, ".")
}

func normPath(p string) string {
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	if p == "" {
		return "/"
	}
	return p
}

// Decide classifies a request for profile p. It is pure: the same Set,
// profile and request always give the same Decision.
//
//  1. The most specific service whose host and path patterns match: the
//     longest host pattern, then the longest path pattern; a tie goes to the
//     later layer, and within a layer to the most restrictive for p.
//  2. No service: Allow (cookies are still judged by name).
//  3. The service's category is allowed (essential always; a vendor override
//     first, then the profile's categories): Allow.
//  4. Refused, and a top-level navigation or a document: Allow (never
//     blocked, only cookie-filtered). Refused and first-party: Allow.
//  5. Refused in third-party context: on_denied strip → Strip; on_denied
//     block → BlockImage for an image destination, or a pixel service whose
//     destination is unknown; else BlockEmpty.
func (s *Set) Decide(p *Profile, r Request) Decision {
	p = s.own(p)
	host, path := normHost(r.Host), normPath(r.Path)
	svc := s.match(p, host, path)
	if svc == nil {
		return Decision{Action: Allow, Reason: reasonNoMatch}
	}
	d := Decision{
		Action:     Allow,
		Category:   svc.category,
		Vendor:     svc.vendor.id,
		VendorName: svc.vendor.name,
		Service:    svc.name,
		Kind:       svc.kind,
		Origin:     svc.origin,
		Matched:    true,
	}
	allowed, why := p.judge(svc.cat, svc.vendor.id)
	switch {
	case allowed:
		d.Reason = why.allowed
	case r.Context == TopLevel:
		d.Reason = why.topLevel
	case r.Dest == DestDocument:
		d.Reason = why.cookie + reasonDocument
	case r.Context == FirstParty:
		d.Reason = why.firstParty
	case p.onDenied == DeniedStrip:
		d.Action, d.Reason = Strip, why.refused
	case r.Dest == DestImage || r.Dest == DestUnknown && svc.kind == KindPixel:
		d.Action, d.Reason = BlockImage, why.refused
	default:
		d.Action, d.Reason = BlockEmpty, why.refused
	}
	return d
}

// match finds the most specific service for host and path, walking the
// host's labels from the full name down to its last label through the
// bucket map; the first level with a match holds the longest host pattern.
func (s *Set) match(p *Profile, host, path string) *service {
	suffix := host
	for {
		if b := s.hosts[suffix]; b != nil {
			if svc := b.best(p, len(suffix) == len(host), path); svc != nil {
				return svc
			}
		}
		i := strings.IndexByte(suffix, '.')
		if i < 0 {
			return nil
		}
		suffix = suffix[i+1:]
	}
}

// best picks among the services filed under one domain: "*." patterns only
// when the host is a subdomain, then the more specific ("*." over bare, a
// longer path), then the later layer, then the most restrictive for p, then
// definition order.
func (b *hostBucket) best(p *Profile, apex bool, path string) *service {
	var best *service
	bestStar, bestPath := false, -1
	for _, e := range b.entries {
		if e.star && apex {
			continue
		}
		ps := e.svc.pathSpecificity(path)
		if ps < 0 {
			continue
		}
		if best != nil {
			if e.star != bestStar {
				if !e.star {
					continue
				}
			} else if ps != bestPath {
				if ps < bestPath {
					continue
				}
			} else if e.svc.layer != best.layer {
				if e.svc.layer < best.layer {
					continue
				}
			} else if !p.serviceStricter(e.svc, best) {
				continue
			}
		}
		best, bestStar, bestPath = e.svc, e.star, ps
	}
	return best
}

// pathSpecificity is -1 when no path pattern matches, 0 for a service
// without paths (the least specific) and 1 + the literal length of the
// longest matching pattern otherwise.
func (svc *service) pathSpecificity(path string) int {
	if len(svc.paths) == 0 {
		return 0
	}
	best := -1
	for _, pp := range svc.paths {
		if pp.literal+1 > best && pp.matches(path) {
			best = pp.literal + 1
		}
	}
	return best
}

// serviceStricter reports whether a is refused where b is allowed.
func (p *Profile) serviceStricter(a, b *service) bool {
	ka, _ := p.judge(a.cat, a.vendor.id)
	kb, _ := p.judge(b.cat, b.vendor.id)
	return !ka && kb
}

// JudgeCookie decides one cookie name on a request that got decision d
// (from Decide with the same profile and request).
//
//   - d blocked or stripped: the cookie never reaches the server (Keep false);
//     the verdict still names its category for events.
//   - A known name (a cookie rule matches): essential is kept; else the
//     rule's vendor override decides, else whether the profile allows the
//     category. A vendor deny override does not strip essential cookies.
//   - An unknown name on an allowed request that matched a tracker service
//     in third-party context takes that service's category and vendor.
//   - Any other unknown name follows the profile's unknown_cookies.
func (s *Set) JudgeCookie(p *Profile, r Request, d Decision, name string) CookieVerdict {
	p = s.own(p)
	return s.judgeCookie(p, normHost(r.Host), r.Context, &d, name)
}

func (s *Set) judgeCookie(p *Profile, host string, ctx Context, d *Decision, name string) CookieVerdict {
	v := CookieVerdict{Name: name}
	e := s.cookies.lookup(p, host, name)
	if e != nil {
		v.Known, v.Category, v.Vendor, v.Origin = true, e.category, e.vendor, e.origin
	} else if d.Matched {
		v.Category, v.Vendor, v.Origin = d.Category, d.Vendor, d.Origin
	}
	switch {
	case d.Action == Strip:
		v.Reason = reasonStripped
	case d.Action.Blocked():
		v.Reason = reasonBlocked
	case e != nil:
		if e.cat == essentialCatNum {
			v.Keep, v.Reason = true, reasonEssential
			break
		}
		var why *categoryReasons
		v.Keep, why = p.judge(e.cat, e.vendor)
		v.Reason = why.cookie
	case d.Matched && ctx == ThirdParty:
		cat, ok := s.catIndex[d.Category]
		if !ok {
			v.Keep, v.Reason = p.unknownCookies == CookieAllow, p.unknownReason()
			break
		}
		var why *categoryReasons
		v.Keep, why = p.judge(cat, d.Vendor)
		v.Reason = why.tracker
	default:
		v.Category, v.Vendor, v.Origin = "", "", Origin{}
		v.Keep, v.Reason = p.unknownCookies == CookieAllow, p.unknownReason()
	}
	return v
}

func (p *Profile) unknownReason() string {
	if p.unknownCookies == CookieAllow {
		return p.unknownKeep
	}
	return p.unknownStrip
}
