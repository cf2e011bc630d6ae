package consent

import (
	"crypto/rand"
	"net/url"
	"testing"
	"time"
)

func BenchmarkPlan(b *testing.B) {
	set := builtinSet(b)
	st := stateOf(b, set, "analytics-only")
	env := Env{Now: time.Now(), Rand: rand.Reader}
	jar := func(string) (string, bool) { return "", false }
	b.ReportAllocs()
	for b.Loop() {
		if _, err := st.Plan("shop.example", jar, env); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheck(b *testing.B) {
	set := builtinSet(b)
	c := choiceOf(b, set, "analytics-only")
	tc, _ := EncodeTC(stateOf(b, set, "accept-all").TCString("", time.Now()))
	q := url.Values{"gcs": {"G111"}, "gcd": {"13t3t3t3t5"}, "gdpr": {"1"}, "gdpr_consent": {tc}, "npa": {"0"}}
	b.ReportAllocs()
	for b.Loop() {
		if len(c.Check(q, 755)) == 0 {
			b.Fatal("no mismatch")
		}
	}
}

func BenchmarkDecodeTC(b *testing.B) {
	s := "CPi8wgAPi8wgAAOACBENCuCoAP_AAEfAACiQJHNd_H__bX9n-f7_6ft0eY1f9_r37uQzDhfNk-8F3L_W_LwX_2E7NF36tq4KmR4ku1LBIUNtHMnUDUmxaokVrzHsak2cpzNKJ_BkknsZe2dYGF9vm5tj-QKZ7_5_d3f52T_9_9v-39z33913v3d93-_13LjdV5_9H_v9fR_b8_Kf9_5-_4v8_____3_e______8AEEggCTDVuIAuxLHAm0DCKBECMKwkKoFABBQDC0QGADg4KdlYBPrCBAAgFAEYEQIcAUYEAgAAAgCQiACQIsEAAAIgEAAIAEQiEABAwCCgAsDAIAAQDQMUQoABAkIMiAiKUwICIEggJbKhBKC6Q0wgCrLACgkRsFAAiAAAUgACAsHAMESAlYsECTFG-QAjBCgFEqFaAGGgAwABBI4RABgACCRwqADAAEEjgA"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeTC(s); err != nil {
			b.Fatal(err)
		}
	}
}
