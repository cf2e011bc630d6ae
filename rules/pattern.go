package rules

import (
	"fmt"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// Validation of the textual patterns of rules files, and their matching.
// Each check* function returns a message without location; the parser
// prefixes the line of the offending YAML node and Compile the origin of
// the item, so both report the same words.

// checkID validates vendor ids, profile names and category names.
func checkID(what, s string) error {
	if s == "" {
		return fmt.Errorf("%s is empty", what)
	}
	if len(s) > 64 {
		return fmt.Errorf("%s %q is longer than 64 characters", what, s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || i > 0 && c == '-'
		if !ok {
			return fmt.Errorf("%s %q: use lower-case letters, digits and '-' (starting with a letter or digit)", what, s)
		}
	}
	return nil
}

// checkProfileName allows '.' and '_' besides checkID's characters: profile
// names travel in X-Consent-Profile headers and proxy usernames, where
// users already have names like "qa_strict".
func checkProfileName(s string) error {
	if s == "" {
		return fmt.Errorf("profile name is empty")
	}
	if len(s) > 64 {
		return fmt.Errorf("profile name %q is longer than 64 characters", s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || i > 0 && (c == '-' || c == '_' || c == '.')
		if !ok {
			return fmt.Errorf("profile name %q: use lower-case letters, digits, '-', '_' and '.' (starting with a letter or digit)", s)
		}
	}
	return nil
}

// hostPattern is a compiled host pattern.
type hostPattern struct {
	domain string // without "*."
	star   bool   // "*.domain": subdomains only
}

func (h hostPattern) String() string {
	if h.star {
		return "*." + h.domain
	}
	return h.domain
}

// matches reports whether host (lower-case, no port) is covered.
func (h hostPattern) matches(host string) bool {
	if len(host) == len(h.domain) {
		return !h.star && host == h.domain
	}
	return len(host) > len(h.domain) && host[len(host)-len(h.domain)-1] == '.' && strings.HasSuffix(host, h.domain)
}

// specificity orders host patterns: a longer domain first, then "*." over a
// bare domain of the same length (it excludes the apex).
func (h hostPattern) specificity() int {
	n := 2 * len(h.domain)
	if h.star {
		n++
	}
	return n
}

// parseHostPattern validates "example.com" or "*.example.com".
func parseHostPattern(s string) (hostPattern, error) {
	orig := s
	if s == "" {
		return hostPattern{}, fmt.Errorf("host pattern is empty")
	}
	if strings.Contains(s, "://") || strings.ContainsAny(s, "/?#") {
		return hostPattern{}, fmt.Errorf("host pattern %q is a URL: write only the host name (paths go under paths:)", orig)
	}
	if strings.Contains(s, ":") {
		return hostPattern{}, fmt.Errorf("host pattern %q has a port: write the host name alone (ports never matter)", orig)
	}
	if lower := strings.ToLower(s); lower != s {
		return hostPattern{}, fmt.Errorf("host pattern %q must be lower-case (write %q)", orig, lower)
	}
	var p hostPattern
	if strings.HasPrefix(s, "*.") {
		p.star = true
		s = s[2:]
	}
	if strings.Contains(s, "*") {
		return hostPattern{}, fmt.Errorf("host pattern %q: '*' is only allowed as a leading \"*.\"", orig)
	}
	if strings.HasPrefix(s, ".") {
		return hostPattern{}, fmt.Errorf("host pattern %q starts with '.': write %q (a bare domain already covers its subdomains)", orig, strings.TrimLeft(s, "."))
	}
	if strings.HasSuffix(s, ".") {
		return hostPattern{}, fmt.Errorf("host pattern %q ends with '.': write %q", orig, strings.TrimRight(s, "."))
	}
	labels := strings.Split(s, ".")
	if len(labels) < 2 {
		return hostPattern{}, fmt.Errorf("host pattern %q has a single label: it would match a whole top-level domain", orig)
	}
	for _, l := range labels {
		if err := checkLabel(l); err != nil {
			return hostPattern{}, fmt.Errorf("host pattern %q: %w", orig, err)
		}
	}
	if ps, icann := publicsuffix.PublicSuffix(s); ps == s && (icann || strings.Contains(ps, ".")) {
		return hostPattern{}, fmt.Errorf("host pattern %q is a public suffix: it would match every site under it", orig)
	}
	p.domain = s
	return p, nil
}

func checkLabel(l string) error {
	if l == "" {
		return fmt.Errorf("empty label")
	}
	if len(l) > 63 {
		return fmt.Errorf("label %q is longer than 63 characters", l)
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("label %q has %q: use letters, digits, '-' and '_'", l, string(rune(c)))
		}
	}
	if l[0] == '-' || l[len(l)-1] == '-' {
		return fmt.Errorf("label %q starts or ends with '-'", l)
	}
	return nil
}

// pathPattern is a compiled path pattern.
type pathPattern struct {
	text    string
	glob    bool // contains '*'
	literal int  // count of non-'*' characters: the specificity
}

// parsePathPattern validates a path pattern.
func parsePathPattern(s string) (pathPattern, error) {
	if !strings.HasPrefix(s, "/") {
		return pathPattern{}, fmt.Errorf("path pattern %q must start with '/'", s)
	}
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		return pathPattern{}, fmt.Errorf("path pattern %q has %q: the query string and fragment are never matched (write %q)", s, string(s[i]), s[:i])
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			return pathPattern{}, fmt.Errorf("path pattern %q has a space or control character", s)
		}
	}
	return pathPattern{text: s, glob: strings.Contains(s, "*"), literal: len(s) - strings.Count(s, "*")}, nil
}

// matches implements the path rules: a glob matches the whole path, '*'
// spanning any run of characters (including '/'); a pattern without '*'
// matches that path and any path below it after a '/' ("/tr" matches "/tr",
// "/tr/" and "/tr/x", not "/track"); a pattern ending in '/' matches every
// path it prefixes.
func (p pathPattern) matches(path string) bool {
	if p.glob {
		return globMatch(p.text, path)
	}
	if !strings.HasPrefix(path, p.text) {
		return false
	}
	return len(path) == len(p.text) || p.text[len(p.text)-1] == '/' || path[len(p.text)] == '/'
}

// globMatch reports whether s matches pattern, where '*' matches any run of
// bytes and every other byte matches itself. Iterative with one backtrack
// point, so it is linear-ish and never allocates.
func globMatch(pattern, s string) bool {
	px, sx := 0, 0
	starPx, starSx := -1, 0
	for sx < len(s) {
		if px < len(pattern) {
			c := pattern[px]
			if c == '*' {
				starPx, starSx = px, sx
				px++
				continue
			}
			if c == s[sx] {
				px++
				sx++
				continue
			}
		}
		if starPx < 0 {
			return false
		}
		px = starPx + 1
		starSx++
		sx = starSx
	}
	for px < len(pattern) && pattern[px] == '*' {
		px++
	}
	return px == len(pattern)
}

// cookiePattern is a compiled cookie-name pattern.
type cookiePattern struct {
	text   string
	prefix string // literal text before the first '*' (all of text when exact)
	glob   bool
	// prefixStar is true for the common "prefix*" form, whose match needs no
	// glob run once the prefix matched.
	prefixStar bool
	literal    int
}

func parseCookiePattern(s string) (cookiePattern, error) {
	if s == "" {
		return cookiePattern{}, fmt.Errorf("cookie name is empty")
	}
	if strings.TrimSpace(s) != s {
		return cookiePattern{}, fmt.Errorf("cookie name %q has leading or trailing whitespace (browsers trim it: write %q)", s, strings.TrimSpace(s))
	}
	for _, r := range s {
		switch {
		case r == ';' || r == '=':
			return cookiePattern{}, fmt.Errorf("cookie name %q has %q, which cannot be part of a cookie name", s, string(r))
		case r == '?':
			return cookiePattern{}, fmt.Errorf("cookie name %q has '?': only '*' is a wildcard in cookie names", s)
		case r < 0x20 || r == 0x7f || r == 0xfffd:
			return cookiePattern{}, fmt.Errorf("cookie name %q has a control or invalid character", s)
		}
	}
	i := strings.IndexByte(s, '*')
	if i < 0 {
		return cookiePattern{text: s, prefix: s, literal: len(s)}, nil
	}
	return cookiePattern{
		text:       s,
		prefix:     s[:i],
		glob:       true,
		prefixStar: i == len(s)-1,
		literal:    len(s) - strings.Count(s, "*"),
	}, nil
}

// matches assumes the caller already knows name starts with p.prefix.
func (p cookiePattern) matchesAfterPrefix(name string) bool {
	if !p.glob {
		return len(name) == len(p.prefix)
	}
	if p.prefixStar {
		return true
	}
	return globMatch(p.text[len(p.prefix):], name[len(p.prefix):])
}
