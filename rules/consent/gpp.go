package consent

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// The IAB Global Privacy Platform string (GPP, "Consent String
// Specification" v1): a header, then one section per applicable signal,
// joined by "~". The header is Type (6 bits, 3), Version (6 bits, 1) and the
// section ids as a Fibonacci range: NumberOfEntries (12 bits), then per
// entry IsARange (1 bit) and Fibonacci-coded ids, each an offset from the
// previous id (a range's end an offset from its start).

// GPPSectionTCFEU is the section id of the EU TCF v2 section.
const GPPSectionTCFEU = 2

// gppSectionNames are the section ids of the GPP section list
// ("Section Information.md").
var gppSectionNames = map[int]string{
	1: "tcfeuv1", 2: "tcfeuv2", 3: "header", 4: "signal-integrity", 5: "tcfcav1", 6: "uspv1", 7: "usnat",
	8: "usca", 9: "usva", 10: "usco", 11: "usut", 12: "usct", 13: "usfl", 14: "usmt", 15: "usor",
	16: "ustx", 17: "usde", 18: "usia", 19: "usne", 20: "usnh", 21: "usnj", 22: "ustn", 23: "usmn",
}

// GPPSectionName names a GPP section id ("tcfeuv2"), "section N" when
// unknown.
func GPPSectionName(id int) string {
	if n, ok := gppSectionNames[id]; ok {
		return n
	}
	return "section " + strconv.Itoa(id)
}

// GPPString is a decoded GPP string.
type GPPString struct {
	Type       int          `json:"type"`
	Version    int          `json:"version"`
	SectionIDs []int        `json:"section_ids"`
	Sections   []GPPSection `json:"sections"`
}

// GPPSection is one section of a GPP string. Only the EU TCF v2 section is
// decoded (TCF); the others are named and their length given.
type GPPSection struct {
	ID     int       `json:"id"`
	Name   string    `json:"name"`
	Length int       `json:"length"`
	TCF    *TCString `json:"tcf,omitempty"`
}

// EncodeGPPHeader encodes a GPP header for the section ids (sorted; they
// must be at least 1).
func EncodeGPPHeader(ids []int) (string, error) {
	ids = sortedUnique(ids)
	for _, id := range ids {
		if id < 1 {
			return "", fmt.Errorf("encode GPP header: section id %d must be at least 1", id)
		}
	}
	var w bitWriter
	w.int(3, 6)
	w.int(1, 6)
	rs := ranges(ids)
	w.int(uint64(len(rs)), 12)
	prev := 0
	for _, r := range rs {
		if r[1] > r[0] {
			w.bit(true)
			w.fibonacci(r[0] - prev)
			w.fibonacci(r[1] - r[0])
		} else {
			w.bit(false)
			w.fibonacci(r[0] - prev)
		}
		prev = r[1]
	}
	return w.base64(), nil
}

// EncodeGPP builds a GPP string from sections by id: the header, then the
// sections in id order.
func EncodeGPP(sections map[int]string) (string, error) {
	ids := make([]int, 0, len(sections))
	for id, s := range sections {
		if s == "" || strings.Contains(s, "~") {
			return "", fmt.Errorf("encode GPP string: section %d is empty or holds \"~\"", id)
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	header, err := EncodeGPPHeader(ids)
	if err != nil {
		return "", err
	}
	parts := []string{header}
	for _, id := range ids {
		parts = append(parts, sections[id])
	}
	return strings.Join(parts, "~"), nil
}

// maxGPPSections bounds the header's NumberOfEntries and the ids a range
// may expand to: there are a few dozen sections in the world.
const maxGPPSections = 1024

// DecodeGPPHeader decodes a GPP header into its type, version and section
// ids.
func DecodeGPPHeader(s string) (typ, version int, ids []int, err error) {
	r, err := newBitReader(s)
	if err != nil {
		return 0, 0, nil, fmt.Errorf("decode GPP header: %w", err)
	}
	t, err1 := r.int(6)
	v, err2 := r.int(6)
	n, err3 := r.int(12)
	if err := errors.Join(err1, err2, err3); err != nil {
		return 0, 0, nil, fmt.Errorf("decode GPP header: %w", errShort)
	}
	if t != 3 {
		return 0, 0, nil, fmt.Errorf("decode GPP header: type %d, want 3", t)
	}
	ids = []int{}
	prev := 0
	for i := 0; i < int(n); i++ {
		isRange, err := r.bit()
		if err != nil {
			return 0, 0, nil, fmt.Errorf("decode GPP header: entry %d: %w", i+1, err)
		}
		start, err := r.fibonacci()
		if err != nil {
			return 0, 0, nil, fmt.Errorf("decode GPP header: entry %d: %w", i+1, err)
		}
		start += prev
		end := start
		if isRange {
			d, err := r.fibonacci()
			if err != nil {
				return 0, 0, nil, fmt.Errorf("decode GPP header: entry %d: %w", i+1, err)
			}
			end = start + d
		}
		if end-start+len(ids) > maxGPPSections || end > 1<<20 {
			return 0, 0, nil, fmt.Errorf("decode GPP header: more than %d section ids", maxGPPSections)
		}
		for id := start; id <= end; id++ {
			ids = append(ids, id)
		}
		prev = end
	}
	return int(t), int(v), ids, nil
}

// DecodeGPP decodes a GPP string: the header, and the EU TCF v2 section;
// other sections are named but not decoded. A section that does not decode
// is an error naming its id.
func DecodeGPP(s string) (GPPString, error) {
	if len(s) > maxTCLength*2 {
		return GPPString{}, fmt.Errorf("decode GPP string: longer than %d bytes", maxTCLength*2)
	}
	parts := strings.Split(s, "~")
	typ, version, ids, err := DecodeGPPHeader(parts[0])
	if err != nil {
		return GPPString{}, err
	}
	g := GPPString{Type: typ, Version: version, SectionIDs: ids}
	if len(parts)-1 != len(ids) {
		return g, fmt.Errorf("decode GPP string: the header lists %d sections, the string has %d", len(ids), len(parts)-1)
	}
	for i, id := range ids {
		sec := GPPSection{ID: id, Name: GPPSectionName(id), Length: len(parts[i+1])}
		if id == GPPSectionTCFEU {
			tc, err := DecodeTC(parts[i+1])
			if err != nil {
				return g, fmt.Errorf("decode GPP string: section %d (%s): %w", id, sec.Name, err)
			}
			sec.TCF = &tc
		}
		g.Sections = append(g.Sections, sec)
	}
	return g, nil
}

// TCF returns the EU TCF v2 section, nil when there is none.
func (g GPPString) TCF() *TCString {
	for _, s := range g.Sections {
		if s.TCF != nil {
			return s.TCF
		}
	}
	return nil
}

// ParseGPPSID reads a gpp_sid value: section ids joined by "," (URL
// parameters) or "_" (some CMPs' cookies).
func ParseGPPSID(s string) ([]int, error) {
	var out []int
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '_' }) {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < -1 || n > 1<<20 {
			return nil, fmt.Errorf("gpp_sid %q: %q is not a section id", short(s), short(f))
		}
		out = append(out, n)
	}
	return out, nil
}

// short cuts a value for messages: consent strings are long, and messages
// quote only enough to recognise them.
func short(s string) string {
	if len(s) <= 24 {
		return s
	}
	return s[:20] + "..."
}
