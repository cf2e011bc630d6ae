package consent

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// TCString is the content of an IAB TCF v2 TC string (Transparency and
// Consent Framework v2.2, "Consent string and vendor list formats v2"): the
// core segment and the optional disclosed-vendors, allowed-vendors and
// publisher-TC segments. Sets of ids are sorted ascending.
type TCString struct {
	Version int `json:"version"`
	// Created and LastUpdated are stored in deciseconds.
	Created           time.Time `json:"created"`
	LastUpdated       time.Time `json:"last_updated"`
	CmpID             int       `json:"cmp_id"`
	CmpVersion        int       `json:"cmp_version"`
	ConsentScreen     int       `json:"consent_screen"`
	ConsentLanguage   string    `json:"consent_language"`
	VendorListVersion int       `json:"vendor_list_version"`
	// PolicyVersion is TcfPolicyVersion: 2 for TCF v2.0, 4 and 5 for v2.2.
	PolicyVersion       int  `json:"policy_version"`
	IsServiceSpecific   bool `json:"is_service_specific"`
	UseNonStandardTexts bool `json:"use_non_standard_texts"`
	// SpecialFeatureOptIns lists special features (1-12) opted in.
	SpecialFeatureOptIns []int `json:"special_feature_opt_ins"`
	// PurposesConsent and PurposesLITransparency list purposes (1-24).
	PurposesConsent        []int  `json:"purposes_consent"`
	PurposesLITransparency []int  `json:"purposes_li_transparency"`
	PurposeOneTreatment    bool   `json:"purpose_one_treatment"`
	PublisherCC            string `json:"publisher_cc"`
	// VendorConsents and VendorLegitimateInterests list GVL vendor ids.
	VendorConsents            []int `json:"vendor_consents"`
	VendorLegitimateInterests []int `json:"vendor_legitimate_interests"`
	// VendorConsentsEncoding and VendorLIEncoding say how the sections were
	// encoded ("bitfield" or "range"): set by the decoder, and by Encode's
	// choice of the shorter.
	VendorConsentsEncoding string                 `json:"vendor_consents_encoding"`
	VendorLIEncoding       string                 `json:"vendor_li_encoding"`
	PublisherRestrictions  []PublisherRestriction `json:"publisher_restrictions"`
	// DisclosedVendors (segment 1) and AllowedVendors (segment 2) are nil
	// when the string has no such segment.
	DisclosedVendors []int `json:"disclosed_vendors,omitempty"`
	AllowedVendors   []int `json:"allowed_vendors,omitempty"`
	// PublisherTC is segment 3, nil when absent.
	PublisherTC *PublisherTC `json:"publisher_tc,omitempty"`
	// Segments names the segments present, in string order ("core" first).
	Segments []string `json:"segments"`
}

// PublisherRestriction is one entry of the core segment's restrictions.
type PublisherRestriction struct {
	PurposeID int `json:"purpose_id"`
	// Type: 0 not allowed, 1 require consent, 2 require legitimate interest.
	Type    int   `json:"type"`
	Vendors []int `json:"vendors"`
}

// PublisherTC is the publisher purposes segment.
type PublisherTC struct {
	PurposesConsent              []int `json:"purposes_consent"`
	PurposesLITransparency       []int `json:"purposes_li_transparency"`
	CustomPurposesConsent        []int `json:"custom_purposes_consent"`
	CustomPurposesLITransparency []int `json:"custom_purposes_li_transparency"`
}

// Vendor section encodings.
const (
	EncodingBitField = "bitfield"
	EncodingRange    = "range"
)

// Segment types of a TC string.
const (
	segCore      = 0
	segDisclosed = 1
	segAllowed   = 2
	segPublisher = 3
)

func segmentName(t int) string {
	switch t {
	case segCore:
		return "core"
	case segDisclosed:
		return "disclosed-vendors"
	case segAllowed:
		return "allowed-vendors"
	case segPublisher:
		return "publisher-tc"
	}
	return "unknown-" + strconv.Itoa(t)
}

// maxVendorID is what the 16-bit vendor id fields hold.
const maxVendorID = 1<<16 - 1

// EncodeTC encodes tc as a TC string: the core segment, then a
// disclosed-vendors segment when DisclosedVendors is non-nil (TCF v2.3 makes
// it mandatory), then a publisher-TC segment when PublisherTC is non-nil.
// Each vendor section uses the bit field or the range encoding, whichever
// is shorter (the bit field on a tie), as the specification asks; decoding
// the result reports the choice. tc's Vendor*Encoding and Segments fields
// are ignored.
func EncodeTC(tc TCString) (string, error) {
	if err := checkTC(tc); err != nil {
		return "", err
	}
	var w bitWriter
	w.int(uint64(tc.Version), 6)
	w.int(uint64(deciseconds(tc.Created)), 36)
	w.int(uint64(deciseconds(tc.LastUpdated)), 36)
	w.int(uint64(tc.CmpID), 12)
	w.int(uint64(tc.CmpVersion), 12)
	w.int(uint64(tc.ConsentScreen), 6)
	w.letters(tc.ConsentLanguage)
	w.int(uint64(tc.VendorListVersion), 12)
	w.int(uint64(tc.PolicyVersion), 6)
	w.bit(tc.IsServiceSpecific)
	w.bit(tc.UseNonStandardTexts)
	writeFixed(&w, tc.SpecialFeatureOptIns, 12)
	writeFixed(&w, tc.PurposesConsent, 24)
	writeFixed(&w, tc.PurposesLITransparency, 24)
	w.bit(tc.PurposeOneTreatment)
	w.letters(tc.PublisherCC)
	writeVendors(&w, tc.VendorConsents)
	writeVendors(&w, tc.VendorLegitimateInterests)
	w.int(uint64(len(tc.PublisherRestrictions)), 12)
	for _, pr := range tc.PublisherRestrictions {
		w.int(uint64(pr.PurposeID), 6)
		w.int(uint64(pr.Type), 2)
		writeRanges(&w, ranges(pr.Vendors))
	}
	out := []string{w.base64()}
	if tc.DisclosedVendors != nil {
		var s bitWriter
		s.int(segDisclosed, 3)
		writeVendors(&s, tc.DisclosedVendors)
		out = append(out, s.base64())
	}
	if tc.AllowedVendors != nil {
		var s bitWriter
		s.int(segAllowed, 3)
		writeVendors(&s, tc.AllowedVendors)
		out = append(out, s.base64())
	}
	if p := tc.PublisherTC; p != nil {
		var s bitWriter
		s.int(segPublisher, 3)
		writeFixed(&s, p.PurposesConsent, 24)
		writeFixed(&s, p.PurposesLITransparency, 24)
		n := 0
		for _, id := range append(slices.Clone(p.CustomPurposesConsent), p.CustomPurposesLITransparency...) {
			n = max(n, id)
		}
		s.int(uint64(n), 6)
		writeFixed(&s, p.CustomPurposesConsent, n)
		writeFixed(&s, p.CustomPurposesLITransparency, n)
		out = append(out, s.base64())
	}
	return strings.Join(out, "."), nil
}

func checkTC(tc TCString) error {
	fields := []struct {
		name  string
		v     int
		width int
	}{
		{"version", tc.Version, 6}, {"cmp_id", tc.CmpID, 12}, {"cmp_version", tc.CmpVersion, 12},
		{"consent_screen", tc.ConsentScreen, 6}, {"vendor_list_version", tc.VendorListVersion, 12},
		{"policy_version", tc.PolicyVersion, 6},
	}
	for _, f := range fields {
		if f.v < 0 || f.v >= 1<<f.width {
			return fmt.Errorf("encode TC string: %s %d does not fit %d bits", f.name, f.v, f.width)
		}
	}
	for _, c := range []struct{ name, v string }{{"consent_language", tc.ConsentLanguage}, {"publisher_cc", tc.PublisherCC}} {
		if !isLetters2(c.v) {
			return fmt.Errorf("encode TC string: %s %q must be two letters", c.name, c.v)
		}
	}
	for _, set := range []struct {
		name string
		ids  []int
		hi   int
	}{
		{"special feature", tc.SpecialFeatureOptIns, 12}, {"purpose", tc.PurposesConsent, 24},
		{"purpose", tc.PurposesLITransparency, 24}, {"vendor", tc.VendorConsents, maxVendorID},
		{"vendor", tc.VendorLegitimateInterests, maxVendorID}, {"vendor", tc.DisclosedVendors, maxVendorID},
		{"vendor", tc.AllowedVendors, maxVendorID},
	} {
		for _, id := range set.ids {
			if id < 1 || id > set.hi {
				return fmt.Errorf("encode TC string: %s id %d is not from 1 to %d", set.name, id, set.hi)
			}
		}
	}
	if len(tc.PublisherRestrictions) >= 1<<12 {
		return errors.New("encode TC string: too many publisher restrictions")
	}
	return nil
}

func isLetters2(s string) bool {
	if len(s) != 2 {
		return false
	}
	for i := 0; i < 2; i++ {
		if c := s[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

func deciseconds(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli() / 100
}

// writeFixed writes n bits, bit i-1 set when id i is in ids.
func writeFixed(w *bitWriter, ids []int, n int) {
	set := make([]bool, n+1)
	for _, id := range ids {
		if id >= 1 && id <= n {
			set[id] = true
		}
	}
	for i := 1; i <= n; i++ {
		w.bit(set[i])
	}
}

// vendorSectionBits returns the length in bits of both encodings of a
// vendor section: MaxVendorId (16) and IsRangeEncoding (1), then a bit per
// vendor up to the largest, or NumEntries (12) and per entry IsARange (1),
// the first id (16) and, for a real range, the last (16).
func vendorSectionBits(ids []int) (bitField, rangeBits int) {
	maxID := 0
	if len(ids) > 0 {
		maxID = ids[len(ids)-1]
	}
	bitField = 17 + maxID
	rangeBits = 17 + 12
	for _, r := range ranges(ids) {
		rangeBits += 17
		if r[1] > r[0] {
			rangeBits += 16
		}
	}
	return bitField, rangeBits
}

// writeVendors writes a vendor section in the shorter encoding.
func writeVendors(w *bitWriter, ids []int) string {
	ids = sortedUnique(ids)
	maxID := 0
	if len(ids) > 0 {
		maxID = ids[len(ids)-1]
	}
	bitField, rangeBits := vendorSectionBits(ids)
	w.int(uint64(maxID), 16)
	if rangeBits < bitField {
		w.bit(true)
		writeRanges(w, ranges(ids))
		return EncodingRange
	}
	w.bit(false)
	writeFixed(w, ids, maxID)
	return EncodingBitField
}

func writeRanges(w *bitWriter, rs [][2]int) {
	w.int(uint64(len(rs)), 12)
	for _, r := range rs {
		w.bit(r[1] > r[0])
		w.int(uint64(r[0]), 16)
		if r[1] > r[0] {
			w.int(uint64(r[1]), 16)
		}
	}
}

// ranges groups sorted ids into runs [first, last].
func ranges(ids []int) [][2]int {
	ids = sortedUnique(ids)
	var out [][2]int
	for _, id := range ids {
		if n := len(out); n > 0 && out[n-1][1] == id-1 {
			out[n-1][1] = id
			continue
		}
		out = append(out, [2]int{id, id})
	}
	return out
}

func sortedUnique(ids []int) []int {
	if slices.IsSorted(ids) && !hasDup(ids) {
		return ids
	}
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}

func hasDup(sorted []int) bool {
	for i := 1; i < len(sorted); i++ {
		if sorted[i] == sorted[i-1] {
			return true
		}
	}
	return false
}

// maxTCLength bounds what DecodeTC reads: a TC string with every vendor of
// a 65,535-id bit field is about 11 KB in each of its segments.
const maxTCLength = 64 << 10

// DecodeTC decodes a TC string of version 2: the core segment fully, and
// the disclosed-vendors, allowed-vendors and publisher-TC segments; a
// segment of another type is skipped and named in Segments. Errors say
// which field could not be read, never the string.
func DecodeTC(s string) (TCString, error) {
	if len(s) > maxTCLength {
		return TCString{}, fmt.Errorf("decode TC string: longer than %d bytes", maxTCLength)
	}
	parts := strings.Split(s, ".")
	tc, err := decodeCore(parts[0])
	if err != nil {
		return TCString{}, fmt.Errorf("decode TC string: core segment: %w", err)
	}
	tc.Segments = []string{"core"}
	for i, part := range parts[1:] {
		r, err := newBitReader(part)
		if err != nil {
			return TCString{}, fmt.Errorf("decode TC string: segment %d: %w", i+2, err)
		}
		t, err := r.int(3)
		if err != nil {
			return TCString{}, fmt.Errorf("decode TC string: segment %d: %w", i+2, err)
		}
		name := segmentName(int(t))
		tc.Segments = append(tc.Segments, name)
		switch t {
		case segDisclosed:
			tc.DisclosedVendors, _, err = readVendors(r)
			tc.DisclosedVendors = nonNil(tc.DisclosedVendors)
		case segAllowed:
			tc.AllowedVendors, _, err = readVendors(r)
			tc.AllowedVendors = nonNil(tc.AllowedVendors)
		case segPublisher:
			tc.PublisherTC, err = readPublisherTC(r)
		}
		if err != nil {
			return TCString{}, fmt.Errorf("decode TC string: %s segment: %w", name, err)
		}
	}
	return tc, nil
}

func nonNil(ids []int) []int {
	if ids == nil {
		return []int{}
	}
	return ids
}

func decodeCore(s string) (TCString, error) {
	r, err := newBitReader(s)
	if err != nil {
		return TCString{}, err
	}
	var tc TCString
	v, err := r.int(6)
	if err != nil {
		return tc, err
	}
	tc.Version = int(v)
	if tc.Version != 2 {
		return tc, fmt.Errorf("version %d: only TCF v2 strings (version 2) are read", tc.Version)
	}
	field := func(name string, width int) int {
		if err != nil {
			return 0
		}
		var x uint64
		x, err = r.int(width)
		if err != nil {
			err = fmt.Errorf("%s: %w", name, err)
		}
		return int(x)
	}
	created := field("Created", 36)
	updated := field("LastUpdated", 36)
	tc.Created, tc.LastUpdated = fromDeciseconds(created), fromDeciseconds(updated)
	tc.CmpID = field("CmpId", 12)
	tc.CmpVersion = field("CmpVersion", 12)
	tc.ConsentScreen = field("ConsentScreen", 6)
	if err == nil {
		if tc.ConsentLanguage, err = r.letters(); err != nil {
			err = fmt.Errorf("ConsentLanguage: %w", err)
		}
	}
	tc.VendorListVersion = field("VendorListVersion", 12)
	tc.PolicyVersion = field("TcfPolicyVersion", 6)
	tc.IsServiceSpecific = field("IsServiceSpecific", 1) == 1
	tc.UseNonStandardTexts = field("UseNonStandardTexts", 1) == 1
	if err != nil {
		return tc, err
	}
	if tc.SpecialFeatureOptIns, err = readFixed(r, 12); err != nil {
		return tc, fmt.Errorf("SpecialFeatureOptIns: %w", err)
	}
	if tc.PurposesConsent, err = readFixed(r, 24); err != nil {
		return tc, fmt.Errorf("PurposesConsent: %w", err)
	}
	if tc.PurposesLITransparency, err = readFixed(r, 24); err != nil {
		return tc, fmt.Errorf("PurposesLITransparency: %w", err)
	}
	tc.PurposeOneTreatment = field("PurposeOneTreatment", 1) == 1
	if err != nil {
		return tc, err
	}
	if tc.PublisherCC, err = r.letters(); err != nil {
		return tc, fmt.Errorf("PublisherCC: %w", err)
	}
	if tc.VendorConsents, tc.VendorConsentsEncoding, err = readVendors(r); err != nil {
		return tc, fmt.Errorf("vendor consent section: %w", err)
	}
	if tc.VendorLegitimateInterests, tc.VendorLIEncoding, err = readVendors(r); err != nil {
		return tc, fmt.Errorf("vendor legitimate interest section: %w", err)
	}
	n := field("NumPubRestrictions", 12)
	if err != nil {
		return tc, err
	}
	for i := 0; i < n; i++ {
		var pr PublisherRestriction
		pr.PurposeID = field("PurposeId", 6)
		pr.Type = field("RestrictionType", 2)
		if err != nil {
			return tc, fmt.Errorf("publisher restriction %d: %w", i+1, err)
		}
		if pr.Vendors, err = readRanges(r); err != nil {
			return tc, fmt.Errorf("publisher restriction %d: %w", i+1, err)
		}
		tc.PublisherRestrictions = append(tc.PublisherRestrictions, pr)
	}
	return tc, nil
}

func fromDeciseconds(ds int) time.Time {
	return time.UnixMilli(int64(ds) * 100).UTC()
}

func readFixed(r *bitReader, n int) ([]int, error) {
	out := []int{}
	for i := 1; i <= n; i++ {
		b, err := r.bit()
		if err != nil {
			return nil, err
		}
		if b {
			out = append(out, i)
		}
	}
	return out, nil
}

func readVendors(r *bitReader) ([]int, string, error) {
	maxID, err := r.int(16)
	if err != nil {
		return nil, "", fmt.Errorf("MaxVendorId: %w", err)
	}
	isRange, err := r.bit()
	if err != nil {
		return nil, "", fmt.Errorf("IsRangeEncoding: %w", err)
	}
	if isRange {
		ids, err := readRanges(r)
		if err != nil {
			return nil, "", err
		}
		for _, id := range ids {
			if id > int(maxID) {
				return nil, "", fmt.Errorf("vendor %d is beyond MaxVendorId %d", id, maxID)
			}
		}
		return ids, EncodingRange, nil
	}
	ids, err := readFixed(r, int(maxID))
	if err != nil {
		return nil, "", fmt.Errorf("bit field of %d vendors: %w", maxID, err)
	}
	return ids, EncodingBitField, nil
}

// readRanges reads NumEntries and the range entries into sorted ids.
func readRanges(r *bitReader) ([]int, error) {
	n, err := r.int(12)
	if err != nil {
		return nil, fmt.Errorf("NumEntries: %w", err)
	}
	var set []bool
	for i := 0; i < int(n); i++ {
		isRange, err := r.bit()
		if err != nil {
			return nil, fmt.Errorf("range entry %d: %w", i+1, err)
		}
		first, err := r.int(16)
		if err != nil {
			return nil, fmt.Errorf("range entry %d: %w", i+1, err)
		}
		last := first
		if isRange {
			if last, err = r.int(16); err != nil {
				return nil, fmt.Errorf("range entry %d: %w", i+1, err)
			}
			if last < first {
				return nil, fmt.Errorf("range entry %d: ends (%d) before it starts (%d)", i+1, last, first)
			}
		}
		if first == 0 {
			return nil, fmt.Errorf("range entry %d: vendor id 0", i+1)
		}
		if int(last) >= len(set) {
			set = append(set, make([]bool, int(last)+1-len(set))...)
		}
		for id := first; id <= last; id++ {
			set[id] = true
		}
	}
	out := []int{}
	for id, ok := range set {
		if ok {
			out = append(out, id)
		}
	}
	return out, nil
}

func readPublisherTC(r *bitReader) (*PublisherTC, error) {
	var p PublisherTC
	var err error
	if p.PurposesConsent, err = readFixed(r, 24); err != nil {
		return nil, fmt.Errorf("PubPurposesConsent: %w", err)
	}
	if p.PurposesLITransparency, err = readFixed(r, 24); err != nil {
		return nil, fmt.Errorf("PubPurposesLITransparency: %w", err)
	}
	n, err := r.int(6)
	if err != nil {
		return nil, fmt.Errorf("NumCustomPurposes: %w", err)
	}
	if p.CustomPurposesConsent, err = readFixed(r, int(n)); err != nil {
		return nil, fmt.Errorf("CustomPurposesConsent: %w", err)
	}
	if p.CustomPurposesLITransparency, err = readFixed(r, int(n)); err != nil {
		return nil, fmt.Errorf("CustomPurposesLITransparency: %w", err)
	}
	return &p, nil
}
