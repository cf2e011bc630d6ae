package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// maxErrors caps the problems reported for one file: past it, a file is
// probably not a config at all, and a screenful more says nothing new.
const maxErrors = 50

// maxMergeDepth bounds nested YAML merge keys (<<). The parser can build
// a mapping that merges itself (`&a {<<: *a}`); without a bound that would
// recurse forever.
const maxMergeDepth = 16

// Load reads the YAML config file at path over Default(). Decoding is
// strict: unknown keys, wrong types and duplicate keys are errors. Every
// error starts with "path:line: " and names the key; all of them are
// returned at once (errors.Join, one per line). An empty file means all
// defaults. Relative paths in path settings (rules, data_dir, ca_cert,
// ca_key, upstream_ca) are taken relative to the file's directory.
//
// Load does not validate values (see Validate) and does not read the
// environment or flags (see Resolve).
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config file: %w", err)
	}
	return Parse(path, data)
}

// Parse is Load for a file already read: name is the path used in messages
// and for relative paths.
func Parse(name string, data []byte) (Config, error) {
	cfg := Default()
	cfg.File = name
	cfg.origins = make(map[string]Origin)

	root, err := parseDocument(name, data)
	if err != nil {
		return Config{}, err
	}
	if root == nil {
		return cfg, nil
	}
	l := &loader{file: name, dir: filepath.Dir(name), cfg: &cfg}
	l.top(root)
	if len(l.errs) > 0 {
		slices.SortStableFunc(l.errs, func(a, b lineError) int { return a.line - b.line })
		errs := make([]error, len(l.errs))
		for i, e := range l.errs {
			errs[i] = e.err
		}
		if len(errs) > maxErrors {
			more := len(errs) - maxErrors
			errs = append(errs[:maxErrors:maxErrors], fmt.Errorf("%s: %d more errors not shown", name, more))
		}
		return Config{}, errors.Join(errs...)
	}
	return cfg, nil
}

// parseDocument returns the root node of the only YAML document in data,
// or nil when there is none (an empty file, or only comments, or null).
func parseDocument(name string, data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, syntaxError(name, data, err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		return nil, fmt.Errorf("%s:%d: a second YAML document (after ---) is not allowed; keep all settings in one document", name, extra.Line)
	case !errors.Is(err, io.EOF):
		return nil, syntaxError(name, data, err)
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	root, err := resolveAlias(doc.Content[0])
	if err != nil {
		return nil, fmt.Errorf("%s:%d: %w", name, doc.Content[0].Line, err)
	}
	if isNull(root) {
		return nil, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: the file must be a mapping of settings (key: value), not %s", name, root.Line, describe(root))
	}
	return root, nil
}

// syntaxError turns the parser's "yaml: line 3: msg" into "name:3: msg",
// with the line corrected (see syntaxLine).
func syntaxError(name string, data []byte, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, text, ok := strings.Cut(rest, ": "); ok {
			if line, nerr := strconv.Atoi(num); nerr == nil {
				return fmt.Errorf("%s:%d: invalid YAML: %s", name, syntaxLine(data, line, text), text)
			}
		}
	}
	return fmt.Errorf("%s: invalid YAML: %s", name, msg)
}

// maxSyntaxScan bounds the lines syntaxLine re-parses, so that a huge
// broken file costs one parse per line at most this many times.
const maxSyntaxScan = 200

// syntaxLine finds the line of a syntax error. yaml.v3 reports, for parser
// errors, the zero-based line of the enclosing construct ("line 1" for a
// "[" left open on line 2, or for a bad key on line 3 of a mapping that
// starts on line 2), which sends the reader to the wrong place. The real
// line is at or after the reported one: it is the first line whose prefix
// of the file fails with the same message.
func syntaxLine(data []byte, reported int, msg string) int {
	lines := bytes.SplitAfter(data, []byte("\n"))
	end := 0
	for i := range min(reported-1, len(lines)) {
		end += len(lines[i])
	}
	for k := max(reported, 1); k <= len(lines) && k < reported+maxSyntaxScan; k++ {
		end += len(lines[k-1])
		if err := decodeAll(data[:end]); err != nil && strings.HasSuffix(err.Error(), ": "+msg) {
			return k
		}
	}
	return reported
}

// decodeAll parses every document of data and returns the first error.
func decodeAll(data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		if err := dec.Decode(&n); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// loader walks the YAML tree itself, rather than letting yaml.v3 decode
// into the struct, because only the tree knows lines: every message can
// then say where, and every value can remember where it was written.
type loader struct {
	file string
	dir  string
	cfg  *Config
	errs []lineError
	// merged memoizes the entries of mappings reached through merge keys.
	// Without it `<<: [*a, *a, ...]` nested a few levels deep is a YAML
	// bomb: each level multiplies the work.
	merged map[*yaml.Node][]entry
}

// lineError is a problem and its line, to report problems in file order
// whatever order the walk found them in.
type lineError struct {
	line int
	err  error
}

func (l *loader) errorf(n *yaml.Node, format string, args ...any) {
	err := fmt.Errorf("%s:%d: %s", l.file, n.Line, fmt.Sprintf(format, args...))
	l.errs = append(l.errs, lineError{n.Line, err})
}

func (l *loader) record(key string, n *yaml.Node) {
	l.cfg.origins[key] = Origin{File: l.file, Line: n.Line}
}

// entry is one key: value pair of a mapping.
type entry struct {
	key, val *yaml.Node
	name     string
}

// entries returns the pairs of mapping n in order, with merge keys (<<)
// expanded as YAML defines them: a key written in n wins over a merged
// one, and among merged mappings the first wins. A key written twice in n
// is an error, because one of the two values would be silently lost.
func (l *loader) entries(n *yaml.Node, depth int) []entry {
	var out, merged []entry
	first := make(map[string]int)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, err := resolveAlias(n.Content[i])
		if err != nil {
			l.errorf(n.Content[i], "%v", err)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			l.errorf(k, "a key must be a name, not %s", describe(k))
			continue
		}
		v := n.Content[i+1]
		if k.ShortTag() == "!!merge" {
			merged = append(merged, l.merge(v, depth)...)
			continue
		}
		if line, dup := first[k.Value]; dup {
			l.errorf(k, "duplicate key %q (first at line %d); keep one", k.Value, line)
			continue
		}
		first[k.Value] = k.Line
		out = append(out, entry{key: k, val: v, name: k.Value})
	}
	for _, e := range merged {
		if _, ok := first[e.name]; !ok {
			first[e.name] = e.key.Line
			out = append(out, e)
		}
	}
	return out
}

// merge returns the pairs merged in by "<<: v".
func (l *loader) merge(v *yaml.Node, depth int) []entry {
	if depth >= maxMergeDepth {
		l.errorf(v, "merge keys (<<) nested more than %d deep", maxMergeDepth)
		return nil
	}
	r, err := resolveAlias(v)
	if err != nil {
		l.errorf(v, "%v", err)
		return nil
	}
	switch r.Kind {
	case yaml.MappingNode:
		return l.mergedEntries(r, depth+1)
	case yaml.SequenceNode:
		var out []entry
		seen := make(map[string]bool)
		for _, item := range r.Content {
			m, err := resolveAlias(item)
			if err != nil {
				l.errorf(item, "%v", err)
				continue
			}
			if m.Kind != yaml.MappingNode {
				l.errorf(m, "<< merges mappings, not %s", describe(m))
				continue
			}
			for _, e := range l.mergedEntries(m, depth+1) {
				if !seen[e.name] {
					seen[e.name] = true
					out = append(out, e)
				}
			}
		}
		return out
	}
	l.errorf(r, "<< merges a mapping or a list of mappings, not %s", describe(r))
	return nil
}

// mergedEntries is entries for a mapping merged in, computed once per node.
func (l *loader) mergedEntries(m *yaml.Node, depth int) []entry {
	if e, ok := l.merged[m]; ok {
		return e
	}
	e := l.entries(m, depth)
	if l.merged == nil {
		l.merged = make(map[*yaml.Node][]entry)
	}
	l.merged[m] = e
	return e
}

// mapping resolves n and returns its entries; null is an empty mapping.
func (l *loader) mapping(n *yaml.Node, key string) ([]entry, bool) {
	r, err := resolveAlias(n)
	if err != nil {
		l.errorf(n, "%s: %v", key, err)
		return nil, false
	}
	if isNull(r) {
		return nil, true
	}
	if r.Kind != yaml.MappingNode {
		l.errorf(r, "%s: want a mapping (key: value), got %s", key, describe(r))
		return nil, false
	}
	return l.entries(r, 0), true
}

// unknown reports a key that is not valid where it is written.
func (l *loader) unknown(k *yaml.Node, name, where string, valid []string, elsewhere string) {
	in := ""
	if where != "" {
		in = " in " + where
	}
	switch s := suggest(name, valid); {
	case s != "":
		l.errorf(k, "unknown key %q%s (did you mean %q?)", name, in, s)
	case elsewhere != "":
		l.errorf(k, "unknown key %q%s (did you mean %q?)", name, in, elsewhere)
	case where != "":
		l.errorf(k, "unknown key %q%s (valid keys: %s)", name, in, strings.Join(valid, ", "))
	default:
		l.errorf(k, "unknown key %q", name)
	}
}

func (l *loader) top(root *yaml.Node) {
	table := Settings()
	byKey := make(map[string]Setting, len(table))
	var topNames, limitNames []string
	for _, s := range table {
		byKey[s.Key] = s
		if name, ok := strings.CutPrefix(s.Key, "limits."); ok {
			limitNames = append(limitNames, name)
		} else {
			topNames = append(topNames, s.Key)
		}
	}
	topNames = append(topNames, "limits")

	for _, e := range l.entries(root, 0) {
		if e.name == "limits" {
			// Not recorded: a limit the file does not set is a default,
			// and must not inherit the section's line.
			l.limits(e, byKey, limitNames, topNames)
			continue
		}
		s, ok := byKey[e.name]
		if !ok {
			// A limit written at the top level is a common slip; point
			// at where it belongs.
			elsewhere := ""
			if x := suggest(e.name, limitNames); x != "" && normalizeKey(x) == normalizeKey(e.name) {
				elsewhere = "limits." + x
			}
			l.unknown(e.key, e.name, "", topNames, elsewhere)
			continue
		}
		l.record(s.Key, e.key)
		l.setting(s, e.val)
	}
}

func (l *loader) limits(e entry, byKey map[string]Setting, limitNames, topNames []string) {
	ents, ok := l.mapping(e.val, "limits")
	if !ok {
		return
	}
	for _, le := range ents {
		s, ok := byKey["limits."+le.name]
		if !ok {
			elsewhere := ""
			if x := suggest(le.name, topNames); x != "" && normalizeKey(x) == normalizeKey(le.name) {
				elsewhere = x + " (at the top level, not under limits)"
			}
			l.unknown(le.key, le.name, "limits", limitNames, elsewhere)
			continue
		}
		l.record(s.Key, le.key)
		l.setting(s, le.val)
	}
}

// setting decodes the value of one setting of the table into l.cfg.
func (l *loader) setting(s Setting, n *yaml.Node) {
	switch s.Kind {
	case KindString, KindBool, KindInt, KindDuration:
		if v, ok := l.scalar(n, s.Key, s.Kind); ok {
			if s.Path {
				v = l.path(v.(string))
			}
			s.set(l.cfg, v)
		}
	case KindStringList:
		items, ok := l.list(n, s.Key, s.Kind)
		if !ok {
			return
		}
		var out []string
		for _, v := range items {
			str := v.(string)
			if s.Path {
				str = l.path(str)
			}
			out = append(out, str)
		}
		s.set(l.cfg, out)
	case KindIntList:
		items, ok := l.list(n, s.Key, s.Kind)
		if !ok {
			return
		}
		var out []int
		for _, v := range items {
			out = append(out, v.(int))
		}
		s.set(l.cfg, out)
	case KindListeners:
		l.listeners(n)
	case KindProfiles:
		l.profiles(n)
	}
}

// path makes a relative path from the file relative to the file's
// directory. An empty path stays empty: it means "the default".
func (l *loader) path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(l.dir, p)
}

// scalar decodes one value of kind k. A missing value (`key:` with nothing
// after it) is an error rather than "" or 0, because it is far more often
// an unfinished edit than a wish for an empty string.
func (l *loader) scalar(n *yaml.Node, key string, k Kind) (any, bool) {
	r, err := resolveAlias(n)
	if err != nil {
		l.errorf(n, "%s: %v", key, err)
		return nil, false
	}
	if isNull(r) {
		l.errorf(r, "%s: no value (remove the key to keep the default, or write \"\" for an empty string)", key)
		return nil, false
	}
	if r.Kind != yaml.ScalarNode {
		l.errorf(r, "%s: want %s, got %s", key, article(k), describe(r))
		return nil, false
	}
	v, err := parseScalar(k, r.Value)
	if err != nil {
		l.errorf(r, "%s: %s is %v", key, quoteValue(r.Value), err)
		return nil, false
	}
	return v, true
}

// list decodes a sequence of scalars of list kind k. Null is an empty
// list, so that commenting out every entry of a list is not an error.
func (l *loader) list(n *yaml.Node, key string, k Kind) ([]any, bool) {
	r, err := resolveAlias(n)
	if err != nil {
		l.errorf(n, "%s: %v", key, err)
		return nil, false
	}
	if isNull(r) {
		return nil, true
	}
	if r.Kind != yaml.SequenceNode {
		l.errorf(r, "%s: want %s, got %s (write %s: [a, b] or one \"- item\" per line)", key, article(k), describe(r), key[strings.LastIndexByte(key, '.')+1:])
		return nil, false
	}
	out := make([]any, 0, len(r.Content))
	ok := true
	for i, item := range r.Content {
		ik := fmt.Sprintf("%s[%d]", key, i)
		v, vok := l.scalar(item, ik, elemKind(k))
		if !vok {
			ok = false
			continue
		}
		l.record(ik, item)
		out = append(out, v)
	}
	return out, ok
}

// seq resolves a sequence of mappings (listeners, profiles).
func (l *loader) seq(n *yaml.Node, key string) ([]*yaml.Node, bool) {
	r, err := resolveAlias(n)
	if err != nil {
		l.errorf(n, "%s: %v", key, err)
		return nil, false
	}
	if isNull(r) {
		return nil, true
	}
	if r.Kind != yaml.SequenceNode {
		l.errorf(r, "%s: want a list of mappings (one \"- key: value\" block per entry), got %s", key, describe(r))
		return nil, false
	}
	return r.Content, true
}

// listenerKeys and profileKeys are the keys of the file-only structured
// settings, in the order of example.yaml.
func listenerKeys() []string { return []string{"listen", "profile", "auth"} }

func profileKeys() []string {
	return []string{"name", "description", "allow", "vendors", "unknown_cookies", "on_denied", "gpc", "dnt", "consent_state"}
}

func (l *loader) listeners(n *yaml.Node) {
	items, ok := l.seq(n, "listeners")
	if !ok {
		return
	}
	var out []Listener
	for i, item := range items {
		key := fmt.Sprintf("listeners[%d]", i)
		ents, ok := l.mapping(item, key)
		if !ok {
			continue
		}
		ln := Listener{Line: item.Line}
		l.record(key, item)
		for _, e := range ents {
			ek := key + "." + e.name
			switch e.name {
			case "listen":
				if v, ok := l.scalar(e.val, ek, KindString); ok {
					ln.Listen = v.(string)
				}
			case "profile":
				if v, ok := l.scalar(e.val, ek, KindString); ok {
					ln.Profile = v.(string)
				}
			case "auth":
				if v, ok := l.scalar(e.val, ek, KindBool); ok {
					ln.Auth = v.(bool)
				}
			default:
				l.unknown(e.key, e.name, key, listenerKeys(), "")
				continue
			}
			l.record(ek, e.key)
		}
		out = append(out, ln)
	}
	l.cfg.Listeners = out
}

func (l *loader) profiles(n *yaml.Node) {
	items, ok := l.seq(n, "profiles")
	if !ok {
		return
	}
	var out []Profile
	for i, item := range items {
		key := fmt.Sprintf("profiles[%d]", i)
		ents, ok := l.mapping(item, key)
		if !ok {
			continue
		}
		p := Profile{Line: item.Line}
		l.record(key, item)
		for _, e := range ents {
			ek := key + "." + e.name
			switch e.name {
			case "name", "description", "unknown_cookies", "on_denied":
				v, ok := l.scalar(e.val, ek, KindString)
				if !ok {
					break
				}
				switch e.name {
				case "name":
					p.Name = v.(string)
				case "description":
					p.Description = v.(string)
				case "unknown_cookies":
					p.UnknownCookies = v.(string)
				case "on_denied":
					p.OnDenied = v.(string)
				}
			case "gpc", "dnt":
				v, ok := l.scalar(e.val, ek, KindBool)
				if !ok {
					break
				}
				if e.name == "gpc" {
					p.GPC = v.(bool)
				} else {
					p.DNT = v.(bool)
				}
			case "allow":
				items, _ := l.list(e.val, ek, KindStringList)
				for _, v := range items {
					p.Allow = append(p.Allow, v.(string))
				}
			case "vendors":
				p.Vendors = l.vendors(e.val, ek)
			case "consent_state":
				p.ConsentState = l.consentState(e.val, ek)
			default:
				l.unknown(e.key, e.name, key, profileKeys(), "")
				continue
			}
			l.record(ek, e.key)
		}
		out = append(out, p)
	}
	l.cfg.Profiles = out
}

func (l *loader) vendors(n *yaml.Node, key string) map[string]string {
	ents, ok := l.mapping(n, key)
	if !ok || len(ents) == 0 {
		return nil
	}
	out := make(map[string]string, len(ents))
	for _, e := range ents {
		ek := key + "." + e.name
		if v, ok := l.scalar(e.val, ek, KindString); ok {
			out[e.name] = v.(string)
			l.record(ek, e.key)
		}
	}
	return out
}

// resolveAlias follows aliases (*name) to the node they stand for.
func resolveAlias(n *yaml.Node) (*yaml.Node, error) {
	for range maxMergeDepth {
		if n.Kind != yaml.AliasNode {
			return n, nil
		}
		if n.Alias == nil {
			return nil, errors.New("alias to an unknown anchor")
		}
		n = n.Alias
	}
	return nil, errors.New("aliases nested too deep")
}

func isNull(n *yaml.Node) bool {
	return n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// describe names what a node is, for "want X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "nothing"
		}
		return quoteValue(n.Value)
	}
	return "an alias"
}

// maxQuoted bounds how much of a value a message repeats: enough to
// recognise it, not a screenful of a pasted blob.
const maxQuoted = 64

// quoteValue is s quoted, shortened to maxQuoted bytes (on a rune
// boundary) with "..." when longer.
func quoteValue(s string) string {
	if len(s) <= maxQuoted {
		return strconv.Quote(s)
	}
	cut := maxQuoted
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "..."
}

func article(k Kind) string {
	if k == KindInt {
		return "an integer"
	}
	return "a " + k.String()
}

// elemKind is the kind of one element of a list kind.
func elemKind(k Kind) Kind {
	switch k {
	case KindStringList:
		return KindString
	case KindIntList:
		return KindInt
	}
	return k
}
