package rules

import (
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// importOCDSet imports the full Open Cookie Database from ../shared and
// compiles it over the built-in set.
func importOCDSet(t testing.TB) (*Set, *OCDImport) {
	t.Helper()
	path := filepath.Join(sharedDir(t), "data", "open-cookie-database", "open-cookie-database.csv")
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open the OCD: %v", err)
	}
	defer f.Close()
	im, err := ImportOCD(f, "open-cookie-database.csv")
	if err != nil {
		t.Fatalf("ImportOCD: %v", err)
	}
	layer, err := Parse("ocd.yaml", im.YAML)
	if err != nil {
		t.Fatalf("the generated file does not parse: %v", err)
	}
	s, err := Compile(builtinProfiles(t), layer)
	if err != nil {
		t.Fatalf("the generated file does not compile over the built-in set: %v", err)
	}
	return s, im
}

func TestImportOCDFull(t *testing.T) {
	s, im := importOCDSet(t)
	// README: 2,264 data rows; 8 cannot become rules (3 exact duplicates,
	// 1 duplicate after scoping, 4 names with a literal '*').
	if im.Rows != 2264 {
		t.Errorf("Rows = %d, want 2264", im.Rows)
	}
	if im.Rules+len(im.Skipped) != im.Rows {
		t.Errorf("%d rules + %d skipped != %d rows", im.Rules, len(im.Skipped), im.Rows)
	}
	skipped := map[string]string{}
	for _, sk := range im.Skipped {
		skipped[sk.Name] = sk.Reason
	}
	for _, name := range []string{"SSPR_*", "DSP2F_*", "SCM*", "UID_EXT_*"} {
		if !strings.Contains(skipped[name], "not a wildcard row") {
			t.Errorf("%s: skipped reason %q, want the literal-'*' reason", name, skipped[name])
		}
	}
	if len(im.Skipped) != 8 {
		t.Errorf("skipped %d rows, want 8: %+v", len(im.Skipped), im.Skipped)
	}
	if c := s.Counts(); c.CookiePatterns != im.Rules || c.Vendors != im.Vendors || im.Vendors < 300 {
		t.Errorf("Counts = %+v, import = %d rules %d vendors", c, im.Rules, im.Vendors)
	}

	p := mustProfile(t, s, "reject-all")
	for _, tc := range []struct {
		host, cookie string
		category     Category
		vendor       string
	}{
		{"shop.example", "_ga", Analytics, "google-analytics"},
		{"shop.example", "_ga_ABC123", Analytics, "google-analytics"}, // wildcard row "_ga_"
		{"shop.example", "_gat_UA-1-1", Analytics, "google-analytics"},
		{"shop.example", "_fbp", Advertising, "facebook"}, // Marketing → advertising
		{"shop.example", "_gcl_au", Advertising, "google"},
		{"shop.example", "CookieConsent", Functional, "cookiebot"},
		{"shop.example", "__cf_bm", Functional, "cloudflare"},
		{"shop.example", "_hjSessionUser_123", Functional, "hotjar"},
		{"shop.example", "ce_need_secure_cookie", Analytics, "crazy-egg"}, // trailing TAB trimmed
		{"shop.example", "logglytrackingsession", Functional, "loggly"},   // soft hyphen removed
		{"creativecdn.com", "c", Advertising, "creativecdn"},              // scoped by a clean Domain
		{"www.creativecdn.com", "ts", Functional, "creativecdn"},          // subdomains too
		{"shop.example", "c", "", ""},                                     // generic name elsewhere: unknown
		{"x.clarity.ms", "_clck", Analytics, "microsoft"},
		{"shop.example", "_shopify_s", "", ""},                 // "_s" is scoped: no broad prefix
		{"shop.example", "euconsent-v2", Functional, "didomi"}, // the first of two identical rows
	} {
		r := Request{Host: tc.host, Path: "/", Context: FirstParty}
		v := s.JudgeCookie(p, r, s.Decide(p, r), tc.cookie)
		if v.Category != tc.category || v.Vendor != tc.vendor || v.Known != (tc.category != "") {
			t.Errorf("%s on %s: %q/%q known %v, want %q/%q", tc.cookie, tc.host, v.Category, v.Vendor, v.Known, tc.category, tc.vendor)
		}
		if v.Known && !strings.HasPrefix(v.Origin.String(), "ocd.yaml:") {
			t.Errorf("%s: origin %s", tc.cookie, v.Origin)
		}
	}

	// A whole header through the filter: analytics and advertising go,
	// functional goes too under reject-all, essential and unknown stay.
	r := Request{Host: "shop.example", Path: "/", Context: FirstParty}
	out, stripped := s.FilterCookieHeader(p, r, s.Decide(p, r), []string{"_ga=1; _fbp=2; CookieConsent=3; cart=4"})
	if !reflect.DeepEqual(out, []string{"cart=4"}) || len(stripped) != 3 {
		t.Errorf("filtered %q, stripped %v", out, verdictNames(stripped))
	}
}

func TestImportOCDQuirks(t *testing.T) {
	header := strings.Join(ocdColumns(), ",")
	row := func(id, platform, cat, name, domain, wildcard string) string {
		return strings.Join([]string{id, platform, cat, name, domain, `"desc, with comma"`, "1 year", "Ctl", "https://p.example/privacy", wildcard}, ",")
	}
	csv := strings.Join([]string{
		header,
		row("r2", "Google Analytics", "Analytics", "_ga", "", "0"),
		row("r3", "Google Analytics", "Analytics", "_ga_", "", "1"),
		row("r4", "Crazy Egg", "Analytics", "ce_need\t", "", "0"),
		row("r5", "Loggly", "Functional", "a\u00adb", "", "0"),
		row("r6", "X", "Marketing", "SSPR_*", "", "0"),
		row("r7", "Acme", "Functional", "tok", "acme.example", "0"),
		row("r8", "Acme Ads", "Marketing", "tok", ".acme.example", "0"),
		row("r9", "Acme", "Security", "guard", " .Acme.example\u200b", "0"),
		row("r10", "Acme", "Marketing", "x", "acme.example (3rd party)", "0"),
		row("r11", "Acme", "Personalization", "pref", "", "0"),
		row("r12", "Acme", "Necessary", "sess", "", "0"),
		row("r13", "Acme", "Tracking", "y", "", "0"),
		row("r14", "Acme", "Analytics", "", "", "0"),
		row("r15", "Acme", "Analytics", "semi;colon", "", "0"),
		"r16,Acme,Analytics,short",
		row("r17", "Google Analytics", "Analytics", "_ga", "", "0"),
		row("r18", "Acme", "Analytics", "wild*", "", "1"),
		row("r19", "", "Analytics", "orphan", "", "0"),
		row("r20", "Acme", "Analytics", "w", "", "2"),
		`r21,Acme,Analytics,"bad"quote,,d,1,c,u,0`,
		row("r22", "Acme", "Analytics", "after", "", "0"),
	}, "\n") + "\n"
	im, err := ImportOCD(strings.NewReader(csv), "quirks.csv")
	if err != nil {
		t.Fatal(err)
	}
	var gotSkips []string
	for _, sk := range im.Skipped {
		gotSkips = append(gotSkips, sk.Name+"@"+strconv.Itoa(sk.Line))
	}
	wantSkips := []string{
		"SSPR_*@6", "tok@7", "y@13", "@14", "semi;colon@15", "@16", "_ga@17", "w@20", "@21",
	}
	if !reflect.DeepEqual(gotSkips, wantSkips) {
		t.Errorf("skipped %v\nwant    %v\n%+v", gotSkips, wantSkips, im.Skipped)
	}
	for _, sk := range im.Skipped {
		if sk.Name == "tok" && !strings.Contains(sk.Reason, "kept the more restrictive advertising") {
			t.Errorf("conflict reason %q", sk.Reason)
		}
	}
	layer, err := Parse("quirks.yaml", im.YAML)
	if err != nil {
		t.Fatalf("generated file: %v\n%s", err, im.YAML)
	}
	var rules []string
	for _, c := range layer.Cookies {
		rules = append(rules, strings.Join(c.Names, ",")+" "+string(c.Category)+" "+c.Vendor+" "+strings.Join(c.Domains, ",")+" "+c.Source)
	}
	wantRules := []string{
		"_ga analytics google-analytics  OCD r2",
		"_ga_* analytics google-analytics  OCD r3",
		"ce_need analytics crazy-egg  OCD r4",
		"ab functional loggly  OCD r5",
		"tok advertising acme-ads acme.example OCD r8",
		"guard essential acme acme.example OCD r9",
		"x advertising acme  OCD r10",
		"pref functional acme  OCD r11",
		"sess essential acme  OCD r12",
		"wild* analytics acme  OCD r18",
		"orphan analytics   OCD r19",
		"after analytics acme  OCD r22",
	}
	if !reflect.DeepEqual(rules, wantRules) {
		t.Errorf("rules:\n%s\nwant:\n%s", strings.Join(rules, "\n"), strings.Join(wantRules, "\n"))
	}
	var vendors []string
	for _, v := range layer.Vendors {
		vendors = append(vendors, v.ID+"="+v.Name)
	}
	if want := []string{"acme=Acme", "acme-ads=Acme Ads", "crazy-egg=Crazy Egg", "google-analytics=Google Analytics", "loggly=Loggly"}; !reflect.DeepEqual(vendors, want) {
		t.Errorf("vendors %v, want %v", vendors, want)
	}
	if !strings.Contains(string(im.YAML), "clean host name") || !strings.HasPrefix(string(im.YAML), "# Generated by") {
		t.Errorf("header comment missing:\n%s", im.YAML[:200])
	}
}

func TestImportOCDBadHeader(t *testing.T) {
	for _, in := range []string{"", "a,b,c\n", strings.Replace(strings.Join(ocdColumns(), ","), "Domain", "Host", 1) + "\n"} {
		if _, err := ImportOCD(strings.NewReader(in), "x.csv"); err == nil {
			t.Errorf("ImportOCD(%q) accepted a file that is not the OCD", in)
		}
	}
}
