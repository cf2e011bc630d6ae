package rules

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse: the parser never panics on any input, every error it returns
// is "name:line: ...", and when a file parses, compiling it (alone and over
// the built-in set) and deciding with it never panic.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.yaml")
	errSeeds, _ := filepath.Glob("testdata/errors/*.yaml")
	for _, p := range append(append(seeds, errSeeds...), "builtin/profiles.yaml") {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"version: 1\n",
		"version: 1\nvendors: [{id: a, services: [{name: s, category: analytics, kind: pixel, hosts: [\"*.a.example\"], paths: [\"/*x*\"]}]}]\ncookies: [{names: [\"*\", \"a*b*c\"], category: analytics, vendor: a, domains: [a.example]}]\nprofiles: [{name: p, allow: [analytics], vendors: {a: deny}}]\n",
		"version: 1\ncategories: [{name: essential}]\n",
		"version: 1\nvendors: &a [*a]\n",
		"{version: 1, cookies: [{names: [\"\"], category: x}]}",
		"version: !!str 1\n",
		"version: 1\nprofiles: [{name: p, vendors: {? [a] : allow}}]\n",
	} {
		f.Add([]byte(s))
	}
	b, err := Builtin()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse("fuzz.yaml", data)
		if err != nil {
			for _, e := range leaves(err) {
				if !strings.HasPrefix(e.Error(), "fuzz.yaml:") {
					t.Fatalf("error without file:line: %q", e)
				}
			}
			return
		}
		if _, err := Compile(file); err != nil {
			for _, e := range leaves(err) {
				if !strings.HasPrefix(e.Error(), "fuzz.yaml:") {
					t.Fatalf("compile error without file:line: %q", e)
				}
			}
		}
		s, err := Compile(b, file)
		if err != nil {
			return
		}
		d := NewDecider(s, 64)
		for _, p := range append(s.Profiles(), nil) {
			for _, r := range []Request{
				{Host: "a.example", Path: "/x"},
				{Host: "www.a.example", Path: "/ax", Dest: DestImage},
				{Host: "", Path: ""},
				{Host: ".", Path: "/", Context: TopLevel},
			} {
				dec := d.Decide(p, r)
				if dec != s.Decide(p, r) {
					t.Fatalf("cached and uncached decisions differ for %+v", r)
				}
				s.JudgeCookie(p, r, dec, "abc")
				s.FilterCookieHeader(p, r, dec, []string{"a=1; b; =c=d", "abc=1"})
				s.FilterSetCookie(p, r, dec, []string{"a=1", "=x=y"})
			}
		}
	})
}

// TestCookieIndexMatchesScan checks the radix-tree lookup against a plain
// scan of every pattern with the same precedence rules, over random
// patterns and names from a small alphabet (so that prefixes collide).
func TestCookieIndexMatchesScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	word := func(n int) string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			b.WriteByte("ab_*"[rng.IntN(4)])
		}
		return b.String()
	}
	for round := 0; round < 200; round++ {
		var entries []*cookieEntry
		seen := map[string]bool{}
		for i := 0; i < 1+rng.IntN(40); i++ {
			text := word(1 + rng.IntN(5))
			if seen[text] {
				continue
			}
			seen[text] = true
			cp, err := parseCookiePattern(text)
			if err != nil {
				t.Fatal(err)
			}
			entries = append(entries, &cookieEntry{pattern: cp, seq: i, layer: rng.IntN(2)})
		}
		idx := buildCookieIndex(entries)
		for i := 0; i < 50; i++ {
			name := strings.ReplaceAll(word(rng.IntN(7)), "*", "c")
			got := idx.lookup(nil, "x.example", name)
			want := scanCookies(entries, name)
			if got != want {
				t.Fatalf("round %d: lookup(%q) = %v, scan = %v (patterns %v)", round, name, describe(got), describe(want), patternsOf(entries))
			}
		}
	}
}

// scanCookies is the specification of cookieIndex.lookup for unscoped
// entries and no profile: exact, then longest prefix, then most literal
// characters, then later layer, then definition order.
func scanCookies(entries []*cookieEntry, name string) *cookieEntry {
	var best *cookieEntry
	better := func(a, b *cookieEntry) bool {
		if a.pattern.glob != b.pattern.glob {
			return !a.pattern.glob
		}
		if len(a.pattern.prefix) != len(b.pattern.prefix) {
			return len(a.pattern.prefix) > len(b.pattern.prefix)
		}
		if a.pattern.literal != b.pattern.literal {
			return a.pattern.literal > b.pattern.literal
		}
		if a.layer != b.layer {
			return a.layer > b.layer
		}
		return a.seq < b.seq
	}
	for _, e := range entries {
		if !globMatch(e.pattern.text, name) {
			continue
		}
		if best == nil || better(e, best) {
			best = e
		}
	}
	return best
}

func describe(e *cookieEntry) string {
	if e == nil {
		return "<nil>"
	}
	return e.pattern.text
}

func patternsOf(es []*cookieEntry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.pattern.text)
	}
	return out
}

func TestGlobMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true},
		{"*", "abc", true},
		{"a*", "a", true},
		{"a*", "ba", false},
		{"*a", "ba", true},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "aXbY", false},
		{"a*b", "abab", true},
		{"/*/fbevents.js", "/en_US/fbevents.js", true},
		{"/*/fbevents.js", "/a/b/fbevents.js", true},
		{"/*/fbevents.js", "/fbevents.js", false},
		{"**", "x", true},
		{"abc", "abc", true},
		{"abc", "abcd", false},
	} {
		if got := globMatch(tc.pattern, tc.s); got != tc.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}
