package rules_test

import (
	"bufio"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/consentproxy/consentproxy/rules"
)

// The built-in ruleset is data; these tests hold it to the cookie notice it
// must cover, to the classification cases in testdata/, and to the habits
// that keep it honest (every rule sourced, generic names scoped).

// noticeVendors are the vendors the reference cookie notice names
// (shared/reference/aliexpress-cookie-notice.md), each mapped to the
// built-in vendor id that stands for it. Listed here, not read from the
// data, so that removing a vendor from the data fails this test.
var noticeVendors = map[string]string{
	"AliExpress":       "aliexpress",
	"Facebook":         "facebook",
	"X":                "x",
	"Google":           "google",
	"Google Analytics": "google-analytics",
	"RTB House":        "rtb-house",
	"Criteo":           "criteo",
	"Moloco":           "moloco",
	"Remerge":          "remerge",
	"TikTok":           "tiktok",
	"Taboola":          "taboola",
	"Clicktech":        "clicktech",
	"Opera":            "opera",
	"Microsoft":        "microsoft",
	"Pinterest":        "pinterest",
	"Instagram":        "instagram",
}

// noticeCookie is one cookie name the notice lists, with the category it
// gives it and the vendor the built-in set files it under.
type noticeCookie struct {
	name     string
	host     string
	category rules.Category
	vendor   string
}

// noticeCookies are every cookie name the notice prints, verbatim (its
// analytics list spells ga.js's __utma family with one underscore).
var noticeCookies = []noticeCookie{
	{"ali_apache_id", "www.aliexpress.com", rules.Essential, "aliexpress"},
	{"xman_f", "www.aliexpress.com", rules.Essential, "aliexpress"},
	{"xman_t", "www.aliexpress.com", rules.Essential, "aliexpress"},
	{"xman_us_f", "www.aliexpress.us", rules.Essential, "aliexpress"},
	{"xman_us_t", "www.aliexpress.us", rules.Essential, "aliexpress"},
	{"aep_common_f", "www.aliexpress.com", rules.Essential, "aliexpress"},
	{"aep_usuc_f", "www.aliexpress.com", rules.Essential, "aliexpress"},
	{"intl_locale", "www.aliexpress.com", rules.Essential, "aliexpress"},
	{"intl_common_forever", "www.aliexpress.com", rules.Essential, "aliexpress"},
	{"cna", "www.aliexpress.com", rules.Essential, "aliexpress"},
	{"isg", "www.aliexpress.com", rules.Essential, "aliexpress"},
	{"acs_usuc_t", "www.aliexpress.com", rules.Essential, "aliexpress"},
	{"_m_h5_tk_enc", "www.aliexpress.com", rules.Essential, "aliexpress"},
	{"_m_h5_tk", "www.aliexpress.com", rules.Essential, "aliexpress"},
	{"sgcookie", "www.aliexpress.com", rules.Essential, "aliexpress"},
	{"x5sec", "www.aliexpress.com", rules.Essential, "aliexpress"},
	{"cbc", "www.aliexpress.com", rules.Essential, "aliexpress"},
	{"x_router_us_f", "www.aliexpress.us", rules.Essential, "aliexpress"},
	{"_baxia_sec_cookie_", "www.aliexpress.com", rules.Essential, "aliexpress"},
	{"JSESSIONID", "www.aliexpress.com", rules.Essential, ""},
	{"XSRF-TOKEN", "www.aliexpress.com", rules.Essential, ""},
	{"_ga", "www.aliexpress.com", rules.Analytics, "google-analytics"},
	{"_gat", "www.aliexpress.com", rules.Analytics, "google-analytics"},
	{"_utma", "www.aliexpress.com", rules.Analytics, "google-analytics"},
	{"_utmb", "www.aliexpress.com", rules.Analytics, "google-analytics"},
	{"_utmc", "www.aliexpress.com", rules.Analytics, "google-analytics"},
	{"_utmt", "www.aliexpress.com", rules.Analytics, "google-analytics"},
	{"_utmz", "www.aliexpress.com", rules.Analytics, "google-analytics"},
	{"AB_STG", "www.aliexpress.com", rules.Analytics, "aliexpress"},
	{"AB_DATA_TRACK", "www.aliexpress.com", rules.Analytics, "aliexpress"},
	{"AB_ALG", "www.aliexpress.com", rules.Analytics, "aliexpress"},
}

// genericCookieNames are names many unrelated sites use for their own
// cookies. A rule for one of them must be scoped to the vendor's domains,
// or it would strip (or, if essential, shield) innocent first-party cookies.
var genericCookieNames = map[string]bool{
	"id": true, "sid": true, "uid": true, "uuid": true, "session": true, "sessionid": true,
	"sess": true, "token": true, "csrftoken": true, "optout": true, "locale": true, "lang": true,
	"test": true, "chk": true, "ts": true, "pref": true, "auth_token": true, "user": true,
}

// builtinSet parses and compiles the embedded ruleset, failing the test on
// any error (a broken data file must never ship).
func builtinSet(t *testing.T) (*rules.File, *rules.Set) {
	t.Helper()
	layer, err := rules.Builtin()
	if err != nil {
		t.Fatalf("rules.Builtin: %v", err)
	}
	set, err := rules.Compile(layer)
	if err != nil {
		t.Fatalf("rules.Compile(builtin): %v", err)
	}
	return layer, set
}

func profile(t *testing.T, set *rules.Set, name string) *rules.Profile {
	t.Helper()
	p, ok := set.Profile(name)
	if !ok {
		t.Fatalf("built-in profile %q missing", name)
	}
	return p
}

// readTSV returns the non-comment rows of a testdata file, each with its
// line number, checking the column count.
func readTSV(t *testing.T, path string, cols int) (rows [][]string, lines []int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Split(line, "\t")
		if len(fields) != cols {
			t.Fatalf("%s:%d: %d columns, want %d", path, n, len(fields), cols)
		}
		rows = append(rows, fields)
		lines = append(lines, n)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	if len(rows) == 0 {
		t.Fatalf("%s has no rows", path)
	}
	return rows, lines
}

func request(t *testing.T, where, rawURL, dest string, ctx rules.Context) rules.Request {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatalf("%s: bad url %q: %v", where, rawURL, err)
	}
	return rules.Request{Host: u.Hostname(), Path: u.Path, Dest: rules.ParseDest(dest), Context: ctx}
}

func TestBuiltinCompiles(t *testing.T) {
	_, set := builtinSet(t)
	c := set.Counts()
	t.Logf("built-in set: %d vendors, %d services, %d host patterns, %d cookie patterns, %d profiles",
		c.Vendors, c.Services, c.HostPatterns, c.CookiePatterns, c.Profiles)
	if c.Vendors < 40 {
		t.Errorf("built-in set has %d vendors, want at least 40", c.Vendors)
	}
	for _, name := range []string{"reject-all", "accept-all", "analytics-only"} {
		profile(t, set, name)
	}
}

func TestBuiltinNoticeVendors(t *testing.T) {
	_, set := builtinSet(t)
	for notice, id := range noticeVendors {
		v, ok := set.Vendor(id)
		if !ok {
			t.Errorf("notice vendor %q: no built-in vendor %q", notice, id)
			continue
		}
		if len(v.Sources) == 0 {
			t.Errorf("notice vendor %q (%s) has no sources", notice, id)
		}
	}
}

func TestBuiltinNoticeCookies(t *testing.T) {
	_, set := builtinSet(t)
	accept, reject := profile(t, set, "accept-all"), profile(t, set, "reject-all")
	for _, tc := range noticeCookies {
		// A first-party page load of the site that sets the cookie.
		r := rules.Request{Host: tc.host, Path: "/", Dest: rules.ParseDest("document"), Context: rules.TopLevel}
		d := set.Decide(accept, r)
		got := set.JudgeCookie(accept, r, d, tc.name)
		if !got.Known || got.Category != tc.category || got.Vendor != tc.vendor {
			t.Errorf("notice cookie %s on %s: got known=%v %q/%q, want %q/%q",
				tc.name, tc.host, got.Known, got.Category, got.Vendor, tc.category, tc.vendor)
		}
		// reject-all keeps exactly the essential ones.
		dr := set.Decide(reject, r)
		kept := set.JudgeCookie(reject, r, dr, tc.name).Keep
		if want := tc.category == rules.Essential; kept != want {
			t.Errorf("notice cookie %s on %s under reject-all: keep=%v, want %v", tc.name, tc.host, kept, want)
		}
	}
}

func TestBuiltinRequests(t *testing.T) {
	_, set := builtinSet(t)
	accept, reject := profile(t, set, "accept-all"), profile(t, set, "reject-all")
	const path = "testdata/builtin_requests.tsv"
	rows, lines := readTSV(t, path, 5)
	seen := map[string]bool{}
	for i, row := range rows {
		where := path + ":" + strconv.Itoa(lines[i])
		rawURL, dest, vendor, service, category := row[0], row[1], row[2], row[3], row[4]
		r := request(t, where, rawURL, dest, rules.ThirdParty)

		d := set.Decide(accept, r)
		if vendor == "" {
			if d.Matched {
				t.Errorf("%s: %s matched %s/%s (%s), want no match", where, rawURL, d.Vendor, d.Service, d.Origin)
			}
			continue
		}
		if !d.Matched || d.Vendor != vendor || d.Service != service || string(d.Category) != category {
			t.Errorf("%s: %s: got %s/%s %q (matched=%v, %s), want %s/%s %q",
				where, rawURL, d.Vendor, d.Service, d.Category, d.Matched, d.Origin, vendor, service, category)
			continue
		}
		if d.Action != rules.Allow {
			t.Errorf("%s: %s under accept-all: action %v, want allow", where, rawURL, d.Action)
		}
		seen[vendor+"/"+service] = true

		// reject-all refuses every non-essential tracker in third-party
		// context, with the answer the destination calls for.
		dr := set.Decide(reject, r)
		want := rules.BlockEmpty
		if r.Dest == rules.ParseDest("image") || r.Dest == rules.ParseDest("") && dr.Kind == rules.KindPixel {
			want = rules.BlockImage
		}
		if dr.Action != want {
			t.Errorf("%s: %s under reject-all (third-party): action %v, want %v", where, rawURL, dr.Action, want)
		}
		// A top-level navigation to the same URL is never blocked.
		nav := request(t, where, rawURL, "document", rules.TopLevel)
		if a := set.Decide(reject, nav).Action; a != rules.Allow {
			t.Errorf("%s: %s as a top-level navigation under reject-all: action %v, want allow", where, rawURL, a)
		}
	}

	// Every service of the built-in set has at least one case.
	for _, id := range set.VendorIDs() {
		v, _ := set.Vendor(id)
		for _, svc := range v.Services {
			if !seen[id+"/"+svc.Name] {
				t.Errorf("service %s/%s (%s) has no row in %s", id, svc.Name, svc.Origin, path)
			}
		}
	}
}

// sameHostPairs are hosts where paths decide the category: a host-only
// classifier would be wrong for them.
var sameHostPairs = []struct {
	host        string
	pathA, catA string
	pathB, catB string
}{
	{"www.googletagmanager.com", "/gtag/js", "analytics", "/gtm.js", "analytics"},
	{"www.facebook.com", "/tr", "marketing", "/plugins/like.php", "social"},
	{"connect.facebook.net", "/en_US/fbevents.js", "marketing", "/en_US/sdk.js", "social"},
	{"t.co", "/i/adsct", "marketing", "/AbCdEf", "advertising"},
	{"trc.taboola.com", "/1234567/log/3/unip", "marketing", "/pub/trc/3/json", "advertising"},
	{"www.google.com", "/g/collect", "analytics", "/pagead/1p-user-list/1/", "advertising"},
	{"www.youtube.com", "/embed/x", "social", "/api/stats/ads", "advertising"},
}

func TestBuiltinSameHostDifferentPaths(t *testing.T) {
	_, set := builtinSet(t)
	accept := profile(t, set, "accept-all")
	for _, tc := range sameHostPairs {
		for _, c := range []struct{ path, cat string }{{tc.pathA, tc.catA}, {tc.pathB, tc.catB}} {
			d := set.Decide(accept, rules.Request{Host: tc.host, Path: c.path, Context: rules.ThirdParty})
			if !d.Matched || string(d.Category) != c.cat {
				t.Errorf("%s%s: category %q (matched=%v, %s/%s), want %q", tc.host, c.path, d.Category, d.Matched, d.Vendor, d.Service, c.cat)
			}
		}
	}
}

func TestBuiltinCookies(t *testing.T) {
	_, set := builtinSet(t)
	accept := profile(t, set, "accept-all")
	const path = "testdata/builtin_cookies.tsv"
	rows, lines := readTSV(t, path, 4)
	for i, row := range rows {
		where := path + ":" + strconv.Itoa(lines[i])
		name, host, category, vendor := row[0], row[1], row[2], row[3]
		if host == "" {
			host = "www.example.com"
		}
		r := rules.Request{Host: host, Path: "/", Context: rules.FirstParty}
		got := set.JudgeCookie(accept, r, set.Decide(accept, r), name)
		if category == "unknown" {
			if got.Known {
				t.Errorf("%s: cookie %s on %s: claimed by a rule (%q/%q, %s), want unknown", where, name, host, got.Category, got.Vendor, got.Origin)
			}
			continue
		}
		if !got.Known || string(got.Category) != category || got.Vendor != vendor {
			t.Errorf("%s: cookie %s on %s: got known=%v %q/%q (%s), want %q/%q",
				where, name, host, got.Known, got.Category, got.Vendor, got.Origin, category, vendor)
		}
	}
}

// TestBuiltinSourced checks the evidence: every service and cookie rule
// names its source, every vendor has sources, and a vendor with a GVL id
// cites where the id comes from.
func TestBuiltinSourced(t *testing.T) {
	layer, _ := builtinSet(t)
	for _, v := range layer.Vendors {
		if len(v.Sources) == 0 {
			t.Errorf("%s: vendor %s has no sources", v.Origin, v.ID)
		}
		if v.GVLID != 0 && !strings.Contains(strings.Join(v.Sources, " "), strconv.Itoa(v.GVLID)) {
			t.Errorf("%s: vendor %s has gvl_id %d but no source citing it", v.Origin, v.ID, v.GVLID)
		}
		for _, s := range v.Services {
			if strings.TrimSpace(s.Source) == "" {
				t.Errorf("%s: service %s/%s has no source", s.Origin, v.ID, s.Name)
			}
		}
	}
	for _, c := range layer.Cookies {
		if strings.TrimSpace(c.Source) == "" {
			t.Errorf("%s: cookie rule %v has no source", c.Origin, c.Names)
		}
	}
}

// TestBuiltinGenericNamesScoped keeps short and generic cookie names from
// being claimed on every site.
func TestBuiltinGenericNamesScoped(t *testing.T) {
	layer, _ := builtinSet(t)
	for _, c := range layer.Cookies {
		if len(c.Domains) > 0 {
			continue
		}
		for _, n := range c.Names {
			if genericCookieNames[strings.ToLower(n)] || len(n) <= 2 {
				t.Errorf("%s: cookie %q is generic but its rule has no domains: scope", c.Origin, n)
			}
			if strings.HasPrefix(n, "*") {
				t.Errorf("%s: cookie glob %q has no literal prefix", c.Origin, n)
			}
		}
	}
}

// TestBuiltinNoAmbiguity keeps the data free of ties the engine would have
// to break: two services filed under the same host and path pattern (or
// two catch-alls for one host), or one cookie name claimed twice for the
// same scope. A tie is resolved as the most restrictive, which hides a
// mistake instead of showing it.
func TestBuiltinNoAmbiguity(t *testing.T) {
	layer, _ := builtinSet(t)
	services := map[string]string{}
	for _, v := range layer.Vendors {
		for _, s := range v.Services {
			paths := s.Paths
			if len(paths) == 0 {
				paths = []string{"(every path)"}
			}
			for _, h := range s.Hosts {
				for _, p := range paths {
					key := h + " " + p
					here := v.ID + "/" + s.Name + " (" + s.Origin.String() + ")"
					if prev, dup := services[key]; dup {
						t.Errorf("host %s path %s: both %s and %s", h, p, prev, here)
						continue
					}
					services[key] = here
				}
			}
		}
	}
	cookies := map[string]string{}
	for _, c := range layer.Cookies {
		scope := strings.Join(c.Domains, ",")
		for _, n := range c.Names {
			key := n + " @" + scope
			if prev, dup := cookies[key]; dup {
				t.Errorf("cookie %q (scope %q) claimed at %s and %s", n, scope, prev, c.Origin)
				continue
			}
			cookies[key] = c.Origin.String()
		}
	}
}
