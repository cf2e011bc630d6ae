package rules

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// Benchmarks for SPEC §7: a cached decision ≤ 200 ns and 0 allocations; an
// uncached URL plus 10 cookies ≤ 5 µs; 10,000 cookie patterns cost about
// what 100 do. Rule sets: the built-in set (profiles and whatever vendor
// data this branch embeds) plus testdata/trackers.yaml, optionally with the
// Open Cookie Database import or a synthetic layer on top.
//
//	go test -run '^$' -bench . -benchmem ./rules

// benchSet is the full built-in set (profiles and vendor data) with
// testdata/trackers.yaml and any extra layers over it.
func benchSet(b *testing.B, extra ...*File) *Set {
	b.Helper()
	builtin, err := Builtin()
	if err != nil {
		b.Fatal(err)
	}
	s, err := Compile(append([]*File{builtin, parseFile(b, "testdata/trackers.yaml")}, extra...)...)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// benchURLs are realistic requests of one page view: trackers and the
// site's own resources, in several destinations and contexts.
func benchRequests() []Request {
	return []Request{
		{Host: "www.facebook.com", Path: "/tr", Dest: DestImage},
		{Host: "connect.facebook.net", Path: "/en_US/fbevents.js", Dest: DestScript},
		{Host: "www.googletagmanager.com", Path: "/gtag/js", Dest: DestScript},
		{Host: "region1.google-analytics.com", Path: "/g/collect", Dest: DestEmpty},
		{Host: "static.criteo.net", Path: "/js/ld/publishertag.prebid.js", Dest: DestScript},
		{Host: "c.clarity.ms", Path: "/c.gif", Dest: DestImage},
		{Host: "www.shop.example", Path: "/", Dest: DestDocument, Context: TopLevel},
		{Host: "cdn.shop.example", Path: "/assets/app.js", Dest: DestScript, Context: FirstParty},
		{Host: "api.shop.example", Path: "/v1/cart/items", Dest: DestEmpty, Context: FirstParty},
		{Host: "fonts.gstatic.example", Path: "/s/roboto/v30/KFOmCnqEu92Fr1Mu4mxK.woff2", Dest: DestFont},
		{Host: "www.facebook.com", Path: "/plugins/like.php", Dest: DestFrame},
		{Host: "bidder.criteo.com", Path: "/cdb", Dest: DestEmpty},
	}
}

// benchCookies are ten names a shop's Cookie header carries: known exact,
// known glob, essential and unknown.
func benchCookies() []string {
	return []string{"_ga", "_ga_ABC123XYZ", "_fbp", "sid", "theme", "cto_bundle", "__cf_bm", "_gcl_au", "lang", "_hjSessionUser_12345"}
}

func benchCookieHeader() []string {
	var pairs []string
	for i, n := range benchCookies() {
		pairs = append(pairs, fmt.Sprintf("%s=value%d.%d", n, i, 1700000000+i))
	}
	return []string{strings.Join(pairs, "; ")}
}

func BenchmarkDecideCached(b *testing.B) {
	s := benchSet(b)
	d := NewDecider(s, 0)
	p := mustProfile(b, s, "reject-all")
	reqs := benchRequests()
	for _, r := range reqs {
		d.Decide(p, r)
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			d.Decide(p, reqs[i%len(reqs)])
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(8) // with GOMAXPROCS 2 that is 16 goroutines
		b.RunParallel(func(pb *testing.PB) {
			i := rand.IntN(len(reqs))
			for pb.Next() {
				d.Decide(p, reqs[i%len(reqs)])
				i++
			}
		})
	})
}

// benchUncached measures one uncached decision plus the judging of ten
// cookies, both name by name (JudgeCookie) and as a Cookie header
// (FilterCookieHeader, which also parses and rewrites).
func benchUncached(b *testing.B, s *Set) {
	p := mustProfile(b, s, "reject-all")
	reqs := benchRequests()
	cookies := benchCookies()
	header := benchCookieHeader()
	b.Run("judge", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			r := reqs[i%len(reqs)]
			d := s.Decide(p, r)
			for _, c := range cookies {
				s.JudgeCookie(p, r, d, c)
			}
			i++
		}
	})
	b.Run("header", func(b *testing.B) {
		b.ReportAllocs()
		// First-party requests, so the header is filtered rather than dropped.
		var site []Request
		for _, r := range reqs {
			r.Context = FirstParty
			site = append(site, r)
		}
		i := 0
		for b.Loop() {
			r := site[i%len(site)]
			d := s.Decide(p, r)
			s.FilterCookieHeader(p, r, d, header)
			i++
		}
	})
}

func BenchmarkDecideUncached(b *testing.B) {
	benchUncached(b, benchSet(b))
}

func BenchmarkDecideUncachedOCD(b *testing.B) {
	_, im := importOCDSet(b)
	layer, err := Parse("ocd.yaml", im.YAML)
	if err != nil {
		b.Fatal(err)
	}
	s := benchSet(b, layer)
	b.Logf("%d cookie patterns", s.Counts().CookiePatterns)
	benchUncached(b, s)
}

// syntheticLayer builds n cookie patterns (two thirds exact, one third
// prefix globs) and n/10 services, with names shaped like real ones.
func syntheticLayer(n int) *File {
	rng := rand.New(rand.NewPCG(uint64(n), 7))
	f := &File{Name: fmt.Sprintf("synthetic-%d.yaml", n)}
	word := func() string {
		const letters = "abcdefghijklmnopqrstuvwxyz_"
		var sb strings.Builder
		sb.WriteString([]string{"_", "__", "", "x_", "_t"}[rng.IntN(5)])
		for i := 0; i < 4+rng.IntN(8); i++ {
			sb.WriteByte(letters[rng.IntN(len(letters))])
		}
		return sb.String()
	}
	seen := map[string]bool{}
	cats := []Category{Analytics, Advertising, Marketing, Social, Functional}
	for i := 0; len(seen) < n; i++ {
		name := word()
		if i%3 == 0 {
			name += "*"
		}
		if seen[name] {
			continue
		}
		seen[name] = true
		f.Cookies = append(f.Cookies, CookieRuleSpec{
			Names: []string{name}, Category: cats[i%len(cats)], Origin: Origin{f.Name, i + 1},
		})
	}
	for i := 0; i < n/10; i++ {
		host := fmt.Sprintf("t%d.%s.example", i, strings.Trim(strings.ReplaceAll(word(), "_", ""), "-")+"x")
		f.Vendors = append(f.Vendors, VendorSpec{
			ID: fmt.Sprintf("synthetic-%d", i), Origin: Origin{f.Name, n + i + 1},
			Services: []ServiceSpec{{Name: "s", Category: cats[i%len(cats)], Kind: KindPixel, Hosts: []string{host}, Paths: []string{"/p/*"}, Origin: Origin{f.Name, n + i + 1}}},
		})
	}
	return f
}

func BenchmarkDecideUncachedScale(b *testing.B) {
	for _, n := range []int{100, 10000} {
		b.Run(fmt.Sprintf("patterns=%d", n), func(b *testing.B) {
			s := benchSet(b, syntheticLayer(n))
			benchUncached(b, s)
		})
	}
}

// BenchmarkCookieLookup isolates the cookie index: ten names against 100
// and 10,000 synthetic patterns.
func BenchmarkCookieLookup(b *testing.B) {
	for _, n := range []int{100, 10000} {
		b.Run(fmt.Sprintf("patterns=%d", n), func(b *testing.B) {
			s := benchSet(b, syntheticLayer(n))
			p := mustProfile(b, s, "reject-all")
			names := benchCookies()
			b.ReportAllocs()
			for b.Loop() {
				for _, name := range names {
					s.cookies.lookup(p, "www.shop.example", name)
				}
			}
		})
	}
}

func BenchmarkCompileOCD(b *testing.B) {
	_, im := importOCDSet(b)
	layer, err := Parse("ocd.yaml", im.YAML)
	if err != nil {
		b.Fatal(err)
	}
	builtin, _ := Builtin()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(builtin, layer); err != nil {
			b.Fatal(err)
		}
	}
}
