package consent

import (
	"reflect"
	"testing"
)

// TestGPPHeader checks the header's Fibonacci range encoding against the
// examples of the GPP specification (Core/Consent String Specification.md,
// "Header Examples", which pad to six bits: DBABM, DBACNY, DBABjw) and of
// iabgpp-es (modules/cmpapi/test/encoder/section/HeaderV1.test.ts, which
// pads to a byte first: DBABMA, DBACNYA, as the specification does since
// its Nov 2023 clarification).
func TestGPPHeader(t *testing.T) {
	encode := []struct {
		ids  []int
		want string
	}{
		{[]int{}, "DBAA"},
		{[]int{2}, "DBABMA"},
		{[]int{2, 6}, "DBACNYA"},
		{[]int{6, 2}, "DBACNYA"},
		{[]int{5, 6}, "DBABjw"}, // spec example 3 (Canadian TCF and US Privacy): a range
	}
	for _, tc := range encode {
		got, err := EncodeGPPHeader(tc.ids)
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("EncodeGPPHeader(%v) = %s, want %s", tc.ids, got, tc.want)
		}
	}
	decode := []struct {
		s    string
		want []int
	}{
		{"DBAA", []int{}},
		{"DBABMA", []int{2}},
		{"DBABM", []int{2}},
		{"DBACNYA", []int{2, 6}},
		{"DBACNY", []int{2, 6}},
		{"DBABjw", []int{5, 6}},
	}
	for _, tc := range decode {
		typ, version, ids, err := DecodeGPPHeader(tc.s)
		if err != nil {
			t.Fatalf("%s: %v", tc.s, err)
		}
		if typ != 3 || version != 1 || !reflect.DeepEqual(ids, tc.want) {
			t.Errorf("DecodeGPPHeader(%s) = %d, %d, %v; want 3, 1, %v", tc.s, typ, version, ids, tc.want)
		}
	}
}

// TestFibonacci checks the coding against the table of the GPP
// specification ("About Fibonacci Encoding") and the range encoder against
// iabgpp-es FibonacciIntegerRangeEncoder.test.ts.
func TestFibonacci(t *testing.T) {
	for v, want := range map[int]string{1: "11", 2: "011", 3: "0011", 4: "1011", 5: "00011", 6: "10011", 7: "01011"} {
		var w bitWriter
		w.fibonacci(v)
		if got := bitString(w); got != want {
			t.Errorf("fibonacci(%d) = %s, want %s", v, got, want)
		}
		r := &bitReader{buf: w.buf}
		if got, err := r.fibonacci(); err != nil || got != v {
			t.Errorf("decode %s = %d, %v", want, got, err)
		}
	}
	for _, tc := range []struct {
		ids  []int
		want string
	}{
		{[]int{2, 3, 4, 5, 6}, "00000000000110111011"},
		{[]int{2, 5, 6, 7}, "000000000010001110011011"},
		{[]int{3, 5, 6, 7, 8}, "0000000000100001110110011"},
		{[]int{2, 5, 6, 7, 8, 9, 10, 11, 12}, "00000000001000111001101011"},
	} {
		s, err := EncodeGPPHeader(tc.ids)
		if err != nil {
			t.Fatal(err)
		}
		r, err := newBitReader(s)
		if err != nil {
			t.Fatal(err)
		}
		r.pos = 12
		var w bitWriter
		for range len(tc.want) {
			b, _ := r.bit()
			w.bit(b)
		}
		if got := bitString(w); got != tc.want {
			t.Errorf("range %v = %s, want %s", tc.ids, got, tc.want)
		}
	}
}

func bitString(w bitWriter) string {
	out := make([]byte, w.n)
	for i := range out {
		out[i] = '0'
		if w.buf[i/8]&(0x80>>(i%8)) != 0 {
			out[i] = '1'
		}
	}
	return string(out)
}

func TestDecodeGPP(t *testing.T) {
	// iabgpp-es GppModel.test.ts encodes a service-specific tcfeuv2 section
	// (TcfEuV2.test.ts "encode with service specific") under header DBABMA.
	g, err := DecodeGPP("DBABMA~CPSG_8APSG_8ANwAAAENAwCAAAAAAAAAAAAAAAAAAAAA.QAAA.IAAA")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g.SectionIDs, []int{2}) || len(g.Sections) != 1 || g.Sections[0].Name != "tcfeuv2" {
		t.Fatalf("sections %+v", g)
	}
	tc := g.TCF()
	if tc == nil || tc.CmpID != 880 || tc.Version != 2 {
		t.Errorf("tcf section %+v", tc)
	}
	if !reflect.DeepEqual(tc.Segments, []string{"core", "allowed-vendors", "disclosed-vendors"}) {
		t.Errorf("segments %v", tc.Segments)
	}
	// Round trip through the encoder.
	s, err := EncodeGPP(map[int]string{2: "CPSG_8APSG_8AAAAAAENAACgAAAAAAAAAAAAAAAAAAAA.YAAAAAAAAAAA", 6: "1YNN"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "DBACNYA~CPSG_8APSG_8AAAAAAENAACgAAAAAAAAAAAAAAAAAAAA.YAAAAAAAAAAA~1YNN"; s != want {
		t.Errorf("EncodeGPP = %s, want %s", s, want)
	}
	g, err = DecodeGPP(s)
	if err != nil {
		t.Fatal(err)
	}
	if g.Sections[1].Name != "uspv1" || g.Sections[1].TCF != nil || g.Sections[0].TCF == nil || !g.Sections[0].TCF.IsServiceSpecific {
		t.Errorf("sections %+v", g.Sections)
	}

	for _, bad := range []struct{ s, want string }{
		{"DBABMA", "decode GPP string: the header lists 1 sections, the string has 0"},
		{"DBABMA~zzz", "decode GPP string: section 2 (tcfeuv2): decode TC string: core segment: version 51: only TCF v2 strings (version 2) are read"},
		{"CBABMA~x", "decode GPP header: type 2, want 3"},
		{"D", "decode GPP header: string ends early"},
	} {
		if _, err := DecodeGPP(bad.s); err == nil || err.Error() != bad.want {
			t.Errorf("DecodeGPP(%q) = %v, want %s", bad.s, err, bad.want)
		}
	}
}

func TestParseGPPSID(t *testing.T) {
	for in, want := range map[string][]int{"2": {2}, "2,6": {2, 6}, "7_8": {7, 8}, "-1": {-1}, "": nil} {
		got, err := ParseGPPSID(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("ParseGPPSID(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseGPPSID("2,x"); err == nil {
		t.Error("ParseGPPSID(2,x): no error")
	}
}
