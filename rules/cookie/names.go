package cookie

import (
	"iter"
	"strings"
)

// maxNames bounds how many readings one cookie has. A named cookie is read
// one way; a nameless one is read as "" and as the name its value turns into
// on the wire. Nothing is read as more than two names (the fuzz targets check
// it), so [Names] is a fixed array and reading never allocates.
const maxNames = 2

// Names is the set of names one cookie can be read as, without duplicates,
// the primary name first. It is a small value (no allocation) whose strings
// are substrings of the parsed header. The zero value holds no names.
//
// Names are exactly as they appear in the header (after trimming SP and
// HTAB): they may be empty, contain spaces, quotes or non-ASCII bytes.
type Names struct {
	list [maxNames]string
	n    uint8
}

// Len reports how many names there are.
func (ns Names) Len() int { return int(ns.n) }

// At returns the i-th name; it panics if i is out of range, like a slice.
func (ns Names) At(i int) string { return ns.list[:ns.n][i] }

// Primary returns the name a browser holds the cookie under ("" for a
// nameless cookie). It is the only name safe to log: the other readings of a
// nameless cookie are taken from its value. Primary of the zero Names is "".
func (ns Names) Primary() string { return ns.list[0] }

// All iterates the names, the primary one first.
func (ns Names) All() iter.Seq[string] {
	return func(yield func(string) bool) {
		for _, name := range ns.list[:ns.n] {
			if !yield(name) {
				return
			}
		}
	}
}

// Contains reports whether name is one of the names.
func (ns Names) Contains(name string) bool {
	for _, n := range ns.list[:ns.n] {
		if n == name {
			return true
		}
	}
	return false
}

// Refused returns the first name keep does not approve, and whether there
// is one. A cookie is kept only if keep approves every one of its names.
func (ns Names) Refused(keep func(name string) bool) (name string, refused bool) {
	for _, n := range ns.list[:ns.n] {
		if !keep(n) {
			return n, true
		}
	}
	return "", false
}

// String lists the names quoted, for tests and debugging. The non-primary
// names of a nameless cookie come from its value: never log this.
func (ns Names) String() string {
	var b strings.Builder
	b.WriteByte('[')
	for i, n := range ns.list[:ns.n] {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteByte('"')
		b.WriteString(n)
		b.WriteByte('"')
	}
	b.WriteByte(']')
	return b.String()
}

// add appends name unless it is already there.
func (ns *Names) add(name string) {
	if ns.Contains(name) {
		return
	}
	ns.list[ns.n] = name
	ns.n++
}

// isWSP reports whether c is whitespace as RFC 6265 means it around names
// and values: SP and HTAB only (browsers trim nothing else).
func isWSP(c byte) bool { return c == ' ' || c == '\t' }

// trimWSP strips SP and HTAB from both ends of s without allocating.
func trimWSP(s string) string {
	i, j := 0, len(s)
	for i < j && isWSP(s[i]) {
		i++
	}
	for j > i && isWSP(s[j-1]) {
		j--
	}
	return s[i:j]
}

// pairNames reads one non-empty, WSP-trimmed Cookie pair as a server would
// (name before the first '='), with the browser's nameless reading first
// when there is no name.
func pairNames(pair string) Names {
	var ns Names
	eq := strings.IndexByte(pair, '=')
	if eq < 0 {
		// A browser sends a nameless cookie as its bare value; servers read
		// the same text as a name with an empty value.
		ns.add("")
		ns.add(pair)
		return ns
	}
	name := trimWSP(pair[:eq])
	ns.add(name)
	if name == "" {
		// Browsers have sent nameless cookies such as "==a=b" as "a=b"
		// (http-state name0025); judge the name that leaves behind too.
		rest := strings.TrimLeft(pair, "= \t")
		if rest != "" {
			if eq := strings.IndexByte(rest, '='); eq >= 0 {
				rest = trimWSP(rest[:eq])
			}
			ns.add(rest)
		}
	}
	return ns
}
