package proxy

import (
	"crypto/rand"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/consentproxy/consentproxy/certs"
	"github.com/consentproxy/consentproxy/rules/consent"
)

// consentBenchServer is a never-started Server whose default profile is
// profile, writing consent cookies or not.
func consentBenchServer(b *testing.B, profile string, write bool) *Server {
	b.Helper()
	cfg := testConfig(b, nil)
	cfg.Profile = profile
	cfg.WriteConsent = write
	ca, _, err := certs.LoadOrCreate(cfg.CACert, cfg.CAKey)
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(cfg, ca, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkConsentFirstParty is the request stage of a first-party
// request (a page's XHR) under analytics-only with 10 other cookies: the
// consent-state work added to it in each situation, against the same
// request with write_consent off.
//
//   - ours: the browser holds today's values (every request after the
//     first page load): nothing to write.
//   - first-visit: no consent cookie yet: all six added to the Cookie
//     header (one allocation for the new header).
//   - other-values: the browser holds values of another day (or from the
//     site's own CMP): the plan comes from the cache.
//   - write-off: write_consent false, the cost without the feature.
//   - plan-uncached: consent.State.Plan itself on the same jar, what each
//     request would pay without the caches.
func BenchmarkConsentFirstParty(b *testing.B) {
	now := time.Now()
	on := consentBenchServer(b, "analytics-only", true)
	snap := on.snap.Load()
	p, _ := snap.set.Profile("analytics-only")
	pc := snap.consent.profiles[p]
	today := pc.today("shop.test", now, zap.NewNop())
	var ours, yesterday []string
	for _, c := range today.cookies {
		ours = append(ours, c.Name+"="+c.Value)
	}
	old, err := newConsentDay(pc.state, "shop.test", today.day-1, now.Add(-24*time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range old.cookies {
		yesterday = append(yesterday, c.Name+"="+c.Value)
	}
	jar := func(extra []string) string { return strings.Join(append([]string{tenCookies}, extra...), "; ") }
	cases := []struct {
		name   string
		s      *Server
		cookie string
		writes bool
	}{
		{"ours", on, jar(ours), false},
		{"first-visit", on, jar(nil), true},
		{"other-values", on, jar(yesterday), false},
		{"write-off", consentBenchServer(b, "analytics-only", false), jar(ours), false},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			req, ci := benchExchange("GET", "https://shop.test/api/cart?x=1", http.Header{
				"Sec-Fetch-Site": {"same-origin"}, "Sec-Fetch-Mode": {"cors"}, "Sec-Fetch-Dest": {"empty"}, "Accept": {"application/json"},
			})
			cookies := []string{bc.cookie}
			b.ReportAllocs()
			for b.Loop() {
				req.Header["Cookie"] = cookies
				x := &Exchange{Request: req, Conn: ci, state: exchangeState{started: now}}
				if bc.s.requestStage(x) != nil {
					b.Fatal("answered")
				}
				if (x.Consent.cmp.writes != 0) != bc.writes {
					b.Fatalf("writes %06b", x.Consent.cmp.writes)
				}
			}
		})
	}
	// The consent step alone (writeConsentRequest) on an exchange the rest
	// of the stage already decided: the added per-request cost.
	off := cases[3].s
	for _, bc := range cases[:3] {
		b.Run("step-only/"+bc.name, func(b *testing.B) {
			req, ci := benchExchange("GET", "https://shop.test/api/cart?x=1", http.Header{
				"Sec-Fetch-Site": {"same-origin"}, "Sec-Fetch-Mode": {"cors"}, "Sec-Fetch-Dest": {"empty"}, "Accept": {"application/json"},
			})
			// The header as cookie filtering leaves it (write_consent off),
			// and the decision of the server under test.
			req.Header["Cookie"] = []string{bc.cookie}
			x := &Exchange{Request: req, Conn: ci, state: exchangeState{started: now}}
			if off.requestStage(x) != nil {
				b.Fatal("answered")
			}
			filtered := req.Header["Cookie"]
			req.Header["Cookie"] = []string{bc.cookie}
			x = &Exchange{Request: req, Conn: ci, state: exchangeState{started: now}}
			if bc.s.requestStage(x) != nil {
				b.Fatal("answered")
			}
			decided := x.Consent
			decided.cmp = consentExchange{}
			b.ReportAllocs()
			for b.Loop() {
				req.Header["Cookie"] = filtered
				x.Consent = decided
				bc.s.writeConsentRequest(x)
				if (x.Consent.cmp.writes != 0) != bc.writes {
					b.Fatalf("writes %06b", x.Consent.cmp.writes)
				}
			}
		})
	}
	b.Run("plan-uncached", func(b *testing.B) {
		j := today.read([]string{jar(yesterday)})
		env := consent.Env{Now: now, Rand: rand.Reader}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := pc.state.Plan(today.site, j.lookup(today), env); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkConsentNavigation is the whole enforcement share of a first
// page load (nothing stored yet): request stage with the six cookies
// added, the six Set-Cookie on the HTML response, and the record.
func BenchmarkConsentNavigation(b *testing.B) {
	s := consentBenchServer(b, "analytics-only", true)
	req, ci := benchExchange("GET", "https://www.shop.test/", http.Header{
		"Sec-Fetch-Site": {"none"}, "Sec-Fetch-Mode": {"navigate"}, "Sec-Fetch-Dest": {"document"},
	})
	resp := &http.Response{StatusCode: 200, Header: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		delete(req.Header, "Cookie")
		resp.Header = http.Header{"Content-Type": {"text/html; charset=utf-8"}}
		x := &Exchange{Request: req, Conn: ci, state: exchangeState{started: time.Now()}}
		if s.requestStage(x) != nil {
			b.Fatal("answered")
		}
		s.record(x, s.responseStage(x, resp).StatusCode)
		if len(resp.Header["Set-Cookie"]) != 6 {
			b.Fatalf("Set-Cookie %d", len(resp.Header["Set-Cookie"]))
		}
	}
}

// BenchmarkVendorHit is the request stage of a blocked GA4 hit under
// reject-all: without consent parameters (the pre-check only), with
// consistent gcs/gcd (a cached check, no event), with an overclaiming gcs
// (cached check; the event and its log are recorded, so this case
// includes record), and with a gdpr_consent TC string (cached check), plus
// Choice.Check itself on that TC string for comparison.
func BenchmarkVendorHit(b *testing.B) {
	s := consentBenchServer(b, "reject-all", true)
	snap := s.snap.Load()
	p, _ := snap.set.Profile("accept-all")
	tc, err := consent.EncodeTC(snap.consent.profiles[p].state.TCString("shop.test", time.Now()))
	if err != nil {
		b.Fatal(err)
	}
	base := "https://www.google-analytics.com/g/collect?v=2&tid=G-ABCDEF1234&gtm=45je5&_p=1700000000000&cid=123.456&ul=en-us&sr=1920x1080&en=page_view&dl=https%3A%2F%2Fshop.test%2F"
	cases := []struct {
		name       string
		url        string
		mismatches int
		record     bool
	}{
		{"no-signals", base, 0, false},
		{"consistent-gcs-gcd", base + "&gcs=G100&gcd=13p3p3p3p1", 0, false},
		{"gcs-mismatch-recorded", base + "&gcs=G111", 1, true},
		{"gdpr-consent", base + "&gdpr=1&gdpr_consent=" + tc, 1, false},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			req, ci := benchExchange("POST", bc.url, http.Header{
				"Sec-Fetch-Site": {"cross-site"}, "Sec-Fetch-Mode": {"no-cors"}, "Sec-Fetch-Dest": {"empty"}, "Origin": {"https://shop.test"},
			})
			b.ReportAllocs()
			for b.Loop() {
				x := &Exchange{Request: req, Conn: ci, state: exchangeState{started: time.Now()}}
				if s.requestStage(x) == nil {
					b.Fatal("not blocked")
				}
				if len(x.Consent.cmp.mismatches) != bc.mismatches {
					b.Fatalf("%d mismatches", len(x.Consent.cmp.mismatches))
				}
				if bc.record {
					s.record(x, 204)
				}
			}
		})
	}
	// The check alone (checkSignals) on a decided exchange.
	for _, bc := range cases {
		b.Run("step-only/"+bc.name, func(b *testing.B) {
			req, ci := benchExchange("POST", bc.url, http.Header{
				"Sec-Fetch-Site": {"cross-site"}, "Sec-Fetch-Mode": {"no-cors"}, "Sec-Fetch-Dest": {"empty"}, "Origin": {"https://shop.test"},
			})
			x := &Exchange{Request: req, Conn: ci, state: exchangeState{started: time.Now()}}
			s.requestStage(x)
			decided := x.Consent
			b.ReportAllocs()
			for b.Loop() {
				x.Consent = decided
				x.Consent.cmp.mismatches = nil
				s.checkSignals(x)
				if len(x.Consent.cmp.mismatches) != bc.mismatches {
					b.Fatalf("%d mismatches", len(x.Consent.cmp.mismatches))
				}
			}
		})
	}
	b.Run("check-uncached", func(b *testing.B) {
		c := snap.consent.profiles[snap.defaultP].choice
		q := map[string][]string{"gdpr": {"1"}, "gdpr_consent": {tc}}
		b.ReportAllocs()
		for b.Loop() {
			c.Check(q, 0)
		}
	})
}
