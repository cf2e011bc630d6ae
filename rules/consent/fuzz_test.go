package consent

import (
	"testing"
)

// Seeds: public strings and edge cases. The committed corpus under
// testdata/fuzz holds more.
var tcSeeds = []string{
	"COtybn4PA_zT4KjACBENAPCIAEBAAECAAIAAAAAAAAAA",
	"COrEAV4OrXx94ACABBENAHCIAD-AAAAAAACAAxAAAAgAIAwgAgAAAAEAgQAAAAAEAYQAQAAAACAAAABAAA.IBAgAAAgAIAwgAgAAAAEAAAACA.QAagAQAgAIAwgA.cAAAAAAAITg=",
	"COv__-wOv__-wC2AAAENAPCgAAAAAAAAAAAAA_wAQA_gEBABAEAAAA",
	"CLcVDxRMWfGmWAVAHCENAXCkAKDAADnAABRgA5mdfCKZuYJez-NQm0TBMYA4oCAAGQYIAAAAAAEAIAEgAA.argAC0gAAAAAAAAAAAA",
	"BOPnWgIOPnWgIAAABAENAI4AAAAA0ABA",
	"C", "C.", "..", "",
	"CAAAAAAAAAAAAAAAAAENAACAAAAAAAAAAAAAAAAAAAAA.QAAA.IAAA",
}

// FuzzDecodeTCString: DecodeTC never panics, and what it decodes encodes
// and decodes back to the same consents.
func FuzzDecodeTCString(f *testing.F) {
	for _, s := range tcSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tc, err := DecodeTC(s)
		if err != nil {
			return
		}
		out, err := EncodeTC(tc)
		if err != nil {
			return // e.g. a decoded restriction type that the encoder range-checks
		}
		back, err := DecodeTC(out)
		if err != nil {
			t.Fatalf("re-decoding %q (from %q): %v", out, s, err)
		}
		if !tcAgree(tc, back, tc.VendorConsents) || len(back.VendorLegitimateInterests) != len(tc.VendorLegitimateInterests) {
			t.Fatalf("round trip of %q changed the consents", s)
		}
	})
}

// FuzzDecodeGPP: DecodeGPP and DecodeGPPHeader never panic, and a header's
// ids encode back to a header with the same ids.
func FuzzDecodeGPP(f *testing.F) {
	for _, s := range []string{
		"DBABMA~CPSG_8APSG_8ANwAAAENAwCAAAAAAAAAAAAAAAAAAAAA.QAAA.IAAA", "DBACNYA~CPSG_8APSG_8AAAAAAENAACgAAAAAAAAAAAAAAAAAAAA.YAAAAAAAAAAA~1YNN",
		"DBABjw", "DBAA", "DBABM", "DBABLA~BVQqAAAAAgA.QA", "D", "~", "DBABMA~", "D________",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = DecodeGPP(s)
		head := s
		if i := indexByte(s, '~'); i >= 0 {
			head = s[:i]
		}
		_, _, ids, err := DecodeGPPHeader(head)
		if err != nil || len(ids) == 0 || ids[0] < 1 {
			return
		}
		enc, err := EncodeGPPHeader(ids)
		if err != nil {
			t.Fatalf("ids %v from %q do not encode: %v", ids, head, err)
		}
		_, _, back, err := DecodeGPPHeader(enc)
		if err != nil || len(back) != len(sortedUnique(ids)) {
			t.Fatalf("header %q → ids %v → %q → %v, %v", head, ids, enc, back, err)
		}
	})
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}
