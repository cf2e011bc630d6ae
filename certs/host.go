package certs

import (
	"fmt"
	"net/netip"
	"strings"
)

// maxHostLen is the longest DNS name that fits on the wire (RFC 1035 §2.3.4,
// 255 octets in wire form = 253 characters in dotted form).
const maxHostLen = 253

// leafName is a host normalised for issuance: exactly one of dns and ip is
// set. key is the canonical form used as the cache key.
type leafName struct {
	key string
	dns string
	ip  netip.Addr
}

// normalizeHost turns what a CONNECT or SNI gives us into the one name a
// leaf certificate is minted for. It is strict on purpose: anything it
// accepts ends up in a certificate that browsers must match, and anything
// odd (a port, a wildcard, non-ASCII) means the caller passed the wrong
// thing, which is better reported than papered over.
func normalizeHost(host string) (leafName, error) {
	h := host
	// A bracketed IPv6 literal is how hosts appear in URLs and CONNECT
	// lines; accept it without the brackets.
	if len(h) > 2 && h[0] == '[' && h[len(h)-1] == ']' {
		h = h[1 : len(h)-1]
		addr, err := netip.ParseAddr(h)
		if err != nil || !addr.Is6() {
			return leafName{}, fmt.Errorf("host %q: brackets hold no IPv6 address", host)
		}
	}
	if h == "" {
		return leafName{}, fmt.Errorf("empty host: pass the host name or IP address the client connected to")
	}
	if addr, err := netip.ParseAddr(h); err == nil {
		// A certificate cannot name a zone (fe80::1%eth0); the address is
		// what the client compares against.
		addr = addr.WithZone("")
		return leafName{key: addr.String(), ip: addr}, nil
	}
	if strings.Contains(h, "*") {
		return leafName{}, fmt.Errorf("host %q: wildcards are not issued; pass the concrete host name", host)
	}
	if strings.ContainsRune(h, ':') {
		return leafName{}, fmt.Errorf("host %q has a port or is not a valid IP address; pass the host alone (strip \":port\")", host)
	}
	// One trailing dot is the fully qualified spelling of the same name.
	h = strings.TrimSuffix(h, ".")
	if len(h) > maxHostLen {
		return leafName{}, fmt.Errorf("host %q: longer than %d characters", truncate(host, 40), maxHostLen)
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; c >= 0x80 {
			return leafName{}, fmt.Errorf("host %q: non-ASCII; pass its punycode (xn--) form", host)
		}
	}
	h = strings.ToLower(h)
	labels := strings.Split(h, ".")
	for _, l := range labels {
		if l == "" {
			return leafName{}, fmt.Errorf("host %q: empty label", host)
		}
		if len(l) > 63 {
			return leafName{}, fmt.Errorf("host %q: label longer than 63 characters", truncate(host, 40))
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			// Underscores are not valid in host names, but real hosts use
			// them (e.g. _dmarc-style service names behind CDNs) and
			// browsers connect to them, so they are accepted.
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return leafName{}, fmt.Errorf("host %q: character %q is not allowed in a host name", host, c)
			}
		}
	}
	// An all-numeric last label is no DNS name (RFC 3696 §2); it is an IP
	// address the parser above refused, such as 256.1.1.1 or 127.000.0.1,
	// and a certificate naming it as DNS would be matched by nobody.
	if allDigits(labels[len(labels)-1]) {
		return leafName{}, fmt.Errorf("host %q: not a valid IP address or host name", host)
	}
	return leafName{key: h, dns: h}, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
