package cookie

import (
	"slices"
	"strings"
	"testing"
	"unsafe"
)

// setCookieSeeds are the tricky Set-Cookie shapes from the http-state
// corpus README and a few of our own.
var setCookieSeeds = []string{
	"foo=bar",
	"_ga=GA1.1.1459326719.1736335952; Path=/; Domain=.example.com; Expires=Fri, 08 Jan 2027 11:32:32 GMT; Secure",
	"  A  = BC  ;foo;;;   bar",
	"\tfoo\t=\tbar\t \t;\tttt",
	`foo="bar;baz"`,
	`aBc="zzz "   "ppp"  ;`,
	`"a=b"=bar`,
	`"foo\"bar;baz"=qux`,
	"z=y, a=b",
	"=", "=x", "=a=bar", "===a=bar", "foo", "BLAHHH; path=/;", " =eight",
	"$Version=1; foo=bar",
	"春节回=家路·春运; 完全手册",
	"AAA=BB\x00ZYX", "AAA=BB\rZYX", "_g\x7fa=1",
	"=__Host-id=1; Secure",
	strings.Repeat("a", 4097),
	"",
}

func FuzzSetCookieNames(f *testing.F) {
	for _, s := range setCookieSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, field string) {
		ns, ok := SetCookieNames(field)
		if ns.Len() < 1 || ns.Len() > maxNames {
			t.Fatalf("SetCookieNames(%q) has %d names, want 1..%d", field, ns.Len(), maxNames)
		}
		if strings.Contains(ns.Primary(), ";") {
			t.Fatalf("stored name %q of %q contains ';'", ns.Primary(), field)
		}
		for i, n := range names(ns) {
			if !strings.Contains(field, n) {
				t.Fatalf("name %q is not a substring of %q", n, field)
			}
			if n != trimWSP(n) {
				t.Fatalf("name %q of %q has surrounding whitespace", n, field)
			}
			if strings.ContainsAny(n, "\x00\r\n") {
				t.Fatalf("name %q of %q contains NUL, CR or LF", n, field)
			}
			if i > 0 && ns.Primary() != "" {
				t.Fatalf("named cookie %q has extra readings %v", field, ns)
			}
			if slices.Contains(names(ns)[:i], n) {
				t.Fatalf("duplicate name %q in %v", n, ns)
			}
		}
		naive := -1
		for i := 0; i < len(field); i++ {
			if isCTL(field[i]) {
				naive = i
				break
			}
		}
		if got := indexCTL(field); got != naive {
			t.Fatalf("indexCTL(%q) = %d, want %d", field, got, naive)
		}
		if naive >= 0 && ok {
			t.Fatalf("SetCookieNames(%q) ok with a control character at %d", field, naive)
		}
		if !ok {
			return
		}
		// What the browser sends back must not read as a name we missed.
		name, value, _ := parseSetCookie(field)
		sent := value
		if name != "" {
			sent = name + "=" + value
		}
		for n := range PairNames(sent).All() {
			if !ns.Contains(n) {
				t.Fatalf("%q is sent as %q, which reads as %q, not among %v", field, sent, n, ns)
			}
		}
	})
}

func FuzzRewrite(f *testing.F) {
	f.Add(realisticHeader, "", uint8(0))
	f.Add(realisticHeader, "lang=fr", uint8(3))
	f.Add("sid=1;_ga=GA1.2.3.4;;  lang=en", "_ga=2", uint8(1))
	f.Add("key=val5; key=val1; key=val2; key=val4", "key=x", uint8(0))
	f.Add("foo; =x; =; x=; ==a=b", "a=b=c", uint8(2))
	f.Add(`a="x;y"; b c=3, d=4`, " \t; ;; ", uint8(5))
	f.Add("春节回=家路; $Version=1", "\x00=\r", uint8(1))
	f.Fuzz(func(t *testing.T, line1, line2 string, pick uint8) {
		lines := []string{line1, line2}
		var all []string
		for p := range Pairs(lines) {
			for n := range p.Names.All() {
				all = append(all, n)
			}
		}
		refused := "\x00never"
		if len(all) > 0 {
			refused = all[int(pick)%len(all)]
		}
		keep := func(name string) bool { return name != refused }

		var wantKept, wantRemoved []string
		for p := range Pairs(lines) {
			if p.Names.Contains(refused) {
				wantRemoved = append(wantRemoved, p.Names.Primary())
			} else {
				wantKept = append(wantKept, p.Text)
			}
		}

		out, removed := Rewrite(lines, keep)
		var gotKept []string
		for p := range Pairs(out) {
			if p.Names.Contains(refused) {
				t.Fatalf("Rewrite(%q) refusing %q kept pair %q", lines, refused, p.Text)
			}
			gotKept = append(gotKept, p.Text)
		}
		if !slices.Equal(gotKept, wantKept) {
			t.Fatalf("Rewrite(%q) refusing %q kept %q, want %q", lines, refused, gotKept, wantKept)
		}
		if !slices.Equal(removed, wantRemoved) {
			t.Fatalf("Rewrite(%q) refusing %q removed %q, want %q", lines, refused, removed, wantRemoved)
		}
		if removed == nil && unsafe.SliceData(out) != unsafe.SliceData(lines) {
			t.Fatalf("Rewrite(%q) removed nothing but returned a new slice", lines)
		}
		if removed != nil && len(out) > len(lines) {
			t.Fatalf("Rewrite(%q) returned %d lines for %d", lines, len(out), len(lines))
		}

		again, removedAgain := Rewrite(out, keep)
		if removedAgain != nil || !slices.Equal(again, out) {
			t.Fatalf("Rewrite is not idempotent: %q → %q (removed %q)", out, again, removedAgain)
		}
	})
}
