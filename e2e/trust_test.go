package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestChromiumTrust: Chromium accepts the proxy's certificates when, and
// only when, it was told to trust the CA: through an NSS database made with
// certutil (what README tells QA engineers to do), or through the CA's
// SPKI hash on the command line.
func TestChromiumTrust(t *testing.T) {
	need(t)
	w := newWeb(t)
	p := startProxy(t, w, "--profile", "accept-all")

	tests := []struct {
		name    string
		home    string
		flags   map[string]any
		wantErr string // "" when the shop must load
	}{
		{name: "NSS database trusts the CA", home: env.home},
		{name: "SPKI flag, empty NSS database", home: env.untrustedHome,
			flags: map[string]any{"ignore-certificate-errors-spki-list": env.caSPKI}},
		{name: "untrusted (control)", home: env.untrustedHome, wantErr: "net::ERR_CERT_AUTHORITY_INVALID"},
		{name: "SPKI of another key (control)", home: env.untrustedHome,
			flags:   map[string]any{"ignore-certificate-errors-spki-list": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="},
			wantErr: "net::ERR_CERT_AUTHORITY_INVALID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := startBrowser(t, p.proxyURL(), browserOptions{home: tt.home, flags: tt.flags})
			if tt.wantErr != "" {
				ctx, cancel := context.WithTimeout(b.ctx, loadTimeout)
				defer cancel()
				err := chromedp.Do(ctx, chromedp.Navigate(shopURL))
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("navigate without trust: %v, want %s", err, tt.wantErr)
				}
				return
			}
			l := b.load(shopURL)
			checkNoBrowserErrors(t, "load", l)
			if len(l.requests) < len(shopPaths)+len(trackers) {
				t.Errorf("only %d requests seen, want the shop's and every tracker's", len(l.requests))
			}
		})
	}
}
