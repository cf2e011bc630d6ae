package rules

import (
	"net/netip"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// Site returns the registrable domain (eTLD+1) of a host, per the Public
// Suffix List: "www.shop.example.co.uk" → "example.co.uk". IP addresses,
// single-label hosts and public suffixes themselves are their own site.
func Site(host string) string {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		return host
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return host
	}
	if !strings.Contains(host, ".") {
		return host
	}
	site, err := publicsuffix.EffectiveTLDPlusOne(host)
	if err != nil {
		return host
	}
	return site
}

// SameSite reports whether two hosts share a registrable domain.
func SameSite(a, b string) bool {
	return Site(a) == Site(b)
}
