package cookie

import "strings"

// maxNameValue is rfc6265bis's limit on the length of a cookie's name and
// value together; browsers ignore a longer cookie.
const maxNameValue = 4096

// SetCookieNames returns the names the cookie set by one Set-Cookie header
// field value can be judged by: the name a browser stores it under first,
// then any other name a server reads when the browser sends it back. It
// never splits on commas. It does not allocate.
//
//	"sid=1; Path=/"  → ["sid"]
//	"foo"            → ["", "foo"]   nameless; sent as "foo"
//	"=a=b"           → ["", "a"]     nameless; sent as "a=b"
//	"\"a=b\"=bar"    → ["\"a"]       quotes are not syntax
//
// ok is false when a current browser would ignore the whole line (a control
// character other than HTAB, an empty name and value, a name and value over
// 4096 bytes, a nameless cookie whose value starts with "__Host-" or a
// similar prefix). The names are then still computed (cut at the first NUL,
// CR or LF, as older browsers did); drop such a line or treat it as refused.
func SetCookieNames(field string) (names Names, ok bool) {
	name, value, ok := parseSetCookie(field)
	names.add(name)
	if name == "" && value != "" {
		// A nameless cookie travels as its bare value, which the server
		// reads as a pair of its own.
		v := pairNames(value)
		for _, n := range v.list[:v.n] {
			names.add(n)
		}
	}
	return names, ok
}

// parseSetCookie is rfc6265bis §5.6 steps 1–5 for the name and value only:
// it cuts at the first ';', splits at the first '=', trims SP and HTAB, and
// reports whether a browser would keep the cookie at all. For the names of
// an ignored line it also cuts at NUL, CR and LF, as Chromium did before it
// ignored such lines (http-state disabled-chromium0022/0023).
func parseSetCookie(field string) (name, value string, ok bool) {
	pair := field
	if semi := strings.IndexByte(field, ';'); semi >= 0 {
		pair = field[:semi]
	}
	ok = true
	if ctl := indexCTL(field); ctl >= 0 {
		ok = false
		if cut := indexAny3(pair, 0, '\r', '\n'); cut >= 0 {
			pair = pair[:cut]
		}
	}
	if eq := strings.IndexByte(pair, '='); eq >= 0 {
		name, value = trimWSP(pair[:eq]), trimWSP(pair[eq+1:])
	} else {
		value = trimWSP(pair)
	}
	switch {
	case name == "" && value == "":
		ok = false
	case len(name)+len(value) > maxNameValue:
		ok = false
	case name == "" && hasCookiePrefix(value):
		// rfc6265bis refuses these so that a nameless cookie cannot
		// impersonate a __Host- or __Secure- one on the wire.
		ok = false
	}
	return name, value, ok
}

// indexCTL returns the index of the first control character that makes
// rfc6265bis ignore a Set-Cookie line (%x00-08 / %x0A-1F / %x7F; HTAB is
// allowed), or -1. Every Set-Cookie goes through it, so it tests eight bytes
// at a time and looks at single bytes only near a suspect.
func indexCTL(s string) int {
	const (
		ones = 0x0101010101010101
		high = 0x8080808080808080
	)
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		// Some byte is < 0x20 or == 0x7f (or, harmlessly, >= 0x80):
		// the exact test below sorts it out.
		below := (x - 0x20*ones) & ^x & high
		del := ((x ^ 0x7f*ones) - ones) & high
		if below|del != 0 {
			for j := i; j < i+8; j++ {
				if isCTL(s[j]) {
					return j
				}
			}
		}
	}
	for ; i < len(s); i++ {
		if isCTL(s[i]) {
			return i
		}
	}
	return -1
}

// isCTL reports the control characters that make rfc6265bis ignore a
// Set-Cookie line: %x00-08 / %x0A-1F / %x7F (HTAB is allowed).
func isCTL(c byte) bool { return (c < 0x20 && c != '\t') || c == 0x7f }

// indexAny3 returns the index of the first of a, b or c in s, or -1.
func indexAny3(s string, a, b, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == a || s[i] == b || s[i] == c {
			return i
		}
	}
	return -1
}

// hasCookiePrefix reports whether v starts, case-insensitively, with one of
// the name prefixes a browser protects (__Secure-, __Host- and the newer
// __Http-, __Host-Http-, which __Host- and __Http- already cover).
func hasCookiePrefix(v string) bool {
	for _, p := range [...]string{"__Secure-", "__Host-", "__Http-"} {
		if len(v) >= len(p) && strings.EqualFold(v[:len(p)], p) {
			return true
		}
	}
	return false
}

// FilterSetCookie returns the Set-Cookie field values to forward: those
// whose every name keep approves and that a browser would not ignore. Kept
// values are the input strings, in order. If nothing is removed, kept is
// fields itself and removed is nil (no allocation). removed lists the
// primary name of each dropped field, in order, for events; it never holds a
// value. keep must not be nil.
func FilterSetCookie(fields []string, keep func(name string) bool) (kept, removed []string) {
	for i, field := range fields {
		names, ok := SetCookieNames(field)
		if ok {
			if _, refused := names.Refused(keep); !refused {
				if kept != nil {
					kept = append(kept, field)
				}
				continue
			}
		}
		if kept == nil {
			kept = make([]string, 0, len(fields)-1)
			kept = append(kept, fields[:i]...)
		}
		removed = append(removed, names.Primary())
	}
	if kept == nil {
		return fields, nil
	}
	return kept, removed
}
