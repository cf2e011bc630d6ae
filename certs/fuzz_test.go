package certs

import (
	"crypto/x509"
	"testing"
)

// FuzzIssueHost feeds arbitrary hosts to the issuer. Whatever it accepts
// must be stable under normalisation (the cache key) and produce a leaf
// that a TLS client verifying that name accepts; whatever it refuses must
// be an error, never a panic.
func FuzzIssueHost(f *testing.F) {
	for _, s := range []string{
		"example.com", "WWW.Example.COM.", "127.0.0.1", "::1", "[2001:db8::1]",
		"fe80::1%eth0", "::ffff:10.0.0.1", "xn--bcher-kva.example", "cdn_1.example",
		"*.example.com", "example.com:443", "256.1.1.1", "a..b", "", "[", "bücher.de",
		"-lead.example", "trail-.example", "1.2.3.4.5", "1e100.net", "0x7f.1",
	} {
		f.Add(s)
	}
	a := newTestAuthority(f)
	roots := caPool(a)
	f.Fuzz(func(t *testing.T, host string) {
		name, err := normalizeHost(host)
		if err != nil {
			if _, ierr := a.Issue(host); ierr == nil {
				t.Fatalf("normalizeHost(%q) failed (%v) but Issue succeeded", host, err)
			}
			return
		}
		again, err := normalizeHost(name.key)
		if err != nil || again.key != name.key {
			t.Fatalf("normalizeHost(%q) = %q, but that normalises to %q, %v", host, name.key, again.key, err)
		}
		tc, err := a.Issue(host)
		if err != nil {
			t.Fatalf("Issue(%q) after normalizeHost accepted it: %v", host, err)
		}
		if _, err := tc.Leaf.Verify(x509.VerifyOptions{DNSName: name.key, Roots: roots}); err != nil {
			t.Fatalf("leaf for %q (key %q) does not verify for its own name: %v", host, name.key, err)
		}
	})
}
