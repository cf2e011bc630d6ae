package proxy

import (
	"crypto/rand"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/consentproxy/consentproxy/config"
	"github.com/consentproxy/consentproxy/rules"
	"github.com/consentproxy/consentproxy/rules/consent"
)

// builtinConsentCookies are the cookies the built-in profiles' consent_state
// writes (all four formats, default names).
var builtinConsentCookies = []string{"OptanonConsent", "OptanonAlertBoxClosed", "CookieConsent", "euconsent-v2", "__gpp", "__gpp_sid"}

// plusConsent adds the built-in consent cookies to a sorted, comma-joined
// list of cookie names (as setCookieNames and fakeWeb report them).
func plusConsent(names string) string {
	list := append(strings.Split(names, ","), builtinConsentCookies...)
	slices.Sort(list)
	return strings.Join(list, ",")
}

// testSnapshotConsent compiles the built-in rules with extra config
// profiles (a config file's text) and builds their consent state.
func testSnapshotConsent(t testing.TB, yaml string) (*rules.Set, *snapshotConsent) {
	t.Helper()
	cfg := config.Default()
	if yaml != "" {
		fc, err := config.Parse("config.yaml", []byte(yaml))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Profiles = fc.Profiles
	}
	set, err := BuildRules(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return set, newSnapshotConsent(set, true)
}

func profileConsentOf(t testing.TB, set *rules.Set, sc *snapshotConsent, name string) *profileConsent {
	t.Helper()
	p, ok := set.Profile(name)
	if !ok {
		t.Fatalf("no profile %s", name)
	}
	return sc.profiles[p]
}

// The plan read off the day's cookies is exactly consent.State.Plan's, for
// every mix of missing cookies, our values and other values (another
// profile's choice, OneTrust's pre-click defaults, garbage), with and
// without enforce.
func TestConsentPlanMatchesPlan(t *testing.T) {
	set, sc := testSnapshotConsent(t, `
profiles:
  - name: analytics-enforced
    allow: [analytics]
    consent_state:
      formats: [onetrust, cookiebot, tcf, gpp]
      enforce: true
`)
	now := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	env := consent.Env{Now: now, Rand: rand.Reader}
	accept := profileConsentOf(t, set, sc, "accept-all")
	others, err := accept.state.Cookies("shop.test", env)
	if err != nil {
		t.Fatal(err)
	}
	otherValue := map[string]string{}
	for _, c := range others {
		otherValue[c.Name] = c.Value
	}
	// OneTrust before any click: no choice.
	otherValue["pre-click"] = "isGpcEnabled=0&interactionCount=0&groups=C0001%3A1%2CC0002%3A0"

	for _, profile := range []string{"analytics-only", "analytics-enforced", "reject-all"} {
		pc := profileConsentOf(t, set, sc, profile)
		d := pc.today("www.shop.test", now, zap.NewNop())
		if len(d.cookies) != 6 {
			t.Fatalf("%s: %d cookies", profile, len(d.cookies))
		}
		// Each cookie: 0 missing, 1 ours, 2 another choice, 3 garbage (4
		// for OptanonConsent: OneTrust's pre-click value).
		states := []int{5, 3, 4, 4, 4, 3}
		var combos, slow int
		var walk func(i int, jar consentJar)
		walk = func(i int, jar consentJar) {
			if i == len(d.cookies) {
				combos++
				want, err := pc.state.Plan(d.site, jar.lookup(d), env)
				if err != nil {
					t.Fatal(err)
				}
				var wantMask uint64
				for _, w := range want {
					wantMask |= 1 << d.index(w.Name)
					if _, present := jar.lookup(d)(w.Name); w.Replace != present {
						t.Fatalf("Plan's Replace=%v for %s present=%v", w.Replace, w.Name, present)
					}
				}
				sc.plans.Purge()
				if got := sc.plan(pc, d, &jar, now, zap.NewNop()); got != wantMask {
					t.Errorf("%s: jar %v: plan %06b, Plan %06b", profile, describeJar(d, &jar), got, wantMask)
				}
				if sc.plans.Len() > 0 {
					slow++
					// Again, from the cache.
					if got := sc.plan(pc, d, &jar, now, zap.NewNop()); got != wantMask {
						t.Errorf("%s: jar %v: cached plan %06b, Plan %06b", profile, describeJar(d, &jar), got, wantMask)
					}
				}
				return
			}
			for s := 0; s < states[i]; s++ {
				j := jar
				name := d.cookies[i].Name
				switch s {
				case 0:
					walk(i+1, j)
					continue
				case 1:
					j.values[i] = d.cookies[i].Value
				case 2:
					j.values[i] = otherValue[name]
				case 3:
					j.values[i] = "x%zz"
				case 4:
					j.values[i] = otherValue["pre-click"]
				}
				j.present |= 1 << i
				walk(i+1, j)
			}
		}
		walk(0, consentJar{})
		t.Logf("%s: %d jars, %d through Plan", profile, combos, slow)
		if combos < 500 || slow == 0 || slow == combos {
			t.Errorf("%s: %d jars, %d through Plan: the walk does not cover both paths", profile, combos, slow)
		}
	}
}

func describeJar(d *consentDay, j *consentJar) []string {
	var out []string
	for i, c := range d.cookies {
		switch {
		case j.present&(1<<i) == 0:
			out = append(out, c.Name+":missing")
		case j.values[i] == c.Value:
			out = append(out, c.Name+":ours")
		default:
			out = append(out, c.Name+":other")
		}
	}
	return out
}

// Cookie values are built once per site and UTC day; yesterday's values in
// the browser are the same choice (nothing written) and are judged once.
func TestConsentDays(t *testing.T) {
	set, sc := testSnapshotConsent(t, "")
	pc := profileConsentOf(t, set, sc, "analytics-only")
	log := zap.NewNop()
	day1 := time.Date(2026, 3, 4, 23, 59, 0, 0, time.UTC)
	d1 := pc.today("www.shop.test", day1, log)
	if again := pc.today("shop.test", day1.Add(30*time.Second), log); again != d1 {
		t.Error("the same site and day built its cookies twice")
	}
	if other := pc.today("other.test", day1, log); other == d1 || other.site != "other.test" {
		t.Error("another site shares the cookies")
	}
	d2 := pc.today("static.shop.test", day1.Add(2*time.Minute), log)
	if d2 == d1 || d2.day != d1.day+1 || d2.cookies[0].Value == d1.cookies[0].Value {
		t.Fatal("a new UTC day did not build new cookies")
	}
	var yesterday consentJar
	for i, c := range d1.cookies {
		yesterday.present |= 1 << i
		yesterday.values[i] = c.Value
	}
	for range 3 {
		if w := sc.plan(pc, d2, &yesterday, day1.Add(2*time.Minute), log); w != 0 {
			t.Errorf("yesterday's cookies: writes %06b, want none (same choice)", w)
		}
	}
	if n := sc.plans.Len(); n != 1 {
		t.Errorf("%d cached plans, want 1", n)
	}
}

// The hosts a profile remembers are bounded.
func TestConsentHostsBounded(t *testing.T) {
	set, sc := testSnapshotConsent(t, "")
	pc := profileConsentOf(t, set, sc, "reject-all")
	for i := range consentHostsMax + 100 {
		pc.entry("h" + strconv.Itoa(i) + ".example.com")
	}
	n := 0
	pc.hosts.Range(func(any, any) bool { n++; return true })
	if n > consentHostsMax || pc.count.Load() > consentHostsMax {
		t.Errorf("%d hosts remembered (count %d), want at most %d", n, pc.count.Load(), consentHostsMax)
	}
}

func TestConsentRewrite(t *testing.T) {
	d := &consentDay{cookies: []consent.Cookie{
		{Name: "OptanonConsent", Value: "OT"}, {Name: "OptanonAlertBoxClosed", Value: "AB"}, {Name: "euconsent-v2", Value: "TC"},
	}}
	tests := []struct {
		lines  []string
		writes uint64
		want   string
	}{
		{nil, 0b111, "OptanonConsent=OT; OptanonAlertBoxClosed=AB; euconsent-v2=TC"},
		{[]string{"a=1;b=2 ;  c=3"}, 0b100, "a=1; b=2; c=3; euconsent-v2=TC"},
		{[]string{"a=1; OptanonConsent=old; b=2"}, 0b001, "a=1; OptanonConsent=OT; b=2"},
		{[]string{"OptanonConsent=old1; a=1; OptanonConsent=old2"}, 0b011, "OptanonConsent=OT; a=1; OptanonAlertBoxClosed=AB"},
		{[]string{"a=1", "euconsent-v2=x; b=2"}, 0b100, "a=1; euconsent-v2=TC; b=2"},
		{[]string{"flag; =v; a= spaced value ;;"}, 0b010, "flag; =v; a= spaced value; OptanonAlertBoxClosed=AB"},
		// A pair the plan keeps (not written) stays as it was.
		{[]string{"OptanonConsent=theirs; euconsent-v2=old"}, 0b100, "OptanonConsent=theirs; euconsent-v2=TC"},
	}
	for _, tt := range tests {
		if got := d.rewrite(tt.lines, tt.writes); got != tt.want {
			t.Errorf("rewrite(%q, %03b) = %q, want %q", tt.lines, tt.writes, got, tt.want)
		}
	}
	j := d.read([]string{"x=1; euconsent-v2 = tc1 ; euconsent-v2=tc2", "OptanonConsent=a=b"})
	if j.present != 0b101 || j.values[2] != "tc1" || j.values[0] != "a=b" {
		t.Errorf("read: present %03b values %q", j.present, j.values)
	}
}

func TestSignalValues(t *testing.T) {
	tests := []struct {
		raw  string
		want map[string]string
	}{
		{"v=2&tid=G-1&en=page_view", nil},
		{"", nil},
		{"v=2&gcs=G111&gcd=13l3l3l3l1&npa=0", map[string]string{"gcs": "G111", "gcd": "13l3l3l3l1", "npa": "0"}},
		{"gcs=G100&gcs=G111", map[string]string{"gcs": "G100"}},
		{"xgcs=G111&gcsx=1&gdpr_consentx=1", nil},
		{"%67cs=G111&gdpr=1&gdpr_consent=CQ%2Babc&gpp=DBA~CQ&gpp_sid=2", map[string]string{"gcs": "G111", "gdpr": "1", "gdpr_consent": "CQ%2Babc", "gpp": "DBA~CQ", "gpp_sid": "2"}},
		{"gcs", map[string]string{"gcs": ""}},
	}
	for _, tt := range tests {
		vals, found := signalValues(tt.raw)
		got := map[string]string{}
		for i, p := range signalParams {
			if found&(1<<i) != 0 {
				got[p] = vals[i]
			}
		}
		if len(got) == 0 {
			got = nil
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("signalValues(%q) = %v, want %v", tt.raw, got, tt.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { signalValues("v=2&tid=G-1&_p=123&cid=1.2&ul=en-us&sr=1920x1080&en=page_view") }); n != 0 {
		t.Errorf("signalValues allocates %v times on a query without signals", n)
	}
}

func TestIsHTML(t *testing.T) {
	for ct, want := range map[string]bool{
		"text/html": true, "text/html; charset=utf-8": true, "TEXT/HTML;charset=UTF-8": true, " text/html": true,
		"text/htmlx": false, "application/xhtml+xml": false, "text/plain": false, "": false, "application/json": false,
	} {
		if got := isHTML(ct); got != want {
			t.Errorf("isHTML(%q) = %v, want %v", ct, got, want)
		}
	}
}

// The built-in consent-record names are essential by their own rules
// (rules/builtin/cmp.yaml), not only because a profile writes them.
func TestBuiltinCMPCookiesEssential(t *testing.T) {
	b, err := rules.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	set, err := rules.Compile(b)
	if err != nil {
		t.Fatal(err)
	}
	reject, _ := set.Profile("reject-all")
	for _, tt := range []struct{ name, host string }{
		{"OptanonConsent", "www.shop.test"}, {"OptanonAlertBoxClosed", "shop.test"}, {"OptanonControl", "shop.test"},
		{"CookieConsent", "shop.test"}, {"CookieConsentBulkSetting-1234", "shop.test"}, {"CookieConsentBulkTicket", "consent.cookiebot.com"},
		{"euconsent-v2", "www.facebook.com"}, {"__gpp", "shop.test"}, {"__gpp_sid", "shop.test"},
	} {
		for _, ctx := range []rules.Context{rules.TopLevel, rules.ThirdParty} {
			r := rules.Request{Host: tt.host, Path: "/", Context: ctx}
			v := set.JudgeCookie(reject, r, set.Decide(reject, r), tt.name)
			if !v.Known || v.Category != rules.Essential || !strings.HasPrefix(v.Origin.String(), "builtin/cmp.yaml:") {
				t.Errorf("%s on %s (%v): known=%v %q %s, want essential from builtin/cmp.yaml", tt.name, tt.host, ctx, v.Known, v.Category, v.Origin)
			}
		}
	}
}

// The fake CMP page's script (testdata/cmp/cmp.js, for browser tests)
// reads what the proxy writes: no banner and analytics tags only under
// analytics-only, from OptanonConsent or from the TC string alone. Needs
// Node; skipped without it.
func TestFakeCMPScript(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed: the fake CMP script is not checked")
	}
	set, sc := testSnapshotConsent(t, "")
	cookies := func(profile string, names ...string) string {
		d := profileConsentOf(t, set, sc, profile).today("shop.test", time.Now(), zap.NewNop())
		var parts []string
		for _, c := range d.cookies {
			if slices.Contains(names, c.Name) {
				parts = append(parts, c.Name+"="+c.Value)
			}
		}
		return strings.Join(parts, "; ")
	}
	tests := []struct {
		cookie string
		want   string
	}{
		{"", `{"source":"none","banner":true,"analytics":false,"advertising":false}`},
		{cookies("analytics-only", builtinConsentCookies...), `{"source":"onetrust","banner":false,"analytics":true,"advertising":false}`},
		{cookies("analytics-only", "euconsent-v2"), `{"source":"tcf","banner":false,"analytics":true,"advertising":false}`},
		{cookies("reject-all", builtinConsentCookies...), `{"source":"onetrust","banner":false,"analytics":false,"advertising":false}`},
		{cookies("accept-all", "euconsent-v2"), `{"source":"tcf","banner":false,"analytics":true,"advertising":true}`},
		{"OptanonConsent=isGpcEnabled=0&interactionCount=0&groups=C0001%3A1%2CC0002%3A1", `{"source":"none","banner":true,"analytics":false,"advertising":false}`},
	}
	for _, tt := range tests {
		script := "const c = require(process.argv[1]); process.stdout.write(JSON.stringify(c.decide(process.argv[2])));"
		out, err := exec.Command(node, "-e", script, "--", mustAbs(t, "testdata/cmp/cmp.js"), tt.cookie).CombinedOutput()
		if err != nil {
			t.Fatalf("node: %v\n%s", err, out)
		}
		if string(out) != tt.want {
			t.Errorf("decide(%.60q...) = %s, want %s", tt.cookie, out, tt.want)
		}
	}
}

func mustAbs(t testing.TB, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// BuildRules keeps every consent cookie a profile writes essential, even
// one a rules file files under another category, and scopes a site's own
// names to that site.
func TestConsentCookieLayer(t *testing.T) {
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "mine.yaml")
	if err := writeFile(rulesFile, "version: 1\ncookies:\n  - names: [euconsent-v2, qa_tc]\n    category: advertising\n    source: test\n"); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Rules = []string{rulesFile}
	fc, err := config.Parse("config.yaml", []byte(`
profiles:
  - name: qa
    allow: []
    consent_state:
      formats: [tcf]
      tcf: {cookie: qa_tc}
      sites:
        shop.test:
          tcf: {cookie: shop_tc}
`))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Profiles = fc.Profiles
	set, err := BuildRules(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := set.Profile("reject-all")
	tests := []struct {
		name, host string
		essential  bool
	}{
		{"euconsent-v2", "news.example", true}, // the built-in profiles write it
		{"qa_tc", "news.example", true},
		{"shop_tc", "www.shop.test", true},
		{"shop_tc", "news.example", false}, // unknown elsewhere
		{"OptanonConsent", "news.example", true},
	}
	for _, tt := range tests {
		r := rules.Request{Host: tt.host, Path: "/", Context: rules.FirstParty}
		v := set.JudgeCookie(p, r, set.Decide(p, r), tt.name)
		if got := v.Known && v.Category == rules.Essential; got != tt.essential {
			t.Errorf("%s on %s: known=%v %q (%s), want essential %v", tt.name, tt.host, v.Known, v.Category, v.Origin, tt.essential)
		}
	}
	// Nothing to add with the built-in rules alone: the layer is empty.
	b, _ := BuildRules(config.Default())
	if l := consentCookieLayer(b); l != nil {
		t.Errorf("built-in rules need an extra layer: %+v", l.Cookies)
	}
}
