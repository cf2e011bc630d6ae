package consent

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestDecodeTCPublicExamples decodes TC strings whose fields their
// publishers document, and checks those fields.
func TestDecodeTCPublicExamples(t *testing.T) {
	date := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		source, s string
		check     func(t *testing.T, tc TCString)
	}{
		{
			// iabtcf-java, iabtcf-decoder/src/test/java/com/iabtcf/decoder/TCStringV2Test.java,
			// testCanConstructTCModelFromBase64String (made with iabtcf.com's encoder).
			"iabtcf-java TCStringV2Test.testCanConstructTCModelFromBase64String",
			"COtybn4PA_zT4KjACBENAPCIAEBAAECAAIAAAAAAAAAA",
			func(t *testing.T, tc TCString) {
				want := TCString{
					Version: 2, Created: date("2020-01-26T17:01:00Z"), LastUpdated: date("2021-02-02T17:01:00Z"),
					CmpID: 675, CmpVersion: 2, ConsentScreen: 1, ConsentLanguage: "EN", VendorListVersion: 15,
					PolicyVersion: 2, IsServiceSpecific: false, UseNonStandardTexts: false,
					SpecialFeatureOptIns: []int{1}, PurposesConsent: []int{2, 10}, PurposesLITransparency: []int{2, 9},
					PurposeOneTreatment: true, PublisherCC: "AA",
					VendorConsents: []int{}, VendorLegitimateInterests: []int{},
					VendorConsentsEncoding: EncodingBitField, VendorLIEncoding: EncodingBitField,
					Segments: []string{"core"},
				}
				if !reflect.DeepEqual(tc, want) {
					t.Errorf("got  %+v\nwant %+v", tc, want)
				}
			},
		},
		{
			"iabtcf-java TCStringV2Test.testConstructConsentsFromBitFields",
			"COrEAV4OrXx94ACABBENAHCIAD-AAAAAAACAAxAAAAgAIAwgAgAAAAEAgQAAAAAEAYQAQAAAACAAAABAAA",
			func(t *testing.T, tc TCString) {
				eq(t, "purposes consent", tc.PurposesConsent, []int{3, 4, 5, 6, 7, 8, 9})
				eq(t, "vendor consents", tc.VendorConsents, []int{23, 37, 47, 48, 53, 65, 98})
				eq(t, "vendor LI", tc.VendorLegitimateInterests, []int{37, 47, 48, 53, 65, 98, 129})
			},
		},
		{
			"iabtcf-java TCStringV2Test.testCanParseDisclosedAndAllowedVendors",
			"COrEAV4OrXx94ACABBENAHCIAD-AAAAAAACAAxAAAAgAIAwgAgAAAAEAgQAAAAAEAYQAQAAAACAAAABAAA.IBAgAAAgAIAwgAgAAAAEAAAACA.QAagAQAgAIAwgA",
			func(t *testing.T, tc TCString) {
				eq(t, "allowed", tc.AllowedVendors, []int{12, 23, 37, 47, 48, 53})
				eq(t, "disclosed", tc.DisclosedVendors, []int{23, 37, 47, 48, 53, 65, 98, 129})
				eq(t, "segments", tc.Segments, []string{"core", "disclosed-vendors", "allowed-vendors"})
			},
		},
		{
			// The same with a publisher TC segment, base64 padding included.
			"iabtcf-java TCStringV2Test.testCanParseAllParts",
			"COrEAV4OrXx94ACABBENAHCIAD-AAAAAAACAAxAAAAgAIAwgAgAAAAEAgQAAAAAEAYQAQAAAACAAAABAAA.IBAgAAAgAIAwgAgAAAAEAAAACA.QAagAQAgAIAwgA.cAAAAAAAITg=",
			func(t *testing.T, tc TCString) {
				if tc.PublisherTC == nil || len(tc.PublisherTC.PurposesConsent) != 1 {
					t.Errorf("publisher TC = %+v, want one publisher purpose consent", tc.PublisherTC)
				}
			},
		},
		{
			"iabtcf-java TCStringV2Test.testCanParseRangeEncodedVendorLegitimateInterests",
			"COv__-wOv__-wC2AAAENAPCgAAAAAAAAAAAAA_wAQA_gEBABAEAAAA",
			func(t *testing.T, tc TCString) {
				eq(t, "vendor LI", tc.VendorLegitimateInterests, []int{128})
				if tc.VendorLIEncoding != EncodingRange {
					t.Errorf("LI encoding %s, want range", tc.VendorLIEncoding)
				}
			},
		},
		{
			"iabtcf-java TCStringV2Test.testRange (two ranges)",
			"COwBOpCOwBOpCLqAAAENAPCAAAAAAAAAAAAAFfwAYFfAV-BVkAGBVYFWAAA.IFoEUQQgAIQwgIwQABAEAAAAOIAACAIAAAAQAIAgEAACEAAAAAgAQBAAAAAAAGBAAgAAAAAAAFAAECAAAgAAQARAEQAAAAAJAAIAAgAAAYQEAAAQmAgBC3ZAYzUw",
			func(t *testing.T, tc TCString) { eq(t, "vendor consents", tc.VendorConsents, []int{702, 703}) },
		},
		{
			"iabtcf-java TCStringV2Test.testRange (one range)",
			"COwBOpCOwBOpCLqAAAENAPCAAAAAAAAAAAAAFfwAQFfgUbABAUaAAA.IFoEUQQgAIQwgIwQABAEAAAAOIAACAIAAAAQAIAgEAACEAAAAAgAQBAAAAAAAGBAAgAAAAAAAFAAECAAAgAAQARAEQAAAAAJAAIAAgAAAYQEAAAQmAgBC3ZAYzUw",
			func(t *testing.T, tc TCString) { eq(t, "vendor consents", tc.VendorConsents, []int{703}) },
		},
		{
			"iabtcf-java TCStringV2Test.testPurposesConsent",
			"COwxsONOwxsONKpAAAENAdCAAMAAAAAAAAAAAAAAAAAA",
			func(t *testing.T, tc TCString) {
				if !slices.Contains(tc.PurposesConsent, 1) || !slices.Contains(tc.PurposesConsent, 2) {
					t.Errorf("purposes %v, want 1 and 2", tc.PurposesConsent)
				}
			},
		},
		{
			// iabgpp-es, modules/cmpapi/test/encoder/section/TcfEuV2.test.ts, "decode 2".
			"iabgpp-es TcfEuV2.test.ts decode 2",
			"CPi8wgAPi8wgAAOACBENCuCoAP_AAEfAACiQJHNd_H__bX9n-f7_6ft0eY1f9_r37uQzDhfNk-8F3L_W_LwX_2E7NF36tq4KmR4ku1LBIUNtHMnUDUmxaokVrzHsak2cpzNKJ_BkknsZe2dYGF9vm5tj-QKZ7_5_d3f52T_9_9v-39z33913v3d93-_13LjdV5_9H_v9fR_b8_Kf9_5-_4v8_____3_e______8AEEggCTDVuIAuxLHAm0DCKBECMKwkKoFABBQDC0QGADg4KdlYBPrCBAAgFAEYEQIcAUYEAgAAAgCQiACQIsEAAAIgEAAIAEQiEABAwCCgAsDAIAAQDQMUQoABAkIMiAiKUwICIEggJbKhBKC6Q0wgCrLACgkRsFAAiAAAUgACAsHAMESAlYsECTFG-QAjBCgFEqFaAGGgAwABBI4RABgACCRwqADAAEEjgA",
			func(t *testing.T, tc TCString) {
				if tc.CmpID != 14 || tc.CmpVersion != 2 || tc.ConsentScreen != 1 || tc.ConsentLanguage != "EN" ||
					tc.VendorListVersion != 174 || tc.PolicyVersion != 2 || !tc.IsServiceSpecific || tc.PublisherCC != "US" {
					t.Errorf("core fields %+v", tc)
				}
				eq(t, "special features", tc.SpecialFeatureOptIns, []int{1})
				eq(t, "purposes", tc.PurposesConsent, []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
				eq(t, "purposes LI", tc.PurposesLITransparency, []int{2, 6, 7, 8, 9, 10})
				if len(tc.VendorConsents) != 772 || len(tc.VendorLegitimateInterests) != 280 {
					t.Errorf("vendors: %d consents, %d LI; want 772 and 280", len(tc.VendorConsents), len(tc.VendorLegitimateInterests))
				}
			},
		},
		{
			// CPAN GDPR::IAB::TCFv2::Parser SYNOPSIS.
			"GDPR::IAB::TCFv2::Parser synopsis",
			"CLcVDxRMWfGmWAVAHCENAXCkAKDAADnAABRgA5mdfCKZuYJez-NQm0TBMYA4oCAAGQYIAAAAAAEAIAEgAA.argAC0gAAAAAAAAAAAA",
			func(t *testing.T, tc TCString) {
				if tc.Created.Unix() != 1228644257 || tc.LastUpdated.Unix() != 1326215413 || tc.CmpID != 21 ||
					tc.CmpVersion != 7 || tc.ConsentScreen != 2 || tc.ConsentLanguage != "EN" || tc.VendorListVersion != 23 {
					t.Errorf("core fields %+v", tc)
				}
				for _, p := range []int{1, 3, 9, 10} {
					if !slices.Contains(tc.PurposesConsent, p) {
						t.Errorf("purpose %d: no consent; purposes %v", p, tc.PurposesConsent)
					}
				}
				eq(t, "segments", tc.Segments, []string{"core", "publisher-tc"})
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.source, func(t *testing.T) {
			got, err := DecodeTC(tc.s)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, got)
		})
	}
}

func eq[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func TestTCRoundTrip(t *testing.T) {
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	tests := []TCString{
		{Version: 2, Created: day, LastUpdated: day, CmpID: 2, CmpVersion: 1, ConsentScreen: 1, ConsentLanguage: "EN",
			VendorListVersion: 140, PolicyVersion: 5, IsServiceSpecific: true, PublisherCC: "AA",
			SpecialFeatureOptIns: []int{}, PurposesConsent: []int{}, PurposesLITransparency: []int{},
			VendorConsents: []int{}, VendorLegitimateInterests: []int{}, DisclosedVendors: []int{10, 11, 755}},
		{Version: 2, Created: day.Add(123400 * time.Millisecond), LastUpdated: day.Add(time.Hour), CmpID: 300, CmpVersion: 4095,
			ConsentScreen: 63, ConsentLanguage: "DE", VendorListVersion: 4095, PolicyVersion: 4, UseNonStandardTexts: true,
			PurposeOneTreatment: true, PublisherCC: "FR",
			SpecialFeatureOptIns: []int{1, 2}, PurposesConsent: []int{1, 2, 3, 4, 7, 8, 9, 10, 11, 24},
			PurposesLITransparency: []int{2, 7, 9}, VendorConsents: []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 300, 65535},
			VendorLegitimateInterests: []int{91}, PublisherRestrictions: []PublisherRestriction{{PurposeID: 2, Type: 1, Vendors: []int{5, 6, 7, 30}}},
			PublisherTC: &PublisherTC{PurposesConsent: []int{1}, PurposesLITransparency: []int{24}, CustomPurposesConsent: []int{2}, CustomPurposesLITransparency: []int{1, 2}}},
	}
	for i, in := range tests {
		s, err := EncodeTC(in)
		if err != nil {
			t.Fatal(err)
		}
		out, err := DecodeTC(s)
		if err != nil {
			t.Fatalf("%d: decode %s: %v", i, s, err)
		}
		out.VendorConsentsEncoding, out.VendorLIEncoding, out.Segments = "", "", nil
		if in.PublisherRestrictions == nil {
			in.PublisherRestrictions = nil
		}
		if !reflect.DeepEqual(out, in) {
			t.Errorf("%d: round trip of %s\n got %+v\nwant %+v", i, s, out, in)
		}
		if again, _ := EncodeTC(out); again != s {
			t.Errorf("%d: re-encoding gives %s, want %s", i, again, s)
		}
	}
}

// TestTCVendorEncodingChoice builds vendor sets where each encoding wins and
// checks that the encoder picks the one the specification asks for, the
// shorter, by decoding what it wrote and by measuring both.
func TestTCVendorEncodingChoice(t *testing.T) {
	run := func(lo, hi int) []int {
		var out []int
		for i := lo; i <= hi; i++ {
			out = append(out, i)
		}
		return out
	}
	tests := []struct {
		name string
		ids  []int
		want string
	}{
		{"none", nil, EncodingBitField},
		{"dense low ids", []int{1, 3, 5, 8, 13, 21, 34}, EncodingBitField},
		{"one high id", []int{755}, EncodingRange},
		{"one long run", run(100, 900), EncodingRange},
		{"every other id", alternate(1, 99), EncodingBitField},
		{"scattered high ids", []int{40, 80, 120, 160, 200, 240, 280, 320, 360, 400, 440, 480, 520, 560, 600, 640, 680, 720}, EncodingRange},
		// 17+29 bits either way.
		{"tie goes to the bit field", []int{29}, EncodingBitField},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bitField, rangeBits := vendorSectionBits(tc.ids)
			shorter := EncodingBitField
			if rangeBits < bitField {
				shorter = EncodingRange
			}
			if shorter != tc.want {
				t.Fatalf("fixture: %s is shorter (bitfield %d bits, range %d bits), the case wants %s", shorter, bitField, rangeBits, tc.want)
			}
			s, err := EncodeTC(TCString{Version: 2, ConsentLanguage: "EN", PublisherCC: "AA", VendorConsents: tc.ids})
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodeTC(s)
			if err != nil {
				t.Fatal(err)
			}
			if got.VendorConsentsEncoding != tc.want {
				t.Errorf("encoding %s, want %s (bitfield %d bits, range %d bits)", got.VendorConsentsEncoding, tc.want, bitField, rangeBits)
			}
			if want := tc.ids; !slices.Equal(got.VendorConsents, append([]int{}, want...)) {
				t.Errorf("vendors %v, want %v", got.VendorConsents, want)
			}
			// Write both encodings for real: the lengths the choice is made
			// on are the lengths of the bits written.
			maxID := 0
			if len(tc.ids) > 0 {
				maxID = tc.ids[len(tc.ids)-1]
			}
			var bf, rg bitWriter
			bf.int(uint64(maxID), 16)
			bf.bit(false)
			writeFixed(&bf, tc.ids, maxID)
			rg.int(uint64(maxID), 16)
			rg.bit(true)
			writeRanges(&rg, ranges(tc.ids))
			if bf.n != bitField || rg.n != rangeBits {
				t.Errorf("written: bitfield %d bits, range %d bits; computed %d and %d", bf.n, rg.n, bitField, rangeBits)
			}
			if tc.want == EncodingRange && rg.n >= bf.n || tc.want == EncodingBitField && bf.n > rg.n {
				t.Errorf("%s chosen, but bitfield is %d bits and range %d", tc.want, bf.n, rg.n)
			}
		})
	}
	if bf, rg := vendorSectionBits([]int{29}); bf != rg {
		t.Fatalf("tie fixture: bitfield %d, range %d bits", bf, rg)
	}
}

func alternate(lo, hi int) []int {
	var out []int
	for i := lo; i <= hi; i += 2 {
		out = append(out, i)
	}
	return out
}

func TestDecodeTCErrors(t *testing.T) {
	tests := []struct{ s, want string }{
		{"", "decode TC string: core segment: empty"},
		{"C%%", `decode TC string: core segment: '%' at position 2 is not a base64 character`},
		{"BOPnWgIOPnWgIAAABAENAI4AAAAA0ABA", "decode TC string: core segment: version 1: only TCF v2 strings (version 2) are read"},
		{"COtybn4PA_zT4KjACBENAPCIAEBAAECAAIA", "decode TC string: core segment: vendor consent section: MaxVendorId: string ends early"},
		{"COtybn4PA_zT4KjACBENAPCIAEBAAECAAIAAAAAAAAAA.", "decode TC string: segment 2: empty"},
	}
	for _, tc := range tests {
		_, err := DecodeTC(tc.s)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("DecodeTC(%q) = %v, want %q...", tc.s, err, tc.want)
		}
	}
}
