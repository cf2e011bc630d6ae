package consent

import "testing"

func TestDecodeDetects(t *testing.T) {
	tests := []struct{ in, kind, summary string }{
		{"COtybn4PA_zT4KjACBENAPCIAEBAAECAAIAAAAAAAAAA", KindTCF, "TC string v2: purposes 2,10, 0 vendors"},
		{"gdpr_consent=COtybn4PA_zT4KjACBENAPCIAEBAAECAAIAAAAAAAAAA", KindTCF, "TC string v2: purposes 2,10, 0 vendors"},
		{"DBABMA~CPSG_8APSG_8ANwAAAENAwCAAAAAAAAAAAAAAAAAAAAA.QAAA.IAAA", KindGPP, "GPP string: sections 2"},
		{"G101", KindGCS, "gcs: ad_storage denied, analytics_storage granted"},
		{"gcs=G111", KindGCS, "gcs: ad_storage granted, analytics_storage granted"},
		{"11p1r1p1p5", KindGCD, "gcd: ad_storage denied, analytics_storage granted, ad_user_data denied, ad_personalization denied"},
		{publicOptanon2026, KindOneTrust, "OptanonConsent: groups C0001:1,C0002:1,C0003:1,C0004:1"},
		{"OptanonConsent=" + publicOptanon2023, KindOneTrust, "OptanonConsent: groups C0001:1,C0004:1,C0002:1,C0003:1,V2STACK42:1"},
		{publicCookieConsentRefused, KindCookiebot, "CookieConsent: preferences false, statistics false, marketing false (explicit)"},
		{"CookieConsent=" + publicCookieConsent, KindCookiebot, "CookieConsent: preferences true, statistics true, marketing true (explicit)"},
	}
	for _, tc := range tests {
		d, err := Decode(tc.in)
		if err != nil {
			t.Errorf("Decode(%s): %v", short(tc.in), err)
			continue
		}
		if d.Kind != tc.kind || d.Summary() != tc.summary {
			t.Errorf("Decode(%s) = %s %q, want %s %q", short(tc.in), d.Kind, d.Summary(), tc.kind, tc.summary)
		}
	}
	for _, bad := range []string{"", "hello", "BOPnWgIOPnWgIAAABAENAI4AAAAA0ABA"} {
		if _, err := Decode(bad); err == nil {
			t.Errorf("Decode(%q): no error", bad)
		}
	}
}
