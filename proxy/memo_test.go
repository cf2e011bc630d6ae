package proxy

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unsafe"

	"github.com/consentproxy/consentproxy/proxy/events"
	"github.com/consentproxy/consentproxy/rules"
)

// The memos behind events (snapshot.originText, snapshot.eventCookies)
// must give exactly what formatting each event anew gives, share only
// equal lists, and hold nothing of the request.

func memoSnapshot(t *testing.T) *snapshot {
	t.Helper()
	cfg := testConfig(t, nil)
	snap, err := buildSnapshot(cfg, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func verdict(name, cat, vendor, file string, line int) rules.CookieVerdict {
	return rules.CookieVerdict{Name: name, Known: true, Category: rules.Category(cat), Vendor: vendor,
		Origin: rules.Origin{File: file, Line: line}, Reason: cat + " is refused"}
}

// wantCookies is the list an event must carry, built the plain way.
func wantCookies(req, resp []rules.CookieVerdict) []events.Cookie {
	out := []events.Cookie{}
	for _, part := range []struct {
		vs  []rules.CookieVerdict
		dir events.Direction
	}{{req, events.Request}, {resp, events.Response}} {
		for _, v := range part.vs {
			if len(out) == events.MaxCookies {
				break
			}
			out = append(out, events.Cookie{Name: events.TruncateName(v.Name), Direction: part.dir,
				Category: string(v.Category), Vendor: v.Vendor, Origin: v.Origin.String(), Reason: v.Reason})
		}
	}
	return out
}

func TestEventCookies(t *testing.T) {
	snap := memoSnapshot(t)
	ga := verdict("_ga", "analytics", "google-analytics", "builtin/google.yaml", 216)
	fbp := verdict("_fbp", "advertising", "facebook", "builtin/meta.yaml", 40)
	noLine := verdict("xman_t", "", "", "config.yaml", 0)
	long := verdict(strings.Repeat("n", 300), "analytics", "", "builtin/x.yaml", 1)
	var many []rules.CookieVerdict
	for i := range events.MaxCookies + 5 {
		many = append(many, verdict(fmt.Sprintf("c%d", i), "analytics", "", "builtin/x.yaml", i+1))
	}
	tests := []struct {
		name        string
		req, resp   []rules.CookieVerdict
		wantOmitted int
	}{
		{"none", nil, nil, 0},
		{"request", []rules.CookieVerdict{ga, fbp}, nil, 0},
		{"response", nil, []rules.CookieVerdict{ga, fbp}, 0},
		{"both", []rules.CookieVerdict{ga}, []rules.CookieVerdict{fbp}, 0},
		{"swapped directions", []rules.CookieVerdict{fbp}, []rules.CookieVerdict{ga}, 0},
		{"origin without line", []rules.CookieVerdict{noLine}, nil, 0},
		{"long name", []rules.CookieVerdict{long}, nil, 0},
		{"more than MaxCookies", many, []rules.CookieVerdict{ga}, 6},
	}
	for _, tt := range tests {
		want := wantCookies(tt.req, tt.resp)
		// Twice: the second answer comes from the memo.
		for round := range 2 {
			got, omitted := snap.eventCookies(tt.req, tt.resp)
			if !reflect.DeepEqual(got, want) || omitted != tt.wantOmitted {
				t.Errorf("%s (round %d): eventCookies = %v, %d omitted\nwant %v, %d omitted", tt.name, round, got, omitted, want, tt.wantOmitted)
			}
			if got == nil {
				t.Errorf("%s: nil list (the API shows [] for no cookies)", tt.name)
			}
		}
	}

	// Equal lists are shared; different ones are not.
	a, _ := snap.eventCookies([]rules.CookieVerdict{ga, fbp}, nil)
	b, _ := snap.eventCookies([]rules.CookieVerdict{ga, fbp}, nil)
	c, _ := snap.eventCookies([]rules.CookieVerdict{fbp, ga}, nil)
	if &a[0] != &b[0] {
		t.Error("two events stripping the same cookies do not share their list")
	}
	if &a[0] == &c[0] || c[0].Name != "_fbp" {
		t.Errorf("a different list was answered from the memo: %v", c)
	}
	// Same name, another rule (a reload or a domain-scoped rule): not the
	// memoised list.
	ga2 := ga
	ga2.Origin.Line, ga2.Reason = 300, "another reason"
	d, _ := snap.eventCookies([]rules.CookieVerdict{ga2, fbp}, nil)
	if d[0].Origin != "builtin/google.yaml:300" || d[0].Reason != "another reason" {
		t.Errorf("list for another rule = %v", d)
	}
	// Same rule, judged under another profile: another reason and vendor
	// (the memo's hash leaves both out, so this is its collision path).
	ga3 := ga
	ga3.Reason, ga3.Vendor = "refused by profile strict", "other"
	e, _ := snap.eventCookies([]rules.CookieVerdict{ga3, fbp}, nil)
	if e[0].Reason != ga3.Reason || e[0].Vendor != "other" {
		t.Errorf("list under another profile = %v, want reason %q", e, ga3.Reason)
	}
}

func TestEventCookiesShareNoRequestMemory(t *testing.T) {
	snap := memoSnapshot(t)
	header := "session=1; _ga=GA1.2.secret-value"
	name := header[11:14] // "_ga", a substring of the header, as the rules package returns it
	for round := range 2 {
		l, _ := snap.eventCookies([]rules.CookieVerdict{verdict(name, "analytics", "", "builtin/google.yaml", 1)}, nil)
		got := l[0].Name
		if got != "_ga" {
			t.Fatalf("name = %q", got)
		}
		// Pointer inside the header's bytes: the event would keep the
		// whole header, cookie values included, alive.
		p, start := uintptr(unsafe.Pointer(unsafe.StringData(got))), uintptr(unsafe.Pointer(unsafe.StringData(header)))
		if p >= start && p < start+uintptr(len(header)) {
			t.Errorf("round %d: the event's cookie name shares memory with the request's Cookie header", round)
		}
	}
}

func TestOriginText(t *testing.T) {
	snap := memoSnapshot(t)
	for _, o := range []rules.Origin{{File: "builtin/google.yaml", Line: 216}, {File: "config.yaml"}, {}, {File: "a.yaml", Line: 1}} {
		for range 2 {
			if got, want := snap.originText(o), o.String(); got != want {
				t.Errorf("originText(%+v) = %q, want %q", o, got, want)
			}
		}
	}
	var none *snapshot
	if got := none.originText(rules.Origin{File: "f.yaml", Line: 2}); got != "f.yaml:2" {
		t.Errorf("nil snapshot: originText = %q", got)
	}
}
