package cookie

import (
	"slices"
	"strings"
	"testing"
)

// names collects ns into a slice so tables can compare with want lists.
func names(ns Names) []string {
	return slices.Collect(ns.All())
}

func TestSetCookieNames(t *testing.T) {
	long := strings.Repeat("a", 4093)
	tests := []struct {
		name  string
		field string
		want  []string // stored name first
		ok    bool
	}{
		{"plain", "foo=bar", []string{"foo"}, true},
		{"attributes", "sid=1; Path=/; Secure; HttpOnly; SameSite=Lax", []string{"sid"}, true},
		{"attribute case is irrelevant", "foo=bar; seCURe; PATH=/x", []string{"foo"}, true},
		{"empty value", "x=", []string{"x"}, true},

		// Whitespace: SP and HTAB around name and value are trimmed, inner kept.
		{"chromium0014 spaces", "  A  = BC  ;foo;;;   bar", []string{"A"}, true},
		{"value0006 tabs", "\tfoo\t=\tbar\t \t;\tttt", []string{"foo"}, true},
		{"name0018 space before =", "a =bar", []string{"a"}, true},
		{"name0022 leading spaces", "   foo=bar", []string{"foo"}, true},
		{"name0030 inner space", "foo bar=baz", []string{"foo bar"}, true},
		{"chromium0015 = in value", "  A=== BC  ;foo;;;   bar", []string{"A"}, true},
		{"non-breaking space is not trimmed", "\u00a0_ga=1", []string{"\u00a0_ga"}, true},

		// Quotes are not syntax.
		{"value0004 quoted ;", `foo="bar;baz"`, []string{"foo"}, true},
		{"name0019 quote in name", `"a=bar`, []string{`"a`}, true},
		{"name0020 quoted name with =", `"a=b"=bar`, []string{`"a`}, true},
		{"name0031 quoted ; in name", `"foo;bar"=baz`, []string{"", `"foo`}, true},
		{"name0032 escaped quote", `"foo\"bar;baz"=qux`, []string{"", `"foo\"bar`}, true},
		{"chromium0010 quoted nameless", `"BLA\"HHH"; path=/;`, []string{"", `"BLA\"HHH"`}, true},

		// Commas never separate cookies in one Set-Cookie line.
		{"0017 comma in value", "z=y, a=b", []string{"z"}, true},
		{"0018 comma in attribute", "z=y; foo=bar, a=b", []string{"z"}, true},
		{"comma0002 quoted comma", `foo="bar, baz=qux"`, []string{"foo"}, true},
		{"expires date comma", "foo=bar; Expires=Fri, 07 Aug 2019 08:04:19 GMT", []string{"foo"}, true},

		// Nameless cookies: stored as "", sent as the bare value.
		{"0004 no =", "foo", []string{"", "foo"}, true},
		{"chromium0009 no = with attrs", "BLAHHH; path=/;", []string{"", "BLAHHH"}, true},
		{"name0023 no = before ;", "foo;bar=baz", []string{"", "foo"}, true},
		{"chromium0012 =value", "=ABC", []string{"", "ABC"}, true},
		{"0021 =x", "=x", []string{"", "x"}, true},
		{"name0017 =a=bar", "=a=bar", []string{"", "a"}, true},
		{"name0025 ===a=bar", "===a=bar", []string{"", "a"}, true},
		{"name0033 =foo=bar", "=foo=bar", []string{"", "foo"}, true},
		{"mozilla0016 blank name", " =eight", []string{"", "eight"}, true},
		{"nameless with spaced pair", "= _ga = 1", []string{"", "_ga"}, true},
		{"nameless value with space", "a b", []string{"", "a b"}, true},

		// Lines a browser ignores.
		{"0020 =", "=", []string{""}, false},
		{"empty line", "", []string{""}, false},
		{"chromium0018 blanks", "    ", []string{""}, false},
		{"0028 tab", "\t", []string{""}, false},
		{"0025 only attributes", "; bar", []string{""}, false},
		{"mozilla0011 garbage attrs are fine", "test=parser; domain=.parser.test; ;; ;=; ,,, ===,abc,=; abracadabra! max-age=20;=;;", []string{"test"}, true},
		{"chromium0022 NUL in value", "AAA=BB\x00ZYX", []string{"AAA"}, false},
		{"chromium0023 CR in value", "AAA=BB\rZYX", []string{"AAA"}, false},
		{"CTL in attribute", "sid=1; Path=/\x01", []string{"sid"}, false},
		{"DEL in name", "_g\x7fa=1", []string{"_g\x7fa"}, false},
		{"NUL in name", "_g\x00a=1", []string{"", "_g"}, false},
		{"LF before =", "_ga\n=1", []string{"", "_ga"}, false},
		{"HTAB is not a CTL", "a\tb=1", []string{"a\tb"}, true},
		{"4096 bytes kept", "abc=" + long, []string{"abc"}, true},
		{"4097 bytes ignored", "abcd=" + long, []string{"abcd"}, false},
		{"4097-byte nameless ignored", "a" + strings.Repeat("a", 4096), []string{"", "a" + strings.Repeat("a", 4096)}, false},
		{"named __Host- is fine", "__Host-id=1; Secure; Path=/", []string{"__Host-id"}, true},
		{"nameless __Host- value", "=__Host-id=1; Secure; Path=/", []string{"", "__Host-id"}, false},
		{"nameless __secure- value any case", "__sEcUrE-x", []string{"", "__sEcUrE-x"}, false},
		{"nameless __Http- value", "=__Http-x=1", []string{"", "__Http-x"}, false},

		// Legacy and odd names are just names.
		{"name0024 $Version", "$Version=1; foo=bar", []string{"$Version"}, true},
		{"name0003 $", "$=bar", []string{"$"}, true},
		{"charset0002 non-ASCII name", "春节回=家路·春运完全手册", []string{"春节回"}, true},
		{"charset0003 non-ASCII attr", "春节回=家路·春运; 完全手册", []string{"春节回"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns, ok := SetCookieNames(tt.field)
			if got := names(ns); !slices.Equal(got, tt.want) || ok != tt.ok {
				t.Errorf("SetCookieNames(%q) = %q, %v; want %q, %v", tt.field, got, ok, tt.want, tt.ok)
			}
			if ns.Primary() != tt.want[0] {
				t.Errorf("Primary() = %q, want %q", ns.Primary(), tt.want[0])
			}
		})
	}
}

func TestParseSetCookieValue(t *testing.T) {
	// The stored value matters to the corpus test and to nameless cookies,
	// whose value is what the server reads as a pair.
	tests := []struct {
		field, name, value string
	}{
		{`aBc="zzz "   "ppp"  ;`, "aBc", `"zzz "   "ppp"`},
		{`aBc="zz;pp" ; ;`, "aBc", `"zz`},
		{"foo=  bar", "foo", "bar"},
		{`foo="  bar "`, "foo", `"  bar "`},
		{`test="fubar! = foo;bar\";" parser; max-age=6`, "test", `"fubar! = foo`},
		{"  A=== BC  ;foo", "A", "== BC"},
		{"===a=bar", "", "==a=bar"},
		{"foo", "", "foo"},
		{"ABC=;  path = /", "ABC", ""},
	}
	for _, tt := range tests {
		name, value, _ := parseSetCookie(tt.field)
		if name != tt.name || value != tt.value {
			t.Errorf("parseSetCookie(%q) = %q, %q; want %q, %q", tt.field, name, value, tt.name, tt.value)
		}
	}
}

func TestFilterSetCookie(t *testing.T) {
	refuse := func(refused ...string) func(string) bool {
		return func(name string) bool { return !slices.Contains(refused, name) }
	}
	tests := []struct {
		name        string
		fields      []string
		keep        func(string) bool
		wantKept    []string
		wantRemoved []string
	}{
		{
			name:     "nothing refused",
			fields:   []string{"sid=1; Path=/", "_ga=GA1.2.3.4; Max-Age=63072000", "lang=en"},
			keep:     refuse("_fbp"),
			wantKept: []string{"sid=1; Path=/", "_ga=GA1.2.3.4; Max-Age=63072000", "lang=en"},
		},
		{
			name:        "refused by stored name",
			fields:      []string{"sid=1", "_ga=GA1.2.3.4; Domain=.example.com", "lang=en", "_gid=GA1.2.5"},
			keep:        refuse("_ga", "_gid"),
			wantKept:    []string{"sid=1", "lang=en"},
			wantRemoved: []string{"_ga", "_gid"},
		},
		{
			name:        "nameless disguise is caught and reported without its value",
			fields:      []string{"=_ga=GA1.2.3.4; Path=/", "sid=1"},
			keep:        refuse("_ga"),
			wantKept:    []string{"sid=1"},
			wantRemoved: []string{""},
		},
		{
			name:        "nameless cookie refused as unknown",
			fields:      []string{"sid=1", "token123"},
			keep:        refuse(""),
			wantKept:    []string{"sid=1"},
			wantRemoved: []string{""},
		},
		{
			name:        "ignored lines are dropped whatever keep says",
			fields:      []string{"=", "sid=1", "AAA=BB\x00ZYX"},
			keep:        refuse(),
			wantKept:    []string{"sid=1"},
			wantRemoved: []string{"", "AAA"},
		},
		{
			name:        "comma never splits",
			fields:      []string{"z=y, _ga=1"},
			keep:        refuse("_ga"),
			wantKept:    []string{"z=y, _ga=1"},
			wantRemoved: nil,
		},
		{
			name:        "everything removed",
			fields:      []string{"_ga=1", "_gid=2"},
			keep:        refuse("_ga", "_gid"),
			wantKept:    []string{},
			wantRemoved: []string{"_ga", "_gid"},
		},
		{
			name:     "no fields",
			fields:   nil,
			keep:     refuse(),
			wantKept: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kept, removed := FilterSetCookie(tt.fields, tt.keep)
			if !slices.Equal(kept, tt.wantKept) || (kept == nil) != (tt.wantKept == nil) {
				t.Errorf("kept = %q, want %q", kept, tt.wantKept)
			}
			if !slices.Equal(removed, tt.wantRemoved) {
				t.Errorf("removed = %q, want %q", removed, tt.wantRemoved)
			}
			if len(removed) == 0 && len(tt.fields) > 0 && &kept[0] != &tt.fields[0] {
				t.Errorf("nothing removed but kept is a new slice")
			}
		})
	}
}

func TestNamesMethods(t *testing.T) {
	ns, _ := SetCookieNames("=_ga=1")
	if ns.Len() != 2 || ns.At(0) != "" || ns.At(1) != "_ga" {
		t.Fatalf("SetCookieNames(=_ga=1) = %v, want [\"\" \"_ga\"]", ns)
	}
	if !ns.Contains("_ga") || !ns.Contains("") || ns.Contains("ga") {
		t.Errorf("Contains is wrong for %v", ns)
	}
	if got, refused := ns.Refused(func(n string) bool { return n != "_ga" }); !refused || got != "_ga" {
		t.Errorf("Refused = %q, %v; want \"_ga\", true", got, refused)
	}
	if got, refused := ns.Refused(func(string) bool { return true }); refused || got != "" {
		t.Errorf("Refused(keep all) = %q, %v; want \"\", false", got, refused)
	}
	if got, want := ns.String(), `["" "_ga"]`; got != want {
		t.Errorf("String() = %s, want %s", got, want)
	}
	var zero Names
	if zero.Len() != 0 || zero.Primary() != "" || zero.Contains("") {
		t.Errorf("zero Names = %v, want empty", zero)
	}
	if _, refused := zero.Refused(func(string) bool { return false }); refused {
		t.Errorf("zero Names refused a name")
	}
	defer func() {
		if recover() == nil {
			t.Errorf("At(Len()) did not panic")
		}
	}()
	_ = ns.At(2)
}
