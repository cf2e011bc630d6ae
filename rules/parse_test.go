package rules

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestParseErrors checks every file under testdata/errors against its
// .want file: the exact messages, with exact line numbers, in order. A file
// that parses is compiled alone (reference errors are Compile's).
func TestParseErrors(t *testing.T) {
	files, err := filepath.Glob("testdata/errors/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/errors/*.yaml: %v", err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			wantData, err := os.ReadFile(strings.TrimSuffix(path, ".yaml") + ".want")
			if err != nil {
				t.Fatalf("every error case needs a .want file: %v", err)
			}
			want := strings.Split(strings.TrimSpace(string(wantData)), "\n")
			f, err := Parse(path, data)
			if err == nil {
				_, err = Compile(f)
			}
			if err == nil {
				t.Fatalf("no error; want:\n%s", strings.Join(want, "\n"))
			}
			var got []string
			for _, e := range leaves(err) {
				got = append(got, e.Error())
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

func leaves(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, leaves(e)...)
		}
		return out
	}
	return []error{err}
}

func TestParseContent(t *testing.T) {
	f := parseText(t, "mini.yaml", `
		version: 1
		categories:
		  - name: security
		    description: Bot detection
		vendors:
		  - id: criteo
		    name: Criteo
		    gvl_id: 91
		    sources: ["https://www.criteo.com/privacy/"]
		    services:
		      - name: onetag
		        category: advertising
		        kind: script
		        hosts: [static.criteo.net, "*.criteo.com"]
		        paths: ["/js/ld/*"]
		        source: "EP:4520"
		cookies:
		  - names: [cto_bundle, "cto_*"]
		    category: advertising
		    vendor: criteo
		    domains: [criteo.com]
		    source: PB
		profiles:
		  - name: strict
		    description: Essential only
		    allow: []
		    vendors: {criteo: allow}
		    unknown_cookies: strip
		    on_denied: strip
		    gpc: true
		    dnt: false
	`)
	want := &File{
		Name:       "mini.yaml",
		Categories: []CategorySpec{{Name: "security", Description: "Bot detection", Origin: Origin{"mini.yaml", 3}}},
		Vendors: []VendorSpec{{
			ID: "criteo", Name: "Criteo", GVLID: 91, Sources: []string{"https://www.criteo.com/privacy/"},
			Services: []ServiceSpec{{
				Name: "onetag", Category: Advertising, Kind: KindScript,
				Hosts: []string{"static.criteo.net", "*.criteo.com"}, Paths: []string{"/js/ld/*"},
				Source: "EP:4520", Origin: Origin{"mini.yaml", 11},
			}},
			Origin: Origin{"mini.yaml", 6},
		}},
		Cookies: []CookieRuleSpec{{
			Names: []string{"cto_bundle", "cto_*"}, Category: Advertising, Vendor: "criteo",
			Domains: []string{"criteo.com"}, Source: "PB", Origin: Origin{"mini.yaml", 18},
		}},
		Profiles: []ProfileSpec{{
			Name: "strict", Description: "Essential only", Allow: []string{},
			Vendors: map[string]string{"criteo": "allow"}, UnknownCookies: "strip", OnDenied: "strip",
			GPC: true, Origin: Origin{"mini.yaml", 24},
			VendorOrigins: map[string]Origin{"criteo": {"mini.yaml", 27}},
		}},
	}
	if !reflect.DeepEqual(f, want) {
		t.Errorf("Parse:\n got %#v\nwant %#v", f, want)
	}
}

// TestParseErrorsAreAllReported: one file with many mistakes gets one error
// per mistake, joined, not just the first.
func TestParseErrorsAreAllReported(t *testing.T) {
	_, err := Parse("many.yaml", []byte(dedent(`
		version: 1
		vendors:
		  - id: a
		    services:
		      - {name: s, category: analytics, kind: scrpt, hosts: [a.com]}
		      - {name: t, category: analytics, kind: script, hosts: [A.com]}
		      - {name: u, category: analytics, kind: script, hosts: [a.com], paths: [x]}
	`)))
	if err == nil {
		t.Fatal("Parse accepted a file with three mistakes")
	}
	got := leaves(err)
	if len(got) != 3 {
		t.Fatalf("got %d errors, want 3: %v", len(got), err)
	}
	for i, want := range []string{"many.yaml:5: unknown kind \"scrpt\" (did you mean \"script\"?)", "many.yaml:6: host pattern \"A.com\" must be lower-case", "many.yaml:7: path pattern \"x\" must start with '/'"} {
		if !strings.HasPrefix(got[i].Error(), want) {
			t.Errorf("error %d = %q, want prefix %q", i, got[i], want)
		}
	}
	var pe *posError
	if !errors.As(got[0], &pe) || pe.origin != (Origin{"many.yaml", 5}) {
		t.Errorf("error 0 origin = %+v, want many.yaml:5", pe)
	}
}

func TestSuggest(t *testing.T) {
	for _, tc := range []struct {
		word  string
		cands []string
		want  string
	}{
		{"hots", serviceKeys(), "hosts"},
		{"iframe", kindNames(), "frame"},
		{"javascript", kindNames(), "script"},
		{"advertisment", []string{"analytics", "advertising", "marketing"}, "advertising"},
		{"unknown_cookie", profileKeys(), "unknown_cookies"},
		{"ondenied", profileKeys(), "on_denied"},
		{"zzzzzz", serviceKeys(), ""},
		{"x", []string{"pixel", "api"}, ""},
	} {
		if got := suggest(tc.word, tc.cands); got != tc.want {
			t.Errorf("suggest(%q) = %q, want %q", tc.word, got, tc.want)
		}
	}
}
