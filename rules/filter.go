package rules

import (
	"strings"

	"github.com/consentproxy/consentproxy/rules/cookie"
)

// Reason suffixes for the cookie readings of rules/cookie.
const (
	reasonOtherReading = " (a nameless cookie that servers read under a refused name)"
	reasonIgnored      = "a browser would ignore this Set-Cookie line (control character, empty or oversized cookie, or a nameless cookie posing as a __Host-/__Secure- one)"
)

// FilterCookieHeader removes refused cookies from the Cookie header field
// values of a request that got decision d, and returns the values to
// forward (none: send no Cookie header) and a verdict for each removed
// cookie, in order. Kept pairs are byte-identical and in order
// (rules/cookie.Rewrite); a pair is kept only when every name it can be
// read as is kept. For a Strip or Block decision nothing is forwarded and
// every cookie is reported. Verdicts carry the name a browser holds the
// cookie under; the other readings of a nameless cookie come from its
// value and are never reported.
func (s *Set) FilterCookieHeader(p *Profile, r Request, d Decision, lines []string) (out []string, stripped []CookieVerdict) {
	p = s.own(p)
	host := normHost(r.Host)
	if d.Action != Allow {
		stripped = make([]CookieVerdict, 0, maxPairs(lines))
		for pair := range cookie.Pairs(lines) {
			stripped = append(stripped, s.judgeCookie(p, host, r.Context, &d, pair.Names.Primary()))
		}
		return nil, stripped
	}
	out, removed := cookie.Rewrite(lines, func(name string) bool {
		v := s.judgeCookie(p, host, r.Context, &d, name)
		if !v.Keep {
			if stripped == nil {
				// Room for a typical strip (a few trackers' cookies); a
				// header stripped of more grows the slice. Sizing it for
				// the worst case cost a kilobyte per request of a browser
				// that holds a dozen cookies.
				stripped = make([]CookieVerdict, 0, min(4, maxPairs(lines)))
			}
			stripped = append(stripped, v)
		}
		return v.Keep
	})
	// Rewrite stops judging a pair at its first refused reading, so each
	// removed pair matches exactly one refused verdict, in order.
	for i := range stripped {
		if stripped[i].Name != removed[i] {
			stripped[i].Name = removed[i]
			stripped[i].Reason += reasonOtherReading
		}
	}
	return out, stripped
}

// FilterSetCookie removes refused cookies from the Set-Cookie field values
// of a response to a request that got decision d, and returns the values to
// forward (the input strings, in order) and a verdict for each removed one.
// A field is kept only when every name it can be read as is kept
// (rules/cookie.SetCookieNames) and a browser would not ignore it. For a
// Strip or Block decision nothing is kept. If nothing is removed, kept is
// fields itself.
func (s *Set) FilterSetCookie(p *Profile, r Request, d Decision, fields []string) (kept []string, stripped []CookieVerdict) {
	p = s.own(p)
	host := normHost(r.Host)
	if d.Action != Allow {
		stripped = make([]CookieVerdict, 0, len(fields))
		for _, f := range fields {
			names, _ := cookie.SetCookieNames(f)
			stripped = append(stripped, s.judgeCookie(p, host, r.Context, &d, names.Primary()))
		}
		return nil, stripped
	}
	for i, f := range fields {
		v, keep := s.judgeSetCookie(p, host, r.Context, &d, f)
		if keep {
			if kept != nil {
				kept = append(kept, f)
			}
			continue
		}
		if kept == nil {
			kept = make([]string, i, len(fields))
			copy(kept, fields[:i])
			stripped = make([]CookieVerdict, 0, len(fields)-i)
		}
		stripped = append(stripped, v)
	}
	if kept == nil {
		return fields, nil
	}
	return kept, stripped
}

// judgeSetCookie judges every reading of one Set-Cookie field; the verdict
// is meaningful only when the field is refused.
func (s *Set) judgeSetCookie(p *Profile, host string, ctx Context, d *Decision, field string) (CookieVerdict, bool) {
	names, ok := cookie.SetCookieNames(field)
	primary := names.Primary()
	if !ok {
		v := s.judgeCookie(p, host, ctx, d, primary)
		v.Keep, v.Reason = false, reasonIgnored
		return v, false
	}
	for i := 0; i < names.Len(); i++ {
		v := s.judgeCookie(p, host, ctx, d, names.At(i))
		if !v.Keep {
			if i > 0 {
				v.Name = primary
				v.Reason += reasonOtherReading
			}
			return v, false
		}
	}
	return CookieVerdict{}, true
}

// maxPairs bounds the number of pairs in Cookie header lines.
func maxPairs(lines []string) int {
	n := 0
	for _, l := range lines {
		n += strings.Count(l, ";") + 1
	}
	return n
}
