package cookie

import (
	"slices"
	"testing"
	"unsafe"
)

func TestPairNames(t *testing.T) {
	tests := []struct {
		pair string
		want []string // primary first
	}{
		{"a=b", []string{"a"}},
		{"a=b=c", []string{"a"}},
		{"  a  =  b  ", []string{"a"}},
		{"\ta\t=b", []string{"a"}},
		{"foo bar=baz", []string{"foo bar"}},
		{"x=", []string{"x"}},
		{`"a=b"=bar`, []string{`"a`}},
		{`foo="bar`, []string{"foo"}},
		{"$Version=1", []string{"$Version"}},
		{"春节回=家路", []string{"春节回"}},

		// Pairs without '=' are nameless to a browser, named to a server.
		{"foo", []string{"", "foo"}},
		{" foo ", []string{"", "foo"}},
		{"a b", []string{"", "a b"}},
		{`"foo`, []string{"", `"foo`}},

		// Empty names: also read with the leading '='s stripped.
		{"=x", []string{"", "x"}},
		{"=", []string{""}},
		{"==", []string{""}},
		{" = ", []string{""}},
		{"=a=bar", []string{"", "a"}},
		{"==a=bar", []string{"", "a"}},
		{"= = _ga = 1", []string{"", "_ga"}},

		// Nothing to read.
		{"", nil},
		{" \t ", nil},
	}
	for _, tt := range tests {
		if got := names(PairNames(tt.pair)); !slices.Equal(got, tt.want) {
			t.Errorf("PairNames(%q) = %q, want %q", tt.pair, got, tt.want)
		}
	}
}

func TestPairs(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		want  []string // Text of each pair
	}{
		{"browser form", []string{"a=1; b=2; c=3"}, []string{"a=1", "b=2", "c=3"}},
		{"no spaces", []string{"a=1;b=2;c=3"}, []string{"a=1", "b=2", "c=3"}},
		{"empty pairs", []string{";;a=1;; ;b=2;"}, []string{"a=1", "b=2"}},
		{"surrounding whitespace", []string{"  a=1 ;\tb=2\t"}, []string{"a=1", "b=2"}},
		{"inner whitespace kept", []string{"a= 1 2 ; b c=3"}, []string{"a= 1 2", "b c=3"}},
		{"duplicates kept in order", []string{"key=val5; key=val1; key=val2; key=val4"}, []string{"key=val5", "key=val1", "key=val2", "key=val4"}},
		{"several lines", []string{"a=1; b=2", "", "c=3"}, []string{"a=1", "b=2", "c=3"}},
		{"quotes do not protect ;", []string{`a="x;y"; b=2`}, []string{`a="x`, `y"`, "b=2"}},
		{"commas do not split", []string{"a=1, b=2; c=3"}, []string{"a=1, b=2", "c=3"}},
		{"nameless and empty names", []string{"foo; =x; =; x="}, []string{"foo", "=x", "=", "x="}},
		{"nothing", nil, nil},
		{"only separators", []string{" ; ;; "}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for p := range Pairs(tt.lines) {
				got = append(got, p.Text)
				if p.Names != PairNames(p.Text) {
					t.Errorf("pair %q: Names = %v, want PairNames = %v", p.Text, p.Names, PairNames(p.Text))
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Pairs(%q) = %q, want %q", tt.lines, got, tt.want)
			}
		})
	}
}

func TestPairsStopsEarly(t *testing.T) {
	var got []string
	for p := range Pairs([]string{"a=1; b=2", "c=3"}) {
		got = append(got, p.Text)
		if p.Text == "b=2" {
			break
		}
	}
	if want := []string{"a=1", "b=2"}; !slices.Equal(got, want) {
		t.Errorf("pairs before break = %q, want %q", got, want)
	}
}

// refuse returns a keep function that refuses the given names.
func refuse(refused ...string) func(string) bool {
	return func(name string) bool { return !slices.Contains(refused, name) }
}

func TestRewrite(t *testing.T) {
	tests := []struct {
		name        string
		lines       []string
		keep        func(string) bool
		want        []string
		wantRemoved []string
	}{
		{
			name:  "nothing refused",
			lines: []string{"sid=1; _ga=GA1.2.3.4;lang=en"},
			keep:  refuse("_fbp"),
			want:  []string{"sid=1; _ga=GA1.2.3.4;lang=en"},
		},
		{
			name:        "middle pair removed, separators normalised",
			lines:       []string{"sid=1;_ga=GA1.2.3.4;;  lang=en"},
			keep:        refuse("_ga"),
			want:        []string{"sid=1; lang=en"},
			wantRemoved: []string{"_ga"},
		},
		{
			name:        "first and last removed",
			lines:       []string{" _ga=1; sid=1; _gid=2 "},
			keep:        refuse("_ga", "_gid"),
			want:        []string{"sid=1"},
			wantRemoved: []string{"_ga", "_gid"},
		},
		{
			name:        "duplicates all removed, order kept",
			lines:       []string{"key=val5; a=1; key=val1; b=2; key=val2"},
			keep:        refuse("key"),
			want:        []string{"a=1; b=2"},
			wantRemoved: []string{"key", "key", "key"},
		},
		{
			name:        "kept pairs byte-identical",
			lines:       []string{`a= 1 2 ; _ga=x; b c="q;r"`},
			keep:        refuse("_ga"),
			want:        []string{`a= 1 2; b c="q; r"`},
			wantRemoved: []string{"_ga"},
		},
		{
			name:        "bare value read as a name",
			lines:       []string{"sid=1; _ga"},
			keep:        refuse("_ga"),
			want:        []string{"sid=1"},
			wantRemoved: []string{""},
		},
		{
			name:        "nameless pair refused as unknown",
			lines:       []string{"sid=1; token123; =x"},
			keep:        refuse(""),
			want:        []string{"sid=1"},
			wantRemoved: []string{"", ""},
		},
		{
			name:        "empty name with a pair behind it",
			lines:       []string{"==_ga=1; sid=1"},
			keep:        refuse("_ga"),
			want:        []string{"sid=1"},
			wantRemoved: []string{""},
		},
		{
			name:        "a=b=c is a only",
			lines:       []string{"a=_ga=1"},
			keep:        refuse("_ga"),
			want:        []string{"a=_ga=1"},
			wantRemoved: nil,
		},
		{
			name:        "whitespace around the name",
			lines:       []string{"sid=1;\t_ga \t=1"},
			keep:        refuse("_ga"),
			want:        []string{"sid=1"},
			wantRemoved: []string{"_ga"},
		},
		{
			name:        "non-ASCII name",
			lines:       []string{"春节回=家路; sid=1"},
			keep:        refuse("春节回"),
			want:        []string{"sid=1"},
			wantRemoved: []string{"春节回"},
		},
		{
			name:        "$Version is a name like any other",
			lines:       []string{"$Version=1; foo=bar"},
			keep:        refuse("$Version"),
			want:        []string{"foo=bar"},
			wantRemoved: []string{"$Version"},
		},
		{
			name:        "several lines: unchanged, rewritten, dropped",
			lines:       []string{"sid=1", "_ga=1; lang=en", "_gid=2", ""},
			keep:        refuse("_ga", "_gid"),
			want:        []string{"sid=1", "lang=en", ""},
			wantRemoved: []string{"_ga", "_gid"},
		},
		{
			name:        "everything removed",
			lines:       []string{"_ga=1", "_gid=2; _ga=3"},
			keep:        refuse("_ga", "_gid"),
			want:        []string{},
			wantRemoved: []string{"_ga", "_gid", "_ga"},
		},
		{
			name:  "no lines",
			lines: nil,
			keep:  refuse(),
			want:  nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, removed := Rewrite(tt.lines, tt.keep)
			if !slices.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
				t.Errorf("Rewrite(%q) = %q, want %q", tt.lines, got, tt.want)
			}
			if !slices.Equal(removed, tt.wantRemoved) {
				t.Errorf("removed = %q, want %q", removed, tt.wantRemoved)
			}
			if removed == nil && len(tt.lines) > 0 && &got[0] != &tt.lines[0] {
				t.Errorf("nothing removed but out is a new slice")
			}
		})
	}
}

func TestRewriteReturnsUnchangedLinesItself(t *testing.T) {
	lines := []string{"sid=1;  lang=en", "_ga=1; x=2"}
	got, _ := Rewrite(lines, refuse("_ga"))
	if unsafe.StringData(got[0]) != unsafe.StringData(lines[0]) {
		t.Errorf("unchanged line was copied")
	}
	if got[1] != "x=2" {
		t.Errorf("rewritten line = %q, want %q", got[1], "x=2")
	}
	if lines[1] != "_ga=1; x=2" {
		t.Errorf("Rewrite modified its input: %q", lines)
	}
}

func TestRewriteAllocations(t *testing.T) {
	lines := []string{realisticHeader}
	keep := refuse("_fbp", "_ga")
	keepAll := refuse("never")
	allocs := testing.AllocsPerRun(100, func() {
		if _, removed := Rewrite(lines, keepAll); removed != nil {
			t.Fatal("removed something")
		}
	})
	if allocs != 0 {
		t.Errorf("Rewrite with nothing removed: %v allocs, want 0", allocs)
	}
	allocs = testing.AllocsPerRun(100, func() {
		for p := range Pairs(lines) {
			if _, refused := p.Names.Refused(keep); refused && p.Text == "" {
				t.Fatal("empty pair")
			}
		}
	})
	if allocs != 0 {
		t.Errorf("Pairs: %v allocs, want 0", allocs)
	}
}
