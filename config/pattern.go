package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// HostPattern is a lower-case host pattern as passthrough and resolve use
// it:
//
//   - "example.com" matches example.com only, not its subdomains;
//   - "*.example.com" matches every subdomain of example.com, at any depth
//     (a.example.com, a.b.example.com), but not example.com itself;
//   - "*" matches every host.
//
// An IP address (v4, or v6 without brackets) is an exact pattern too.
//
// A bare domain is exact here, unlike host patterns in rules files where it
// also covers subdomains: these patterns change where a connection goes or
// whether it is inspected, so they do exactly what they say, as curl's
// --resolve does, and "*.example.com" is how to ask for more.
type HostPattern string

// ParseHostPattern checks s and returns it lower-cased, without a trailing
// dot.
func ParseHostPattern(s string) (HostPattern, error) {
	p := strings.TrimSuffix(strings.ToLower(s), ".")
	switch {
	case p == "":
		return "", errors.New("empty host pattern (use a host, *.host or *)")
	case p == "*":
		return "*", nil
	case strings.Contains(p, "://"):
		return "", fmt.Errorf("%q is a URL; give only the host (e.g. example.com)", s)
	}
	host := p
	if rest, ok := strings.CutPrefix(p, "*."); ok {
		host = rest
	}
	if strings.Contains(host, "*") {
		return "", fmt.Errorf("%q: * is allowed only as the whole pattern or as the first label (*.example.com)", s)
	}
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")); err == nil {
		if host != p {
			return "", fmt.Errorf("%q: an IP address cannot have subdomains", s)
		}
		return HostPattern(a.String()), nil
	}
	if strings.Contains(host, ":") {
		return "", fmt.Errorf("%q: give the host without a port", s)
	}
	if err := checkHostName(host); err != nil {
		return "", fmt.Errorf("%q: %w", s, err)
	}
	return HostPattern(p), nil
}

// checkHostName accepts DNS names. Underscores are allowed because real
// hosts use them (_dmarc, some CDN names) even though RFC 952 does not.
func checkHostName(h string) error {
	if len(h) > 253 {
		return errors.New("host name longer than 253 characters")
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" {
			return errors.New("empty label in host name")
		}
		if len(label) > 63 {
			return fmt.Errorf("label %q longer than 63 characters", label)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("%q is not allowed in a host name", string(c))
			}
		}
	}
	return nil
}

// Matches reports whether host (without a port; any case; a trailing dot
// and IPv6 brackets are ignored) matches the pattern. It does not allocate,
// so it can run on every request.
func (p HostPattern) Matches(host string) bool {
	host = strings.TrimSuffix(host, ".")
	if len(host) > 1 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1]
	}
	s := string(p)
	switch {
	case s == "*":
		return host != ""
	case strings.HasPrefix(s, "*."):
		suffix := s[1:] // ".example.com"
		return len(host) > len(suffix) && strings.EqualFold(host[len(host)-len(suffix):], suffix)
	}
	return strings.EqualFold(host, s)
}

// String returns the pattern as written in the config.
func (p HostPattern) String() string { return string(p) }

// ResolveRule sends connections for matching hosts to a fixed address, like
// curl's --resolve; the request's Host header and the TLS SNI stay the
// original host. Written "PATTERN=IP[:PORT]", e.g. "*.example.com=127.0.0.1",
// "api.example.com=10.0.0.5:8443", "*=[::1]:8443".
type ResolveRule struct {
	// Pattern is a HostPattern (lower-case): host, *.host or *.
	Pattern string
	IP      netip.Addr
	// Port replaces the request's port; 0 keeps it.
	Port int
}

// ParseResolve parses "PATTERN=IP[:PORT]". An IPv6 address with a port is
// written in brackets: "[::1]:8443"; without a port the brackets are
// optional.
func ParseResolve(s string) (ResolveRule, error) {
	pat, addr, ok := strings.Cut(s, "=")
	if !ok {
		if strings.Count(s, ":") == 2 {
			return ResolveRule{}, fmt.Errorf("%q looks like curl's HOST:PORT:ADDR; write PATTERN=IP[:PORT] (e.g. example.com=127.0.0.1:8443)", s)
		}
		return ResolveRule{}, fmt.Errorf("%q is not PATTERN=IP[:PORT] (e.g. *.example.com=127.0.0.1:8443)", s)
	}
	hp, err := ParseHostPattern(pat)
	if err != nil {
		return ResolveRule{}, fmt.Errorf("%q: %w", s, err)
	}
	r := ResolveRule{Pattern: string(hp)}
	host, port := addr, ""
	switch {
	case strings.HasPrefix(addr, "["):
		if strings.HasSuffix(addr, "]") {
			host = addr[1 : len(addr)-1]
		} else if host, port, err = net.SplitHostPort(addr); err != nil {
			return ResolveRule{}, fmt.Errorf("%q: %q is not [IPv6]:PORT (e.g. [::1]:8443)", s, addr)
		}
	case strings.Count(addr, ":") == 1:
		host, port, _ = strings.Cut(addr, ":")
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return ResolveRule{}, fmt.Errorf("%q: %q is not an IP address (a host name would need its own lookup; give the IP)", s, host)
	}
	if z := ip.Zone(); z != "" && !isInterfaceName(z) {
		return ResolveRule{}, fmt.Errorf("%q: %q is not an interface name (the zone after %%)", s, z)
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return ResolveRule{}, fmt.Errorf("%q: port %q is not a number from 1 to 65535", s, port)
		}
		r.Port = n
	}
	r.IP = ip
	return r, nil
}

// isInterfaceName accepts the zone of a link-local IPv6 address: an
// interface name or index. Anything else could not be dialled, and a "]"
// would not even survive being written as host:port.
func isInterfaceName(z string) bool {
	for i := 0; i < len(z); i++ {
		c := z[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Matches reports whether the rule applies to host, with HostPattern's
// semantics.
func (r ResolveRule) Matches(host string) bool { return HostPattern(r.Pattern).Matches(host) }

// DialAddr is the address to connect to for a request whose port is port:
// the rule's IP, with the rule's port when it has one.
func (r ResolveRule) DialAddr(port string) string {
	if r.Port != 0 {
		port = strconv.Itoa(r.Port)
	}
	return net.JoinHostPort(r.IP.String(), port)
}

// String is the rule as ParseResolve reads it.
func (r ResolveRule) String() string {
	if r.Port == 0 {
		return r.Pattern + "=" + r.IP.String()
	}
	return r.Pattern + "=" + net.JoinHostPort(r.IP.String(), strconv.Itoa(r.Port))
}

// MatchResolve returns the rule for host among rules: the most specific
// match wins (an exact host, then the longest *.suffix, then *), whatever
// the order, so that adding a catch-all never shadows a precise rule; among
// equally specific rules the first wins.
func MatchResolve(rules []ResolveRule, host string) (ResolveRule, bool) {
	best, bestRank := -1, -1
	for i, r := range rules {
		if !r.Matches(host) {
			continue
		}
		rank := len(r.Pattern) // a longer *.suffix is more specific
		switch {
		case r.Pattern == "*":
			rank = 0
		case !strings.HasPrefix(r.Pattern, "*."):
			rank = 1 << 16 // exact beats any wildcard
		}
		if rank > bestRank {
			best, bestRank = i, rank
		}
	}
	if best < 0 {
		return ResolveRule{}, false
	}
	return rules[best], true
}
