package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/consentproxy/consentproxy/rules/consent"
)

func TestConsentEncode(t *testing.T) {
	out, errOut, code := runRulesCLI(t, "consent", "encode", "--profile", "analytics-only", "--format", "tcf", "--site", "https://www.shop.example/cart", "--json")
	if code != 0 {
		t.Fatalf("code %d, stderr %s", code, errOut)
	}
	var got struct {
		Schema  int    `json:"schema"`
		Profile string `json:"profile"`
		Site    string `json:"site"`
		Written bool   `json:"written"`
		Cookies []struct {
			Name, Value, Format string
			SetCookie           string `json:"set_cookie"`
		} `json:"cookies"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got.Schema != 1 || got.Profile != "analytics-only" || got.Site != "shop.example" || !got.Written || len(got.Cookies) != 1 {
		t.Fatalf("output %+v", got)
	}
	c := got.Cookies[0]
	if c.Name != "euconsent-v2" || c.Format != "tcf" || !strings.Contains(c.SetCookie, "; Domain=shop.example;") {
		t.Errorf("cookie %+v", c)
	}
	tc, err := consent.DecodeTC(c.Value)
	if err != nil {
		t.Fatal(err)
	}
	if consent.FormatIDs(tc.PurposesConsent) != "1,8-10" {
		t.Errorf("purposes %v, want 1,8-10", tc.PurposesConsent)
	}

	out, _, code = runRulesCLI(t, "consent", "encode")
	for _, want := range []string{"profile reject-all on every site", "OptanonConsent (onetrust)", "CookieConsent (cookiebot)", "euconsent-v2 (tcf)", "__gpp (gpp)", "__gpp_sid (gpp)", "a choice already in the browser is kept"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("consent encode (defaults): code %d, no %q in\n%s", code, want, out)
		}
	}
}

func TestConsentEncodeConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := writeRulesTestFile(t, dir, "c.yaml", `profile: qa
profiles:
  - name: qa
    allow: [analytics]
    consent_state:
      formats: [onetrust]
      enforce: true
      sites:
        shop.example:
          onetrust:
            groups: {analytics: C0007}
  - name: bare
    allow: [analytics]
`)
	out, errOut, code := runRulesCLI(t, "consent", "encode", "--config", cfg, "--site", "shop.example")
	if code != 0 {
		t.Fatalf("code %d: %s", code, errOut)
	}
	for _, want := range []string{"profile qa on shop.example", "groups C0001:1,C0003:0,C0004:0,C0005:0,C0007:1", "is replaced (enforce: true)"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "euconsent-v2") {
		t.Errorf("formats: [onetrust] wrote a TC string:\n%s", out)
	}
	out, errOut, code = runRulesCLI(t, "consent", "encode", "--config", cfg, "--profile", "bare", "--format", "cookiebot")
	if code != 0 || !strings.Contains(errOut, "profile bare has no consent_state") || !strings.Contains(out, "the proxy writes none of these") ||
		!strings.Contains(out, "statistics true") {
		t.Errorf("bare: code %d\nstdout %s\nstderr %s", code, out, errOut)
	}

	bad := writeRulesTestFile(t, dir, "bad.yaml", `profiles:
  - name: qa
    consent_state:
      formats: [onetrust]
      onetrust:
        groups: {analytix: C0002}
`)
	_, errOut, code = runRulesCLI(t, "consent", "encode", "--config", bad, "--profile", "qa")
	if code != 2 || !strings.Contains(errOut, bad+`:6: profile "qa" consent_state onetrust.groups: unknown category "analytix" (did you mean "analytics"?)`) {
		t.Errorf("bad config: code %d, stderr %s", code, errOut)
	}
	worse := writeRulesTestFile(t, dir, "worse.yaml", "profiles:\n  - name: qa\n    consent_state:\n      tcf: {cmp_id: 1}\n")
	_, errOut, code = runRulesCLI(t, "consent", "encode", "--config", worse)
	if code != 2 || !strings.Contains(errOut, "worse.yaml:4: profiles[0].consent_state.tcf.cmp_id: 1 must be from 2 to 4095") {
		t.Errorf("worse config: code %d, stderr %s", code, errOut)
	}
}

func TestConsentEncodeUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"consent", "encode", "--format", "didomi"}, `unknown --format "didomi"`},
		{[]string{"consent", "encode", "--profile", "nope"}, `unknown profile "nope"`},
		{[]string{"consent", "encode", "extra"}, `unexpected argument "extra"`},
		{[]string{"consent"}, "no subcommand"},
		{[]string{"consent", "frobnicate"}, `unknown subcommand "frobnicate"`},
		{[]string{"consent", "decode"}, "want exactly one value"},
	} {
		_, errOut, code := runRulesCLI(t, tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: code %d, stderr %q; want 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
}

func TestConsentDecode(t *testing.T) {
	tests := []struct {
		value string
		want  []string
	}{
		{"COtybn4PA_zT4KjACBENAPCIAEBAAECAAIAAAAAAAAAA", []string{"TC string (IAB TCF v2)", "id 675, version 2, consent screen 1", "2 Use limited data to select advertising", "purposes LI             2,9", "publisher country       AA"}},
		{"DBABMA~CPSG_8APSG_8ANwAAAENAwCAAAAAAAAAAAAAAAAAAAAA.QAAA.IAAA", []string{"GPP string", "section 2", "tcfeuv2", "  cmp"}},
		{"G101", []string{"ad_storage", "denied", "analytics_storage  granted"}},
		{"13l3l3l3l1", []string{"ad_personalization", "not set (l: default -, update -)", "133331 (not decoded)"}},
		{"OptanonConsent=isGpcEnabled=0&version=6.34.0&interactionCount=1&groups=C0001%3A1%2CC0002%3A0", []string{"OptanonConsent (OneTrust)", "group C0001  granted", "group C0002  refused"}},
		{"{stamp:%27-1%27%2Cnecessary:true%2Cpreferences:true%2Cstatistics:false%2Cmarketing:false%2Cmethod:%27implied%27%2Cver:1%2Cutc:1695456095624%2Cregion:%27CN%27}", []string{"CookieConsent (Cookiebot)", "statistics   false", "method       implied"}},
	}
	for _, tc := range tests {
		out, errOut, code := runRulesCLI(t, "consent", "decode", tc.value)
		if code != 0 {
			t.Errorf("decode %s: code %d, %s", tc.value, code, errOut)
			continue
		}
		flat := squeeze(out)
		for _, w := range tc.want {
			if !strings.Contains(flat, squeeze(w)) {
				t.Errorf("decode %s: no %q in\n%s", tc.value, w, out)
			}
		}
	}
	out, _, code := runRulesCLI(t, "consent", "decode", "--json", "G110")
	var d struct {
		Schema  int    `json:"schema"`
		Kind    string `json:"kind"`
		Summary string `json:"summary"`
		GCS     struct {
			AdStorage string `json:"ad_storage"`
		} `json:"gcs"`
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil || code != 0 || d.Schema != 1 || d.Kind != "gcs" || d.GCS.AdStorage != "granted" {
		t.Errorf("decode --json: code %d, %+v, %v\n%s", code, d, err, out)
	}
	_, errOut, code := runRulesCLI(t, "consent", "decode", "hello")
	if code != 1 || !strings.Contains(errOut, "not a consent value this decoder knows") {
		t.Errorf("decode hello: code %d, %s", code, errOut)
	}
}

// squeeze collapses runs of spaces, so that assertions do not depend on
// the table's column widths.
func squeeze(s string) string {
	for strings.Contains(s, "  ") {
		s = strings.ReplaceAll(s, "  ", " ")
	}
	return s
}
