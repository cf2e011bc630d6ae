package rules

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v3"
)

// The Open Cookie Database CSV (github.com/jkwakman/Open-Cookie-Database)
// maps cookie names to a platform and a consent category. ImportOCD turns
// it into a rules file.

// ocdColumns is the header ImportOCD expects, in order.
func ocdColumns() []string {
	return []string{"ID", "Platform", "Category", "Cookie / Data Key name", "Domain", "Description",
		"Retention period", "Data Controller", "User Privacy & GDPR Rights Portals", "Wildcard match"}
}

// ocdCategory maps an OCD category to ours. OCD has no advertising or social
// category: both are "Marketing", which we read as advertising.
func ocdCategory(c string) (Category, bool) {
	switch strings.TrimSpace(c) {
	case "Analytics":
		return Analytics, true
	case "Marketing":
		return Advertising, true
	case "Functional", "Personalization":
		return Functional, true
	case "Security", "Necessary":
		return Essential, true
	}
	return "", false
}

// ocdRestrictiveness orders our categories for resolving two OCD rows that
// give one name (and scope) different categories: the one a profile is
// least likely to allow wins, because a refused cookie must not get through.
func ocdRestrictiveness(c Category) int {
	switch c {
	case Essential:
		return 0
	case Functional:
		return 1
	case Analytics:
		return 2
	}
	return 3
}

// OCDImport is the result of ImportOCD.
type OCDImport struct {
	// YAML is the rules file.
	YAML []byte
	// Rows is the number of data rows read; Rules the cookie rules written
	// (one per row kept), Scoped how many of them carry a domains scope,
	// Vendors the vendor entries (one per platform).
	Rows, Rules, Scoped, Vendors int
	Skipped                      []OCDSkip
}

// OCDSkip is a row ImportOCD did not turn into a rule.
type OCDSkip struct {
	Line   int // line in the CSV (the header is line 1)
	Name   string
	Reason string
}

// ImportOCD converts an Open Cookie Database CSV into a rules file. source
// names the input in the generated header. Categories: Analytics →
// analytics, Marketing → advertising, Functional and Personalization →
// functional, Security and Necessary → essential. Wildcard rows become
// prefix patterns ("_ga_" → "_ga_*"). Each platform becomes a vendor entry
// without services. See the header of the generated file for how names and
// the Domain column are treated. Rows that cannot become a rule are listed
// in Skipped with the reason; only an unreadable input is an error.
func ImportOCD(r io.Reader, source string) (*OCDImport, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = false
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("read the Open Cookie Database header: %w", err)
	}
	want := ocdColumns()
	if len(header) < len(want) {
		return nil, fmt.Errorf("not an Open Cookie Database CSV: the header has %d columns, want %d (%s)", len(header), len(want), strings.Join(want, ", "))
	}
	for i, w := range want {
		if strings.TrimSpace(strings.TrimPrefix(header[i], "\ufeff")) != w {
			return nil, fmt.Errorf("not an Open Cookie Database CSV: column %d is %q, want %q", i+1, header[i], w)
		}
	}

	im := &OCDImport{}
	type row struct {
		line                     int
		id, name, vendor, domain string
		category                 Category
	}
	var rows []*row
	byKey := map[string]*row{}
	vendors := map[string]VendorSpec{}
	vendorLine := map[string]int{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				im.Rows++
				im.Skipped = append(im.Skipped, OCDSkip{Line: pe.StartLine, Reason: "malformed CSV: " + pe.Err.Error()})
				continue
			}
			return nil, fmt.Errorf("read the Open Cookie Database: %w", err)
		}
		// Only now: FieldPos panics for a record that failed to parse.
		line, _ := cr.FieldPos(0)
		im.Rows++
		skip := func(name, format string, args ...any) {
			im.Skipped = append(im.Skipped, OCDSkip{Line: line, Name: name, Reason: fmt.Sprintf(format, args...)})
		}
		if len(rec) < len(want) {
			skip("", "%d columns, want %d", len(rec), len(want))
			continue
		}
		rawName := rec[3]
		name := cleanOCDText(rawName)
		if name == "" {
			skip(rawName, "empty cookie name")
			continue
		}
		cat, ok := ocdCategory(rec[2])
		if !ok {
			skip(name, "unknown category %q (known: Analytics, Marketing, Functional, Personalization, Security, Necessary)", rec[2])
			continue
		}
		switch strings.TrimSpace(rec[9]) {
		case "1":
			if strings.Contains(strings.TrimSuffix(name, "*"), "*") {
				skip(name, "wildcard name with '*' inside it: only a prefix can be a wildcard")
				continue
			}
			if !strings.HasSuffix(name, "*") {
				name += "*"
			}
		case "0", "":
			if strings.Contains(name, "*") {
				skip(name, "the name contains '*' but the row is not a wildcard row, and '*' cannot be a literal character in a rules file")
				continue
			}
		default:
			skip(name, "Wildcard match is %q, want 0 or 1", rec[9])
			continue
		}
		if _, err := parseCookiePattern(name); err != nil {
			skip(name, "%v", err)
			continue
		}
		domain := ocdDomain(rec[4])
		vendorID := ocdVendorID(rec[1])
		if vendorID != "" {
			if _, seen := vendors[vendorID]; !seen {
				vs := VendorSpec{ID: vendorID, Name: strings.TrimSpace(rec[1])}
				if u := strings.TrimSpace(rec[8]); strings.HasPrefix(u, "http") {
					vs.Sources = []string{u}
				}
				vendors[vendorID] = vs
				vendorLine[vendorID] = line
			}
		}
		r := &row{line: line, id: strings.TrimSpace(rec[0]), name: name, vendor: vendorID, domain: domain, category: cat}
		key := name + "\x00" + domain
		if prev := byKey[key]; prev != nil {
			if prev.category == cat {
				skip(name, "duplicate of line %d (same name, scope and category)", prev.line)
				continue
			}
			if ocdRestrictiveness(cat) > ocdRestrictiveness(prev.category) {
				im.Skipped = append(im.Skipped, OCDSkip{Line: prev.line, Name: prev.name,
					Reason: fmt.Sprintf("conflicts with line %d (%s vs %s); kept the more restrictive %s", line, prev.category, cat, cat)})
				*prev = *r
				continue
			}
			skip(name, "conflicts with line %d (%s vs %s); kept the more restrictive %s", prev.line, cat, prev.category, prev.category)
			continue
		}
		byKey[key] = r
		rows = append(rows, r)
	}
	sort.SliceStable(im.Skipped, func(i, j int) bool { return im.Skipped[i].Line < im.Skipped[j].Line })

	// The document is built as YAML nodes so that every name, however odd
	// its characters, is quoted correctly.
	doc := &yaml.Node{Kind: yaml.DocumentNode}
	root := &yaml.Node{Kind: yaml.MappingNode}
	doc.Content = []*yaml.Node{root}
	addKV := func(m *yaml.Node, k string, v *yaml.Node) {
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k}, v)
	}
	str := func(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: s, Tag: "!!str"} }
	flow := func(items ...string) *yaml.Node {
		n := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for _, it := range items {
			n.Content = append(n.Content, str(it))
		}
		return n
	}
	addKV(root, "version", &yaml.Node{Kind: yaml.ScalarNode, Value: strconv.Itoa(FormatVersion), Tag: "!!int"})

	ids := make([]string, 0, len(vendors))
	for id := range vendors {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	vlist := &yaml.Node{Kind: yaml.SequenceNode}
	for _, id := range ids {
		vs := vendors[id]
		m := &yaml.Node{Kind: yaml.MappingNode}
		addKV(m, "id", str(vs.ID))
		addKV(m, "name", str(vs.Name))
		if len(vs.Sources) > 0 {
			addKV(m, "sources", flow(vs.Sources...))
		}
		vlist.Content = append(vlist.Content, m)
	}
	if len(ids) > 0 {
		addKV(root, "vendors", vlist)
	}
	clist := &yaml.Node{Kind: yaml.SequenceNode}
	for _, r := range rows {
		m := &yaml.Node{Kind: yaml.MappingNode}
		addKV(m, "names", flow(r.name))
		addKV(m, "category", str(string(r.category)))
		if r.vendor != "" {
			addKV(m, "vendor", str(r.vendor))
		}
		if r.domain != "" {
			addKV(m, "domains", flow(r.domain))
			im.Scoped++
		}
		src := "OCD line " + strconv.Itoa(r.line)
		if r.id != "" {
			src = "OCD " + r.id
		}
		addKV(m, "source", str(src))
		clist.Content = append(clist.Content, m)
	}
	addKV(root, "cookies", clist)
	im.Rules = len(rows)
	im.Vendors = len(ids)
	doc.HeadComment = ocdHeader(source, im)

	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("write the rules file: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("write the rules file: %w", err)
	}
	im.YAML = buf.Bytes()
	return im, nil
}

func ocdHeader(source string, im *OCDImport) string {
	lines := []string{
		"Generated by `consentproxy rules import-ocd` from " + source + ":",
		"the Open Cookie Database (github.com/jkwakman/Open-Cookie-Database,",
		"Apache-2.0; keep its LICENSE with this file). Re-run the import rather",
		"than editing by hand.",
		"",
		"Categories: Analytics -> analytics; Marketing -> advertising (OCD files",
		"ads and social under Marketing); Functional, Personalization ->",
		"functional; Security, Necessary -> essential.",
		"Names are trimmed of whitespace and invisible characters (a trailing tab,",
		"a soft hyphen); wildcard rows become prefix patterns (\"_ga_\" -> \"_ga_*\").",
		"A '*' in a non-wildcard row cannot be written literally, so such rows are",
		"skipped. Each platform is a vendor without services (OCD has no endpoints).",
		"",
		"Scope: a row whose Domain column is a clean host name (\".taboola.com\",",
		"\"clarity.ms\") applies only on that host and its subdomains (domains:).",
		"Many OCD names are short and generic (c, u, g, ts, token) and several",
		"vendors use the same one; unscoped, such a rule would categorise every",
		"site's own cookie of that name. Rows whose Domain is empty or free text",
		"(\"facebook.com (3rd party)\") apply on every host. OCD's Domain is",
		"sometimes the vendor's domain for a cookie its script writes on the site",
		"(_clck on clarity.ms); a scoped rule does not catch that cookie on the",
		"site itself, so load the built-in rules underneath (they list such names",
		"unscoped). The same name and scope with two categories keeps the more",
		"restrictive one (advertising > analytics > functional > essential).",
		"",
		fmt.Sprintf("Rows: %d read, %d rules written (%d scoped), %d skipped; %d vendors.",
			im.Rows, im.Rules, im.Scoped, len(im.Skipped), im.Vendors),
	}
	return strings.Join(lines, "\n")
}

// cleanOCDText trims whitespace and drops invisible format characters
// (soft hyphen U+00AD, zero-width space U+200B, BOM), which a cookie name
// on the wire would not contain.
func cleanOCDText(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// ocdDomain returns the Domain column as a host pattern when it is a clean
// host name (after trimming whitespace, invisible characters and a leading
// '.'), else "".
func ocdDomain(raw string) string {
	d := strings.TrimPrefix(strings.ToLower(cleanOCDText(raw)), ".")
	if d == "" {
		return ""
	}
	if _, err := parseHostPattern(d); err != nil {
		return ""
	}
	return d
}

// ocdVendorID turns a platform name into a vendor id: lower-case letters
// and digits, other runs of characters as one '-'.
func ocdVendorID(platform string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(cleanOCDText(platform)) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			dash = false
			continue
		}
		dash = true
	}
	id := b.String()
	if len(id) > 64 {
		id = strings.TrimRight(id[:64], "-")
	}
	return id
}
