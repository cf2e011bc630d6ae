package certs

import (
	"crypto/tls"
	"fmt"
	"net"
	"testing"
)

// BenchmarkIssue is the cost of minting one leaf (the cache's miss path).
func BenchmarkIssue(b *testing.B) {
	a := newTestAuthority(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Issue("bench.example.com"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCacheGetHit is the cost of a repeat connection's certificate.
func BenchmarkCacheGetHit(b *testing.B) {
	c := NewCache(newTestAuthority(b), 1024)
	if _, err := c.Get("bench.example.com"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Get("bench.example.com"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCacheGetHitParallel spreads hits over 256 hosts from all CPUs,
// as many clients browsing at once would.
func BenchmarkCacheGetHitParallel(b *testing.B) {
	c := NewCache(newTestAuthority(b), 1024)
	hosts := make([]string, 256)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("h%d.example.com", i)
		if _, err := c.Get(hosts[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := c.Get(hosts[i&255]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// BenchmarkHandshakeNewHost is what a first visit to a host costs the
// proxy: a mint plus a TLS 1.3 handshake with the new leaf (SPEC §7 allows
// 2 ms). Both ends run in this process over an in-memory pipe.
func BenchmarkHandshakeNewHost(b *testing.B) {
	a := newTestAuthority(b)
	c := NewCache(a, 1024)
	roots := caPool(a)
	srvCfg := &tls.Config{
		GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) { return c.Get(h.ServerName) },
		// A session ticket is written after the handshake and would block
		// on the unbuffered pipe until the client reads it.
		SessionTicketsDisabled: true,
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		host := fmt.Sprintf("n%d.example.com", i)
		cc, sc := net.Pipe()
		errc := make(chan error, 1)
		go func() {
			errc <- tls.Server(sc, srvCfg).Handshake()
			sc.Close()
		}()
		cl := tls.Client(cc, &tls.Config{ServerName: host, RootCAs: roots})
		if err := cl.Handshake(); err != nil {
			b.Fatal(err)
		}
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
		cc.Close()
	}
}
