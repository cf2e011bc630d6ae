package config

import (
	"net"
	"strconv"
	"strings"
	"testing"
)

// FuzzParseHostPattern: any string either is refused or becomes a
// canonical pattern (lower case, no trailing dot) that parses to itself and
// matches what it says: itself when exact, the subdomains and not the
// domain when *.domain.
func FuzzParseHostPattern(f *testing.F) {
	for _, s := range []string{"example.com", "*.Example.COM.", "*", "::1", "[::1]", "*.127.0.0.1", "a*.b", "http://x", "x:80", "_dmarc.x", "", "a..b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseHostPattern(s)
		if err != nil {
			if p != "" {
				t.Fatalf("ParseHostPattern(%q) = %q with error %v", s, p, err)
			}
			return
		}
		ps := string(p)
		if ps != strings.ToLower(ps) || strings.HasSuffix(ps, ".") || ps == "" {
			t.Fatalf("ParseHostPattern(%q) = %q, not canonical", s, ps)
		}
		if again, err := ParseHostPattern(ps); err != nil || again != p {
			t.Fatalf("ParseHostPattern(%q) = %q, which parses to %q, %v", s, ps, again, err)
		}
		switch {
		case ps == "*":
			if !p.Matches("a.example") || p.Matches("") {
				t.Fatalf("* does not match as it should")
			}
		case strings.HasPrefix(ps, "*."):
			domain := ps[2:]
			if p.Matches(domain) || !p.Matches("a."+domain) || !p.Matches("A.B."+strings.ToUpper(domain)+".") {
				t.Fatalf("%q: matches %s %v, a.%s %v", ps, domain, p.Matches(domain), domain, p.Matches("a."+domain))
			}
		default:
			if !p.Matches(ps) || !p.Matches(strings.ToUpper(ps)+".") || p.Matches("a."+ps) {
				t.Fatalf("%q does not match exactly itself", ps)
			}
		}
	})
}

// FuzzParseResolve: any --resolve value either is refused with an error
// that quotes it, or becomes a rule that prints back to a value parsing to
// the same rule, with a valid pattern, IP and port, and a dial address
// that is a host:port.
func FuzzParseResolve(f *testing.F) {
	for _, s := range []string{"example.com=127.0.0.1", "*.example.com=10.0.0.5:8443", "*=[::1]:8443", "a=::1", "a=[::1]",
		"a:443:127.0.0.1", "a=b", "a=1.2.3.4:0", "a=1.2.3.4:65536", "=1.2.3.4", "a=1.2.3.4:", "a=[fe80::1%eth0]:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseResolve(s)
		if err != nil {
			if !strings.Contains(err.Error(), strconv.Quote(s)) {
				t.Fatalf("ParseResolve(%q): error %q does not quote the value", s, err)
			}
			return
		}
		if _, err := ParseHostPattern(r.Pattern); err != nil {
			t.Fatalf("ParseResolve(%q): pattern %q: %v", s, r.Pattern, err)
		}
		if !r.IP.IsValid() || r.Port < 0 || r.Port > 65535 {
			t.Fatalf("ParseResolve(%q) = %+v", s, r)
		}
		again, err := ParseResolve(r.String())
		if err != nil || again != r {
			t.Fatalf("ParseResolve(%q) = %+v, printed %q, parsed again %+v, %v", s, r, r.String(), again, err)
		}
		if _, _, err := net.SplitHostPort(r.DialAddr("443")); err != nil {
			t.Fatalf("DialAddr: %v", err)
		}
	})
}
