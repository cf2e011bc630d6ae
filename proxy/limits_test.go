package proxy

import (
	"fmt"
	"testing"

	"github.com/consentproxy/consentproxy/rules"
)

// The cache and ring limits of the configuration reach the parts they
// bound (the connection, header and timeout limits have tests of their
// own: TestMaxConnectionsCap, TestBadInputIsRefused, TestSlowClientsAreTimedOut,
// TestIdleConnectionsAreClosed, TestSlowClientHandshakeIsBounded).
func TestLimitsReachTheirParts(t *testing.T) {
	upCA := newTestCA(t, "upstream test CA")
	web := newFakeWeb(t, upCA)
	cfg := webConfig(t, upCA, web)
	sub := newUpstream(t, upCA, &hitCounter{}, upstreamOpts{}) // its certificate covers *.shop.test
	cfg.Resolve = append(cfg.Resolve, resolveTo("*.shop.test", sub))
	cfg.Limits.EventRingSize = 3
	cfg.Limits.CertCacheSize = 2
	cfg.Limits.DecisionCacheSize = 64
	e := startProxy(t, cfg)

	t.Run("event_ring_size", func(t *testing.T) {
		c := e.client(t, clientOpts{})
		pixel := requestSet()[0]
		for range 5 {
			pixel.do(t, c)
		}
		evs := eventsOf(t, e.admin(t), "?limit=3")
		if evs.Count != 3 || evs.Total != 5 || evs.RingSize != 3 {
			t.Errorf("events: count %d, total %d, ring size %d; want 3, 5, 3", evs.Count, evs.Total, evs.RingSize)
		}
		if status, _ := e.admin(t).do(t, "GET", "/api/events?limit=0", nil); status != 400 {
			t.Errorf("limit=0: %d, want 400", status)
		}
	})

	t.Run("cert_cache_size", func(t *testing.T) {
		hosts := []string{"a.shop.test", "b.shop.test", "c.shop.test", "d.shop.test", "a.shop.test"}
		_, before := e.srv.CertCache().Stats()
		for _, h := range hosts {
			// A fresh client each time: a new CONNECT, a new handshake.
			if status, _, _ := get(t, e.client(t, clientOpts{}), "https://"+h+"/"); status != 200 {
				t.Fatalf("%s: %d", h, status)
			}
			if n := e.srv.CertCache().Len(); n > 2 {
				t.Fatalf("certificate cache holds %d leaves, more than limits.cert_cache_size 2", n)
			}
		}
		if _, misses := e.srv.CertCache().Stats(); misses-before != 5 {
			t.Errorf("%d leaves minted for 5 CONNECTs to 4 hosts, want 5 (a.shop.test evicted by then)", misses-before)
		}
	})

	t.Run("decision_cache_size", func(t *testing.T) {
		snap := e.srv.snap.Load()
		p := snap.defaultP
		h0, m0 := snap.decider.Stats()
		for i := range 65 {
			snap.decider.Decide(p, rules.Request{Host: fmt.Sprintf("h%d.example", i), Path: "/"})
		}
		snap.decider.Decide(p, rules.Request{Host: "h0.example", Path: "/"})
		if h, m := snap.decider.Stats(); h-h0 != 0 || m-m0 != 66 {
			t.Errorf("after 65 distinct decisions and the first again: %d hits, %d misses; want 0 and 66 (64 kept)", h-h0, m-m0)
		}
	})
}
