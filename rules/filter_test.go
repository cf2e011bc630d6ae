package rules

import (
	"reflect"
	"strings"
	"testing"
)

func verdictNames(vs []CookieVerdict) []string {
	out := []string{}
	for _, v := range vs {
		out = append(out, v.Name)
	}
	return out
}

func TestFilterCookieHeader(t *testing.T) {
	s := decideSet(t)
	site := Request{Host: "shop.example", Path: "/cart", Context: FirstParty}
	for _, tc := range []struct {
		name         string
		profile      string
		r            Request
		lines        []string
		want         []string
		wantStripped []string
	}{
		{
			name:         "refused pairs removed, kept pairs byte-identical and in order",
			r:            site,
			lines:        []string{"_ga=GA1.2.3.4; sid=abc;theme=dark", "_fbp=fb.1.2;  lang=en"},
			want:         []string{"sid=abc; theme=dark", "lang=en"},
			wantStripped: []string{"_ga", "_fbp"},
		},
		{
			name:  "nothing refused: same lines",
			r:     site,
			lines: []string{"sid=abc;;theme=dark", "__cf_bm=x"},
			want:  []string{"sid=abc;;theme=dark", "__cf_bm=x"},
		},
		{
			name:         "a line left empty is dropped",
			r:            site,
			lines:        []string{"_ga=1; _gid=2", "sid=3"},
			want:         []string{"sid=3"},
			wantStripped: []string{"_ga", "_gid"},
		},
		{
			name:         "everything refused: no header",
			r:            site,
			lines:        []string{"_ga=1", "_fbp=2"},
			want:         []string{},
			wantStripped: []string{"_ga", "_fbp"},
		},
		{
			name:         "a nameless cookie read as a refused name; reported by its stored name",
			r:            site,
			lines:        []string{"=_ga=GA1.2; sid=1"},
			want:         []string{"sid=1"},
			wantStripped: []string{""},
		},
		{
			name:         "duplicates are all judged",
			r:            site,
			lines:        []string{"_ga=1; sid=1; _ga=2"},
			want:         []string{"sid=1"},
			wantStripped: []string{"_ga", "_ga"},
		},
		{
			name:         "unknown_cookies strip",
			profile:      "strip-unknown",
			r:            site,
			lines:        []string{"theme=dark; PHPSESSID=1"},
			want:         []string{"PHPSESSID=1"},
			wantStripped: []string{"theme"},
		},
		{
			name:         "blocked request: nothing forwarded, every cookie named",
			r:            Request{Host: "www.facebook.com", Path: "/tr"},
			lines:        []string{"fr=1; datr=2", "__cf_bm=3"},
			want:         nil,
			wantStripped: []string{"fr", "datr", "__cf_bm"},
		},
		{
			name:         "stripped request: nothing forwarded",
			profile:      "strip-denied",
			r:            Request{Host: "criteo.com", Path: "/x"},
			lines:        []string{"uid=1"},
			want:         nil,
			wantStripped: []string{"uid"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prof := tc.profile
			if prof == "" {
				prof = "reject-all"
			}
			p := mustProfile(t, s, prof)
			d := s.Decide(p, tc.r)
			out, stripped := s.FilterCookieHeader(p, tc.r, d, tc.lines)
			if len(out) == 0 && len(tc.want) == 0 {
				out, tc.want = nil, nil
			}
			if !reflect.DeepEqual(out, tc.want) {
				t.Errorf("out = %q, want %q", out, tc.want)
			}
			if got := verdictNames(stripped); !reflect.DeepEqual(got, append([]string{}, tc.wantStripped...)) {
				t.Errorf("stripped = %q, want %q", got, tc.wantStripped)
			}
			for _, v := range stripped {
				if v.Keep || v.Reason == "" {
					t.Errorf("stripped verdict %+v", v)
				}
				if strings.Contains(v.Reason, "GA1") || strings.Contains(v.Name, "GA1") {
					t.Errorf("a cookie value leaked into a verdict: %+v", v)
				}
			}
		})
	}
}

func TestFilterCookieHeaderNoChangeReturnsInput(t *testing.T) {
	s := decideSet(t)
	p := mustProfile(t, s, "reject-all")
	r := Request{Host: "shop.example", Path: "/"}
	lines := []string{"sid=1; theme=dark"}
	out, stripped := s.FilterCookieHeader(p, r, s.Decide(p, r), lines)
	if &out[0] != &lines[0] || stripped != nil {
		t.Errorf("unchanged header was copied (%v) or reported (%v)", out, stripped)
	}
}

func TestFilterSetCookie(t *testing.T) {
	s := decideSet(t)
	p := mustProfile(t, s, "reject-all")
	site := Request{Host: "shop.example", Path: "/", Context: FirstParty}
	fields := []string{
		"_ga=GA1.2.3; Path=/; Max-Age=63072000",
		"sid=abc; HttpOnly; Secure",
		"=_gid=GA1.9",                   // nameless: the server will read "_gid"
		"theme=dark, _fbp=fb.1; Path=/", // one cookie named theme: commas never split
		"bad\x01name=1",                 // a browser ignores the line
		"__cf_bm=x; SameSite=None",
	}
	kept, stripped := s.FilterSetCookie(p, site, s.Decide(p, site), fields)
	wantKept := []string{"sid=abc; HttpOnly; Secure", "theme=dark, _fbp=fb.1; Path=/", "__cf_bm=x; SameSite=None"}
	if !reflect.DeepEqual(kept, wantKept) {
		t.Errorf("kept = %q\nwant %q", kept, wantKept)
	}
	if got, want := verdictNames(stripped), []string{"_ga", "", "bad\x01name"}; !reflect.DeepEqual(got, want) {
		t.Errorf("stripped = %q, want %q", got, want)
	}
	if len(stripped) == 3 {
		if stripped[1].Category != Analytics || !strings.HasSuffix(stripped[1].Reason, reasonOtherReading) {
			t.Errorf("nameless verdict = %+v", stripped[1])
		}
		if stripped[2].Reason != reasonIgnored {
			t.Errorf("ignored-line verdict = %+v", stripped[2])
		}
	}

	// Nothing removed: the same slice back, nothing reported.
	fields = []string{"sid=1", "theme=dark"}
	kept, stripped = s.FilterSetCookie(p, site, s.Decide(p, site), fields)
	if &kept[0] != &fields[0] || stripped != nil {
		t.Errorf("unchanged Set-Cookie copied or reported: %q %v", kept, stripped)
	}

	// A stripped tracker request keeps nothing, and names every cookie.
	sp := mustProfile(t, s, "strip-denied")
	tr := Request{Host: "criteo.com", Path: "/x"}
	kept, stripped = s.FilterSetCookie(sp, tr, s.Decide(sp, tr), []string{"uid=1; Path=/", "sid=2"})
	if kept != nil || !reflect.DeepEqual(verdictNames(stripped), []string{"uid", "sid"}) {
		t.Errorf("strip decision: kept %q stripped %q", kept, verdictNames(stripped))
	}
}
