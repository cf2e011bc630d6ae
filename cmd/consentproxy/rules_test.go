package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/consentproxy/consentproxy/rules"
)

// runRulesCLI runs the real CLI in-process and returns stdout, stderr and the
// exit status main would use.
func runRulesCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	e := env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb}
	err := run(context.Background(), e, args)
	code = report(&errb, err)
	return out.String(), errb.String(), code
}

func writeRulesTestFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// acmeRulesYAML is a user rules file that does not depend on the built-in
// vendor data.
const acmeRulesYAML = `version: 1
vendors:
  - id: acme-ads
    name: Acme Ads
    services:
      - name: pixel
        category: advertising
        kind: pixel
        hosts: [px.acme-ads.example]
        paths: [/t]
      - name: tag
        category: analytics
        kind: script
        hosts: [acme-ads.example]
cookies:
  - names: [acme_uid, "acme_s_*"]
    category: advertising
    vendor: acme-ads
profiles:
  - name: acme-ok
    vendors: {acme-ads: allow}
`

func TestRulesCheck(t *testing.T) {
	dir := t.TempDir()
	good := writeRulesTestFile(t, dir, "good.yaml", acmeRulesYAML)
	// A second file may use what the first defines.
	more := writeRulesTestFile(t, dir, "more.yaml", "version: 1\ncookies:\n  - {names: [acme_x], category: marketing, vendor: acme-ads}\n")

	out, errOut, code := runRulesCLI(t, "rules", "check")
	if code != 0 || !strings.HasPrefix(out, "ok: the built-in rules:") || errOut != "" {
		t.Errorf("rules check (built-in): code %d\nstdout %q\nstderr %q", code, out, errOut)
	}
	out, errOut, code = runRulesCLI(t, "rules", "check", good, more)
	if code != 0 || !strings.Contains(out, "good.yaml, "+more+" (over the built-in rules)") {
		t.Errorf("rules check good more: code %d\nstdout %q\nstderr %q", code, out, errOut)
	}

	bad1 := writeRulesTestFile(t, dir, "bad1.yaml", "version: 1\nvendors:\n  - id: x\n    services:\n      - {name: s, category: analytics, kind: iframe, hosts: [Example.com]}\n")
	bad2 := writeRulesTestFile(t, dir, "bad2.yaml", "version: 1\nprofiles:\n  - name: p\n    allow: [analytcs]\n")
	out, errOut, code = runRulesCLI(t, "rules", "check", bad1, good, bad2)
	if code != 1 || out != "" {
		t.Errorf("rules check with errors: code %d, stdout %q", code, out)
	}
	want := []string{
		bad1 + `:5: unknown kind "iframe" (did you mean "frame"?)`,
		bad1 + `:5: host pattern "Example.com" must be lower-case`,
		"rules check: 2 problems",
	}
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	if len(lines) != len(want) {
		t.Fatalf("stderr:\n%s\nwant %d lines", errOut, len(want))
	}
	for i := range want {
		if !strings.HasPrefix(lines[i], want[i]) {
			t.Errorf("stderr line %d = %q, want prefix %q", i, lines[i], want[i])
		}
	}
	// Once every file parses, reference errors are listed too.
	_, errOut, code = runRulesCLI(t, "rules", "check", good, bad2)
	if code != 1 || !strings.Contains(errOut, bad2+`:3: profile "p": unknown category "analytcs" (did you mean "analytics"?)`) {
		t.Errorf("reference error: code %d, stderr %q", code, errOut)
	}
	_, errOut, code = runRulesCLI(t, "rules", "check", filepath.Join(dir, "missing.yaml"))
	if code != 1 || !strings.Contains(errOut, "missing.yaml: no such file") {
		t.Errorf("missing file: code %d, stderr %q", code, errOut)
	}
}

func TestRulesExplainText(t *testing.T) {
	rulesFile := writeRulesTestFile(t, t.TempDir(), "acme.yaml", acmeRulesYAML)
	out, errOut, code := runRulesCLI(t, "rules", "explain", "--rules", rulesFile, "--cookie", "acme_uid", "--cookie", "acme_s_42",
		"--cookie", "theme", "https://px.acme-ads.example/t?uid=SECRET&x=1", "--dest", "image")
	if code != 0 {
		t.Fatalf("code %d, stderr %q", code, errOut)
	}
	for _, want := range []string{
		"request   px.acme-ads.example/t (dest image, third-party)",
		"profile   reject-all (builtin/profiles.yaml:",
		"action    block-image",
		"category  advertising",
		"vendor    acme-ads (Acme Ads), service pixel, kind pixel",
		"rule      " + rulesFile + ":6",
		"reason    advertising is refused by profile reject-all (on_denied: block)",
		"acme_uid   strip  advertising  acme-ads  " + rulesFile + ":16  the request is blocked",
		"acme_s_42  strip  advertising  acme-ads  " + rulesFile + ":16",
		"theme      strip  advertising  acme-ads  " + rulesFile + ":6",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "SECRET") || strings.Contains(out, "uid=") {
		t.Errorf("the query string leaked into the output:\n%s", out)
	}
}

func TestRulesExplainJSON(t *testing.T) {
	rulesFile := writeRulesTestFile(t, t.TempDir(), "acme.yaml", acmeRulesYAML)
	out, errOut, code := runRulesCLI(t, "rules", "explain", "--json", "--rules", rulesFile, "--profile", "acme-ok",
		"--cookie", "acme_uid", "--cookie", "other", "px.acme-ads.example/t/x")
	if code != 0 {
		t.Fatalf("code %d, stderr %q", code, errOut)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	want := map[string]any{
		"schema": 1.0, "host": "px.acme-ads.example", "path": "/t/x", "dest": "unknown", "context": "third-party", "site": "",
		"profile": "acme-ok", "profile_origin": rulesFile + ":20", "action": "allow", "matched": true,
		"category": "advertising", "vendor": "acme-ads", "vendor_name": "Acme Ads", "service": "pixel", "kind": "pixel",
		"origin": rulesFile + ":6", "reason": "vendor acme-ads is allowed by an override in profile acme-ok",
		"cookies": []any{
			map[string]any{"name": "acme_uid", "verdict": "keep", "known": true, "category": "advertising", "vendor": "acme-ads",
				"origin": rulesFile + ":16", "reason": "vendor acme-ads is allowed by an override in profile acme-ok"},
			map[string]any{"name": "other", "verdict": "keep", "known": false, "category": "advertising", "vendor": "acme-ads",
				"origin": rulesFile + ":6", "reason": "unknown cookie on a tracker request takes its category: vendor acme-ads is allowed by an override in profile acme-ok"},
		},
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", "  ")
		w, _ := json.MarshalIndent(want, "", "  ")
		t.Errorf("JSON:\n%s\nwant:\n%s", g, w)
	}
	// Every field of the schema is present even when nothing matched.
	out, _, _ = runRulesCLI(t, "rules", "explain", "--json", "https://www.example.org/")
	var unmatched map[string]any
	if err := json.Unmarshal([]byte(out), &unmatched); err != nil {
		t.Fatal(err)
	}
	for k := range want {
		if _, ok := unmatched[k]; !ok {
			t.Errorf("unmatched explanation lacks %q", k)
		}
	}
	if unmatched["cookies"] == nil {
		t.Error(`"cookies" is null, want []`)
	}
}

func TestRulesExplainContext(t *testing.T) {
	rulesFile := writeRulesTestFile(t, t.TempDir(), "acme.yaml", acmeRulesYAML)
	for _, tc := range []struct {
		args         []string
		context, act string
	}{
		{nil, "third-party", "block-empty"},
		{[]string{"--site", "https://shop.example/cart"}, "third-party", "block-empty"},
		{[]string{"--site", "www.acme-ads.example"}, "first-party", "allow"},
		{[]string{"--dest", "document"}, "top-level", "allow"},
		{[]string{"--dest", "iframe"}, "third-party", "block-empty"},
		{[]string{"--dest", "image"}, "third-party", "block-image"},
	} {
		args := append([]string{"rules", "explain", "--json", "--rules", rulesFile}, tc.args...)
		out, errOut, code := runRulesCLI(t, append(args, "https://cdn.acme-ads.example/tag.js")...)
		var ex rules.Explanation
		if code != 0 || json.Unmarshal([]byte(out), &ex) != nil {
			t.Fatalf("%v: code %d, stderr %q", tc.args, code, errOut)
		}
		if ex.Context != tc.context || ex.Action != tc.act {
			t.Errorf("%v: %s %s, want %s %s", tc.args, ex.Context, ex.Action, tc.context, tc.act)
		}
	}
}

func TestRulesUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"rules"}, "no subcommand"},
		{[]string{"rules", "lint"}, `unknown subcommand "lint"`},
		{[]string{"rules", "explain"}, "want exactly one URL"},
		{[]string{"rules", "explain", "a.example", "b.example"}, "want exactly one URL, got 2"},
		{[]string{"rules", "explain", "--profile", "rejectall", "a.example"}, `unknown profile "rejectall"; profiles: accept-all, analytics-only, reject-all`},
		{[]string{"rules", "explain", "--dest", "picture", "a.example"}, `unknown --dest "picture"`},
		{[]string{"rules", "explain", "--nope", "a.example"}, "flag provided but not defined: -nope"},
		{[]string{"rules", "explain", "http://"}, "has no host"},
		{[]string{"rules", "import-ocd"}, "want exactly one CSV file"},
	} {
		_, errOut, code := runRulesCLI(t, tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: code %d, stderr %q, want 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
	out, _, code := runRulesCLI(t, "rules", "explain", "-h")
	if code != 0 || !strings.Contains(out, "usage: consentproxy rules explain") || !strings.Contains(out, "-profile") {
		t.Errorf("-h: code %d, stdout %q; want 0 and the usage with its flags", code, out)
	}
	out, _, code = runRulesCLI(t, "rules", "help")
	if code != 0 || !strings.Contains(out, "import-ocd") {
		t.Errorf("rules help: code %d, %q", code, out)
	}
}

func TestRulesImportOCD(t *testing.T) {
	dir := t.TempDir()
	csv := writeRulesTestFile(t, dir, "ocd.csv", strings.Join([]string{
		"ID,Platform,Category,Cookie / Data Key name,Domain,Description,Retention period,Data Controller,User Privacy & GDPR Rights Portals,Wildcard match",
		`a1,Google Analytics,Analytics,_ga,,"ID, used",2 years,Google,https://policies.google.com/privacy,0`,
		`a2,Google Analytics,Analytics,_ga_,,ID,2 years,Google,https://policies.google.com/privacy,1`,
		`a3,Acme,Marketing,acme*,,x,1 year,Acme,,0`,
		`a4,CreativeCDN,Marketing,c,creativecdn.com,x,1 year,RTB House,,0`,
	}, "\n")+"\n")
	outFile := filepath.Join(dir, "ocd.yaml")
	out, errOut, code := runRulesCLI(t, "rules", "import-ocd", "-o", outFile, csv)
	if code != 0 || out != "" {
		t.Fatalf("import-ocd: code %d\nstdout %q\nstderr %q", code, out, errOut)
	}
	for _, want := range []string{
		csv + `:4: skipped "acme*": the name contains '*' but the row is not a wildcard row`,
		"rules import-ocd: 4 rows: 3 cookie rules (1 scoped to their Domain), 2 vendors; 1 rows skipped",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if out, errOut, code := runRulesCLI(t, "rules", "check", outFile); code != 0 {
		t.Errorf("the imported file does not check: %s%s", out, errOut)
	}
	out, _, code = runRulesCLI(t, "rules", "explain", "--json", "--rules", outFile, "--cookie", "_ga_XYZ", "--cookie", "c", "https://shop.example/")
	var ex rules.Explanation
	if code != 0 || json.Unmarshal([]byte(out), &ex) != nil || len(ex.Cookies) != 2 {
		t.Fatalf("explain over the import: code %d %s", code, out)
	}
	if c := ex.Cookies[0]; c.Category != "analytics" || c.Verdict != "strip" || c.Origin == "" {
		t.Errorf("_ga_XYZ: %+v", c)
	}
	if c := ex.Cookies[1]; c.Known || c.Verdict != "keep" {
		t.Errorf("c outside creativecdn.com: %+v", c)
	}
	// Without -o the rules file goes to stdout.
	out, _, code = runRulesCLI(t, "rules", "import-ocd", csv)
	if code != 0 || !strings.HasPrefix(out, "# Generated by `consentproxy rules import-ocd` from ocd.csv") || !strings.Contains(out, "version: 1") {
		t.Errorf("stdout import: code %d\n%s", code, out)
	}
}

// TestRulesImportFullOCD converts the real Open Cookie Database and checks
// and explains over it.
func TestRulesImportFullOCD(t *testing.T) {
	csv := filepath.Join(rulesSharedDir(t), "data", "open-cookie-database", "open-cookie-database.csv")
	outFile := filepath.Join(t.TempDir(), "ocd.yaml")
	_, errOut, code := runRulesCLI(t, "rules", "import-ocd", "-o", outFile, csv)
	if code != 0 || !strings.Contains(errOut, "2264 rows") {
		t.Fatalf("import: code %d\n%s", code, errOut)
	}
	out, errOut, code := runRulesCLI(t, "rules", "check", outFile)
	if code != 0 {
		t.Fatalf("check: %s%s", out, errOut)
	}
	out, _, _ = runRulesCLI(t, "rules", "explain", "--json", "--rules", outFile, "--cookie", "_ga", "--cookie", "_fbp", "https://shop.example/")
	var ex rules.Explanation
	if err := json.Unmarshal([]byte(out), &ex); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, c := range ex.Cookies {
		got[c.Name] = c.Category
	}
	if !reflect.DeepEqual(got, map[string]string{"_ga": "analytics", "_fbp": "advertising"}) {
		t.Errorf("categories %v", got)
	}
}

// rulesSharedDir returns ../shared beside the repository root; see HELPERS.md.
func rulesSharedDir(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's working directory")
		}
		dir = parent
	}
	shared := filepath.Join(dir, "..", "shared")
	if _, err := os.Stat(shared); err != nil {
		if os.Getenv("CONSENTPROXY_REQUIRE_SHARED") == "1" {
			t.Fatalf("shared test data: %v", err)
		}
		t.Skipf("shared test data not found at %s (set CONSENTPROXY_REQUIRE_SHARED=1 to make this a failure)", shared)
	}
	return shared
}
