package proxy

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/consentproxy/consentproxy/config"
	"github.com/consentproxy/consentproxy/rules"
)

// The request facts of ARCHITECTURE.md "The decision": destination from
// Sec-Fetch-Dest or Accept, context from fetch metadata, else
// Origin/Referer by registrable domain, else third-party.
func TestRequestFacts(t *testing.T) {
	tests := []struct {
		name        string
		url         string
		hdr         []string
		wantDest    rules.Dest
		wantContext rules.Context
	}{
		{"curl, no headers", "https://www.facebook.com/tr?id=1", nil, rules.DestUnknown, rules.ThirdParty},
		{"top-level navigation", "https://www.facebook.com/", []string{"Sec-Fetch-Mode", "navigate", "Sec-Fetch-Dest", "document", "Sec-Fetch-Site", "cross-site"}, rules.DestDocument, rules.TopLevel},
		{"iframe navigation is not top-level", "https://www.facebook.com/plugins/like.php", []string{"Sec-Fetch-Mode", "navigate", "Sec-Fetch-Dest", "iframe", "Sec-Fetch-Site", "cross-site"}, rules.DestFrame, rules.ThirdParty},
		{"same-site image", "https://img.shop.test/a.png", []string{"Sec-Fetch-Dest", "image", "Sec-Fetch-Site", "same-site"}, rules.DestImage, rules.FirstParty},
		{"same-origin fetch", "https://shop.test/api", []string{"Sec-Fetch-Dest", "empty", "Sec-Fetch-Site", "same-origin"}, rules.DestEmpty, rules.FirstParty},
		{"user-initiated", "https://shop.test/a.png", []string{"Sec-Fetch-Dest", "image", "Sec-Fetch-Site", "none"}, rules.DestImage, rules.FirstParty},
		{"cross-site wins over a same-site Referer", "https://www.facebook.com/tr", []string{"Sec-Fetch-Site", "cross-site", "Referer", "https://www.facebook.com/"}, rules.DestUnknown, rules.ThirdParty},
		{"unknown Sec-Fetch-Site value", "https://shop.test/", []string{"Sec-Fetch-Site", "same-planet", "Referer", "https://shop.test/"}, rules.DestUnknown, rules.ThirdParty},
		{"Referer on the same registrable domain", "https://cdn.shop.test/x.js", []string{"Referer", "https://www.shop.test/page?q=1"}, rules.DestUnknown, rules.FirstParty},
		{"Referer on a public-suffix sibling", "https://b.github.io/x", []string{"Referer", "https://a.github.io/"}, rules.DestUnknown, rules.ThirdParty},
		{"Referer of another site", "https://www.facebook.com/tr", []string{"Referer", "https://shop.test/"}, rules.DestUnknown, rules.ThirdParty},
		{"Origin beats Referer", "https://api.shop.test/x", []string{"Origin", "https://shop.test", "Referer", "https://other.test/"}, rules.DestUnknown, rules.FirstParty},
		{"null Origin falls back to Referer", "https://api.shop.test/x", []string{"Origin", "null", "Referer", "https://shop.test/"}, rules.DestUnknown, rules.FirstParty},
		{"garbage Referer", "https://shop.test/x", []string{"Referer", "::not a url"}, rules.DestUnknown, rules.ThirdParty},
		{"Accept image", "https://www.facebook.com/tr", []string{"Accept", "image/avif,image/webp,*/*;q=0.8"}, rules.DestImage, rules.ThirdParty},
		// Our choice: without fetch metadata an HTML Accept is a document
		// (never blocked) but not a top-level navigation (third-party
		// cookie judgement).
		{"Accept html without fetch metadata", "https://www.facebook.com/", []string{"Accept", "text/html,application/xhtml+xml"}, rules.DestDocument, rules.ThirdParty},
		{"Accept script", "https://x.test/a", []string{"Accept", "application/javascript"}, rules.DestScript, rules.ThirdParty},
		{"Accept css", "https://x.test/a", []string{"Accept", "text/css,*/*;q=0.1"}, rules.DestStyle, rules.ThirdParty},
		{"Accept anything", "https://x.test/a", []string{"Accept", "*/*"}, rules.DestUnknown, rules.ThirdParty},
		{"Sec-Fetch-Dest beats Accept", "https://x.test/a", []string{"Sec-Fetch-Dest", "script", "Accept", "image/png"}, rules.DestScript, rules.ThirdParty},
		{"host case and port", "https://WWW.Facebook.COM:443/tr", nil, rules.DestUnknown, rules.ThirdParty},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest("GET", tt.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i+1 < len(tt.hdr); i += 2 {
				req.Header.Set(tt.hdr[i], tt.hdr[i+1])
			}
			got := requestFacts(req)
			u, _ := url.Parse(tt.url)
			if got.Dest != tt.wantDest || got.Context != tt.wantContext || got.Path != u.Path {
				t.Errorf("got dest %s context %s path %q, want %s %s %q", got.Dest, got.Context, got.Path, tt.wantDest, tt.wantContext, u.Path)
			}
			if want := hostOf(u); got.Host != want || got.Host != toLower(u.Hostname()) {
				t.Errorf("host %q, want %q", got.Host, want)
			}
		})
	}
}

func toLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func testSnapshot(t testing.TB, mutate func(*config.Config)) *snapshot {
	t.Helper()
	cfg := config.Default()
	cfg.Profiles = testProfiles()
	if mutate != nil {
		mutate(&cfg)
	}
	snap, err := buildSnapshot(cfg, cfg.Listeners, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func TestCheckCredentials(t *testing.T) {
	open := testSnapshot(t, nil)
	locked := testSnapshot(t, func(c *config.Config) { c.ProxyPassword = "s3cret" })
	tests := []struct {
		name       string
		snap       *snapshot
		header     string
		wantName   string
		wantReason string
	}{
		{"none", open, "", "", "missing"},
		{"any password when none is set", open, basic("strict", "whatever"), "strict", ""},
		{"empty password when none is set", open, basic("strict", ""), "strict", ""},
		{"scheme case", open, "basic " + basic("strict", "x")[6:], "strict", ""},
		{"unknown profile", open, basic("nope", "x"), "", "unknown-profile"},
		{"not base64", open, "Basic !!!", "", "malformed"},
		{"no colon", open, "Basic c3RyaWN0", "", "malformed"},
		{"bearer", open, "Bearer abc", "", "malformed"},
		{"right password", locked, basic("reject-all", "s3cret"), "reject-all", ""},
		{"wrong password", locked, basic("reject-all", "s3cre"), "", "wrong-password"},
		{"password with a colon", locked, basic("reject-all", "s3cret:"), "", "wrong-password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name, reason, msg := checkCredentials(tt.snap, tt.header)
			if name != tt.wantName || reason != tt.wantReason || (reason != "") != (msg != "") {
				t.Errorf("got %q %q %q, want %q %q", name, reason, msg, tt.wantName, tt.wantReason)
			}
		})
	}
}

func TestHeaderProfileName(t *testing.T) {
	tests := []struct {
		vals     []string
		wantName string
		wantErr  bool
	}{
		{[]string{"strict"}, "strict", false},
		{[]string{" strict "}, "strict", false},
		{[]string{"strict", "strict"}, "strict", false},
		{[]string{"strict", "reject-all"}, "", true},
		{[]string{""}, "", true},
	}
	for _, tt := range tests {
		name, msg := headerProfileName(tt.vals)
		if name != tt.wantName || (msg != "") != tt.wantErr {
			t.Errorf("%q: got %q %q", tt.vals, name, msg)
		}
	}
}

func TestRestartRequired(t *testing.T) {
	a := config.Default()
	b := config.Default()
	b.Profile = "accept-all"
	b.Rules = []string{"x.yaml"}
	b.ProxyAuth = true
	b.ProxyPassword = "p"
	if got := restartRequired(a, b); len(got) != 0 {
		t.Errorf("live settings reported: %+v", got)
	}
	b.Listen = "127.0.0.1:9999"
	b.AdminToken = "secret-token"
	b.Limits.IdleTimeout *= 2
	b.Passthrough = []string{"bank.test"}
	b.Listeners = []config.Listener{{Listen: "127.0.0.1:7000"}}
	got := restartRequired(a, b)
	want := []RestartSetting{
		{"listen", "127.0.0.1:8080", "127.0.0.1:9999"},
		{"admin_token", "(hidden)", "(hidden)"},
		{"passthrough", "", "bank.test"},
		{"limits.idle_timeout", "2m0s", "4m0s"},
		{"listeners[0].listen", "(none)", "127.0.0.1:7000"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}
