package rules

import (
	"testing"
)

// What the proxy calls on every forwarded request and response, through
// the rules API with a warm decision cache: the Cookie header rewrite and
// the Set-Cookie filter, for the realistic header of the load harness
// (bench/): essential, analytics, advertising and unknown names.
//
//	go test -run '^$' -bench 'Filter|RequestPath' -benchmem ./rules

const harnessCookieHeader = "JSESSIONID=0F1E2D3C4B5A69788796A5B4C3D2E1F0; " +
	"_ga=GA1.2.1459326719.1736335952; " +
	"_gid=GA1.2.2046128577.1736335952; " +
	"session=eyJ1c2VyIjoxMjM0NX0.Zx9v3kQmW8pL2rN7; " +
	"xman_t=Qm9vbGVhbkFuZFN0cmluZw; " +
	"_fbp=fb.1.1736335952411.872615923; " +
	"prefs=lang%3Den-GB"

func harnessSetCookies() []string {
	return []string{
		"session=eyJ1c2VyIjoxMjM0NX0.Zx9v3kQmW8pL2rN7; Path=/; HttpOnly; SameSite=Lax",
		"_ga=GA1.1.1459326719.1736335952; Path=/; Max-Age=63072000; SameSite=Lax",
		"_fbp=fb.1.1736335952411.872615923; Path=/; Max-Age=7776000; SameSite=Lax",
		"xman_t=Qm9vbGVhbkFuZFN0cmluZw; Path=/; Max-Age=31536000",
		"prefs=lang%3Den-GB; Path=/; Max-Age=31536000",
	}
}

// filterCases are the requests of a page view as the proxy sees them: the
// page itself, an image on it, and a tracker the profile refuses.
func filterCases() []struct {
	name string
	r    Request
} {
	return []struct {
		name string
		r    Request
	}{
		{"navigation", Request{Host: "shop.test", Path: "/page", Dest: DestDocument, Context: TopLevel}},
		{"first-party-image", Request{Host: "shop.test", Path: "/pixel.gif", Dest: DestImage, Context: FirstParty}},
		{"third-party-tracker", Request{Host: "www.facebook.com", Path: "/tr", Dest: DestImage}},
	}
}

func BenchmarkFilterCookieHeader(b *testing.B) {
	s := benchSet(b)
	d := NewDecider(s, 0)
	lines := []string{harnessCookieHeader}
	for _, profile := range []string{"reject-all", "accept-all"} {
		p := mustProfile(b, s, profile)
		for _, c := range filterCases() {
			b.Run(profile+"/"+c.name, func(b *testing.B) {
				dec := d.Decide(p, c.r)
				b.ReportAllocs()
				b.SetBytes(int64(len(harnessCookieHeader)))
				for b.Loop() {
					d.FilterCookieHeader(p, c.r, dec, lines)
				}
			})
		}
	}
}

func BenchmarkFilterSetCookie(b *testing.B) {
	s := benchSet(b)
	d := NewDecider(s, 0)
	fields := harnessSetCookies()
	for _, profile := range []string{"reject-all", "accept-all"} {
		p := mustProfile(b, s, profile)
		for _, c := range filterCases() {
			b.Run(profile+"/"+c.name, func(b *testing.B) {
				dec := d.Decide(p, c.r)
				b.ReportAllocs()
				for b.Loop() {
					d.FilterSetCookie(p, c.r, dec, fields)
				}
			})
		}
	}
}

// BenchmarkRequestPath is all the rules work of one forwarded exchange —
// the cached decision, the Cookie rewrite, the Set-Cookie filter — from 16
// goroutines on however many CPUs there are, as the proxy runs it at
// c=16: a lock that serialises requests shows here as ns/op that does not
// fall with more CPUs (compare -cpu 1,2,4).
func BenchmarkRequestPath(b *testing.B) {
	s := benchSet(b)
	d := NewDecider(s, 0)
	p := mustProfile(b, s, "reject-all")
	lines := []string{harnessCookieHeader}
	fields := harnessSetCookies()
	cases := filterCases()
	for _, c := range cases {
		d.Decide(p, c.r)
	}
	b.ReportAllocs()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			r := cases[i%len(cases)].r
			dec := d.Decide(p, r)
			d.FilterCookieHeader(p, r, dec, lines)
			d.FilterSetCookie(p, r, dec, fields)
			i++
		}
	})
}
