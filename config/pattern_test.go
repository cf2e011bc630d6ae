package config

import (
	"net/netip"
	"testing"
)

func TestParseResolve(t *testing.T) {
	tests := []struct {
		in   string
		want ResolveRule
	}{
		{"example.com=127.0.0.1", ResolveRule{"example.com", netip.MustParseAddr("127.0.0.1"), 0}},
		{"Example.COM.=127.0.0.1:8443", ResolveRule{"example.com", netip.MustParseAddr("127.0.0.1"), 8443}},
		{"*.example.com=10.0.0.5:443", ResolveRule{"*.example.com", netip.MustParseAddr("10.0.0.5"), 443}},
		{"*=127.0.0.1:1", ResolveRule{"*", netip.MustParseAddr("127.0.0.1"), 1}},
		{"*=127.0.0.1:65535", ResolveRule{"*", netip.MustParseAddr("127.0.0.1"), 65535}},
		{"a.b=::1", ResolveRule{"a.b", netip.MustParseAddr("::1"), 0}},
		{"a.b=[::1]", ResolveRule{"a.b", netip.MustParseAddr("::1"), 0}},
		{"a.b=[::1]:8443", ResolveRule{"a.b", netip.MustParseAddr("::1"), 8443}},
		{"a.b=2001:db8::5", ResolveRule{"a.b", netip.MustParseAddr("2001:db8::5"), 0}},
		{"a.b=[2001:db8::5]:443", ResolveRule{"a.b", netip.MustParseAddr("2001:db8::5"), 443}},
		{"127.0.0.2=127.0.0.1", ResolveRule{"127.0.0.2", netip.MustParseAddr("127.0.0.1"), 0}},
		{"_dmarc.example.com=127.0.0.1", ResolveRule{"_dmarc.example.com", netip.MustParseAddr("127.0.0.1"), 0}},
	}
	for _, tt := range tests {
		got, err := ParseResolve(tt.in)
		if err != nil {
			t.Errorf("ParseResolve(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseResolve(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
		// String must give back something ParseResolve reads the same.
		again, err := ParseResolve(got.String())
		if err != nil || again != got {
			t.Errorf("ParseResolve(%q.String() = %q) = %+v, %v; want %+v", tt.in, got.String(), again, err, got)
		}
	}
}

func TestParseResolveErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `"" is not PATTERN=IP[:PORT] (e.g. *.example.com=127.0.0.1:8443)`},
		{"example.com", `"example.com" is not PATTERN=IP[:PORT] (e.g. *.example.com=127.0.0.1:8443)`},
		{"example.com:443:127.0.0.1", `"example.com:443:127.0.0.1" looks like curl's HOST:PORT:ADDR; write PATTERN=IP[:PORT] (e.g. example.com=127.0.0.1:8443)`},
		{"=127.0.0.1", `"=127.0.0.1": empty host pattern (use a host, *.host or *)`},
		{"example.com=", `"example.com=": "" is not an IP address (a host name would need its own lookup; give the IP)`},
		{"example.com=localhost", `"example.com=localhost": "localhost" is not an IP address (a host name would need its own lookup; give the IP)`},
		{"example.com=localhost:80", `"example.com=localhost:80": "localhost" is not an IP address (a host name would need its own lookup; give the IP)`},
		{"example.com=1.2.3.4:0", `"example.com=1.2.3.4:0": port "0" is not a number from 1 to 65535`},
		{"example.com=1.2.3.4:65536", `"example.com=1.2.3.4:65536": port "65536" is not a number from 1 to 65535`},
		{"example.com=1.2.3.4:https", `"example.com=1.2.3.4:https": port "https" is not a number from 1 to 65535`},
		{"example.com=[::1", `"example.com=[::1": "[::1" is not [IPv6]:PORT (e.g. [::1]:8443)`},
		{"example.com=[::1]:x", `"example.com=[::1]:x": port "x" is not a number from 1 to 65535`},
		{"example.com=1.2.3", `"example.com=1.2.3": "1.2.3" is not an IP address (a host name would need its own lookup; give the IP)`},
		{"*.*.example.com=1.2.3.4", `"*.*.example.com=1.2.3.4": "*.*.example.com": * is allowed only as the whole pattern or as the first label (*.example.com)`},
		{"example.com:443=1.2.3.4", `"example.com:443=1.2.3.4": "example.com:443": give the host without a port`},
		{"https://example.com=1.2.3.4", `"https://example.com=1.2.3.4": "https://example.com" is a URL; give only the host (e.g. example.com)`},
		{"example.com=[::%]]", `"example.com=[::%]]": "]" is not an interface name (the zone after %)`},
	}
	for _, tt := range tests {
		_, err := ParseResolve(tt.in)
		if err == nil {
			t.Errorf("ParseResolve(%q) succeeded, want %s", tt.in, tt.want)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("ParseResolve(%q)\n got  %s\n want %s", tt.in, err, tt.want)
		}
	}
}

func TestHostPatternMatches(t *testing.T) {
	tests := []struct {
		pattern string
		host    string
		want    bool
	}{
		{"example.com", "example.com", true},
		{"example.com", "EXAMPLE.com", true},
		{"example.com", "example.com.", true},
		{"example.com", "www.example.com", false},
		{"example.com", "notexample.com", false},
		{"example.com", "example.com.evil", false},
		{"*.example.com", "www.example.com", true},
		{"*.example.com", "a.b.example.com", true},
		{"*.example.com", "WWW.Example.Com", true},
		{"*.example.com", "example.com", false},
		{"*.example.com", "notexample.com", false},
		{"*.example.com", ".example.com", false},
		{"*.example.com", "example.com.evil.net", false},
		{"*", "anything.test", true},
		{"*", "127.0.0.1", true},
		{"*", "", false},
		{"::1", "[::1]", true},
		{"::1", "::1", true},
		{"127.0.0.1", "127.0.0.1", true},
		{"127.0.0.1", "127.0.0.10", false},
	}
	for _, tt := range tests {
		p, err := ParseHostPattern(tt.pattern)
		if err != nil {
			t.Fatalf("ParseHostPattern(%q): %v", tt.pattern, err)
		}
		if got := p.Matches(tt.host); got != tt.want {
			t.Errorf("HostPattern(%q).Matches(%q) = %v, want %v", tt.pattern, tt.host, got, tt.want)
		}
		r := ResolveRule{Pattern: string(p), IP: netip.MustParseAddr("127.0.0.1")}
		if got := r.Matches(tt.host); got != tt.want {
			t.Errorf("ResolveRule{%q}.Matches(%q) = %v, want %v", tt.pattern, tt.host, got, tt.want)
		}
	}
}

func TestParseHostPattern(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{in: "Example.COM", want: "example.com"},
		{in: "example.com.", want: "example.com"},
		{in: "*", want: "*"},
		{in: "*.Example.com", want: "*.example.com"},
		{in: "[::1]", want: "::1"},
		{in: "2001:DB8::1", want: "2001:db8::1"},
		{in: "", err: `empty host pattern (use a host, *.host or *)`},
		{in: "*.", want: "*"},
		{in: "*..", err: `"*..": empty label in host name`},
		{in: "a..b", err: `"a..b": empty label in host name`},
		{in: "*example.com", err: `"*example.com": * is allowed only as the whole pattern or as the first label (*.example.com)`},
		{in: "*.1.2.3.4", err: `"*.1.2.3.4": an IP address cannot have subdomains`},
		{in: "*.::1", err: `"*.::1": an IP address cannot have subdomains`},
		{in: "a b.com", err: `"a b.com": " " is not allowed in a host name`},
		{in: "x.a234567890123456789012345678901234567890123456789012345678901234.com",
			err: `"x.a234567890123456789012345678901234567890123456789012345678901234.com": label "a234567890123456789012345678901234567890123456789012345678901234" longer than 63 characters`},
	}
	for _, tt := range tests {
		got, err := ParseHostPattern(tt.in)
		switch {
		case tt.err != "" && (err == nil || err.Error() != tt.err):
			t.Errorf("ParseHostPattern(%q) error = %v, want %s", tt.in, err, tt.err)
		case tt.err == "" && (err != nil || string(got) != tt.want):
			t.Errorf("ParseHostPattern(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestMatchResolve(t *testing.T) {
	rules := []ResolveRule{
		mustResolve(t, "*=127.0.0.1:1"),
		mustResolve(t, "*.example.com=127.0.0.1:2"),
		mustResolve(t, "*.api.example.com=127.0.0.1:3"),
		mustResolve(t, "www.example.com=127.0.0.1:4"),
		mustResolve(t, "*.example.com=127.0.0.1:5"), // shadowed by the earlier equal one
	}
	tests := []struct {
		host string
		port int
	}{
		{"www.example.com", 4},
		{"cdn.example.com", 2},
		{"v1.api.example.com", 3},
		{"api.example.com", 2},
		{"example.com", 1},
		{"other.test", 1},
	}
	for _, tt := range tests {
		got, ok := MatchResolve(rules, tt.host)
		if !ok || got.Port != tt.port {
			t.Errorf("MatchResolve(%q) = %v, %v; want port %d", tt.host, got, ok, tt.port)
		}
	}
	if _, ok := MatchResolve(rules[1:2], "example.org"); ok {
		t.Error("MatchResolve matched a host no rule covers")
	}
}

func TestResolveRuleDialAddr(t *testing.T) {
	tests := []struct{ rule, port, want string }{
		{"a=127.0.0.1", "443", "127.0.0.1:443"},
		{"a=127.0.0.1:8443", "443", "127.0.0.1:8443"},
		{"a=::1", "443", "[::1]:443"},
		{"a=[::1]:8443", "80", "[::1]:8443"},
	}
	for _, tt := range tests {
		if got := mustResolve(t, tt.rule).DialAddr(tt.port); got != tt.want {
			t.Errorf("%s DialAddr(%s) = %s, want %s", tt.rule, tt.port, got, tt.want)
		}
	}
}

func TestHostPatternMatchesDoesNotAllocate(t *testing.T) {
	p := HostPattern("*.example.com")
	allocs := testing.AllocsPerRun(100, func() {
		p.Matches("WWW.Example.COM.")
	})
	if allocs != 0 {
		t.Errorf("Matches allocates %v times per call, want 0", allocs)
	}
}

func mustResolve(t *testing.T, s string) ResolveRule {
	t.Helper()
	r, err := ParseResolve(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func BenchmarkHostPatternMatches(b *testing.B) {
	p := HostPattern("*.example.com")
	for b.Loop() {
		p.Matches("static.cdn.example.com")
	}
}
