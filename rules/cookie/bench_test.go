package cookie

import "testing"

// realisticHeader is a Cookie header as a browser sends it to a site with
// analytics, advertising and a CSRF token: 10 pairs, about 600 bytes.
const realisticHeader = "_ga=GA1.2.1459326719.1736335952; " +
	"_gid=GA1.2.2046128577.1736335952; " +
	"session=eyJ1c2VyIjoxMjM0NSwiZXhwIjoxNzM2MzM5NTUyfQ.Zx9v3kQmW8pL2rN7sT4uY1aB6cD0eF; " +
	"_fbp=fb.1.1736335952411.872615923; " +
	"cto_bundle=rX7Wd19GeHJ2R2VrVnJ0YWFnUXlTNmRIJTJGR2JyVmNNZnN0S0p4eGZJJTJCUzBpcmVsOUhJWGh1RDJ4; " +
	"XSRF-TOKEN=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08; " +
	"_clsk=1pjoez9|1736335959690|1|1|z.clarity.ms/collect; " +
	"_clck=1y6ps4s|2|fsf|0|1834; " +
	"lang=en-GB; " +
	"OptanonConsent=isGpcEnabled=0&datestamp=Wed+Jan+08+2025&version=202411.1.0&groups=C0001%3A1%2CC0002%3A0"

// refusedSet is a keep function backed by a map, as a rules engine's cached
// per-name decision would be.
func refusedSet(refused ...string) func(string) bool {
	m := make(map[string]bool, len(refused))
	for _, n := range refused {
		m[n] = true
	}
	return func(name string) bool { return !m[name] }
}

func BenchmarkRewrite(b *testing.B) {
	lines := []string{realisticHeader}
	b.Run("nothing-removed", func(b *testing.B) {
		keep := refusedSet("_pin_unauth", "IDE", "")
		b.ReportAllocs()
		b.SetBytes(int64(len(realisticHeader)))
		for b.Loop() {
			if _, removed := Rewrite(lines, keep); removed != nil {
				b.Fatal("removed something")
			}
		}
	})
	b.Run("3-removed", func(b *testing.B) {
		keep := refusedSet("_ga", "_fbp", "cto_bundle")
		b.ReportAllocs()
		b.SetBytes(int64(len(realisticHeader)))
		for b.Loop() {
			if _, removed := Rewrite(lines, keep); len(removed) != 3 {
				b.Fatalf("removed %d pairs, want 3", len(removed))
			}
		}
	})
}

func BenchmarkPairs(b *testing.B) {
	lines := []string{realisticHeader}
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		for p := range Pairs(lines) {
			n += p.Names.Len()
		}
		if n != 10 {
			b.Fatalf("%d names, want 10", n)
		}
	}
}

func BenchmarkSetCookieNames(b *testing.B) {
	fields := map[string]string{
		"typical":  "_ga=GA1.1.1459326719.1736335952; Path=/; Domain=.example.com; Expires=Fri, 08 Jan 2027 11:32:32 GMT; Max-Age=63072000; SameSite=Lax; Secure",
		"nameless": "=_ga=GA1.1.1459326719.1736335952; Path=/",
	}
	for _, name := range []string{"typical", "nameless"} {
		field := fields[name]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if ns, ok := SetCookieNames(field); !ok || !ns.Contains("_ga") {
					b.Fatal("wrong names")
				}
			}
		})
	}
}

func BenchmarkFilterSetCookie(b *testing.B) {
	fields := []string{
		"session=abc; Path=/; HttpOnly; Secure; SameSite=Lax",
		"_ga=GA1.1.1459326719.1736335952; Path=/; Domain=.example.com; Max-Age=63072000",
		"lang=en-GB; Path=/; Max-Age=31536000",
	}
	keep := refusedSet("_fbp")
	b.ReportAllocs()
	for b.Loop() {
		if _, removed := FilterSetCookie(fields, keep); removed != nil {
			b.Fatal("removed something")
		}
	}
}
