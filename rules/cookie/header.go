package cookie

import (
	"iter"
	"strings"
)

// Pair is one cookie of a Cookie request header.
type Pair struct {
	// Text is the pair exactly as sent, without the SP and HTAB around it
	// ("name=value", or a bare value). It holds the cookie's value: never
	// log it.
	Text string
	// Names are the names the pair can be read as (see [PairNames]).
	Names Names
}

// PairNames returns the names one Cookie pair can be read as, the primary
// name (the one a browser holds the cookie under) first. SP and HTAB around
// pair and name are ignored; an empty or all-blank pair has no names.
//
//	"a=b=c"  → ["a"]
//	"foo"    → ["", "foo"]   a nameless cookie; servers read name "foo"
//	"=x"     → ["", "x"]     empty name; "x" once the '=' is stripped
//	"==a=b"  → ["", "a"]
func PairNames(pair string) Names {
	pair = trimWSP(pair)
	if pair == "" {
		return Names{}
	}
	return pairNames(pair)
}

// Pairs iterates the pairs of one or more Cookie header field values in
// order, split the way servers split them: at every ';', skipping empty
// pairs, keeping duplicates. It does not allocate per pair.
func Pairs(lines []string) iter.Seq[Pair] {
	return func(yield func(Pair) bool) {
		for _, line := range lines {
			for i := 0; i < len(line); {
				start, end, next := nextPair(line, i)
				i = next
				if start == end {
					continue
				}
				text := line[start:end]
				if !yield(Pair{Text: text, Names: pairNames(text)}) {
					return
				}
			}
		}
	}
}

// nextPair finds the pair that starts the text line[i:]: its bounds without
// surrounding SP and HTAB (start == end for an empty pair), and where the
// text after its ';' begins.
func nextPair(line string, i int) (start, end, next int) {
	end = len(line)
	next = len(line)
	if semi := strings.IndexByte(line[i:], ';'); semi >= 0 {
		end = i + semi
		next = end + 1
	}
	start = i
	for start < end && isWSP(line[start]) {
		start++
	}
	for end > start && isWSP(line[end-1]) {
		end--
	}
	return start, end, next
}

// Rewrite removes from Cookie header field values every pair with a name
// keep does not approve, and returns the values to forward.
//
// A pair is kept only if keep approves every name it can be read as
// ([PairNames]). Kept pairs are byte-identical to the input and keep their
// order. A line with nothing removed is returned as the same string; in a
// line with something removed the kept pairs are joined by "; "; a line left
// with no pairs is dropped, so an empty out means "send no Cookie header".
// If nothing is removed at all, out is lines itself and removed is nil, and
// Rewrite does not allocate. removed lists the primary name of each removed
// pair, in order, for events; it never holds a value. keep must not be nil.
func Rewrite(lines []string, keep func(name string) bool) (out, removed []string) {
	for li, line := range lines {
		rewritten, changed := rewriteLine(line, keep, &removed)
		if !changed {
			if out != nil {
				out = append(out, line)
			}
			continue
		}
		if out == nil {
			out = make([]string, 0, len(lines))
			out = append(out, lines[:li]...)
		}
		if rewritten != "" {
			out = append(out, rewritten)
		}
	}
	if out == nil {
		return lines, nil
	}
	return out, removed
}

// rewriteLine is Rewrite for one line. It builds a new line only from the
// first removed pair on, so the common case reads the line once and
// allocates nothing; a rebuilt line costs one allocation.
func rewriteLine(line string, keep func(string) bool, removed *[]string) (string, bool) {
	var b strings.Builder
	changed := false
	for i := 0; i < len(line); {
		start, end, next := nextPair(line, i)
		i = next
		if start == end {
			continue
		}
		pair := line[start:end]
		names := pairNames(pair)
		if _, refused := names.Refused(keep); refused {
			if !changed {
				changed = true
				b.Grow(len(line))
				writePairs(&b, line[:start])
			}
			*removed = append(*removed, names.Primary())
			continue
		}
		if changed {
			writePair(&b, pair)
		}
	}
	if !changed {
		return line, false
	}
	return b.String(), true
}

// writePairs writes every pair of s, each through writePair. It is used
// for the pairs before the first removal, which keep already approved.
func writePairs(b *strings.Builder, s string) {
	for i := 0; i < len(s); {
		start, end, next := nextPair(s, i)
		i = next
		if start != end {
			writePair(b, s[start:end])
		}
	}
}

// writePair writes pair to a line being rebuilt, after a "; " separator
// unless it is the first.
func writePair(b *strings.Builder, pair string) {
	if b.Len() > 0 {
		b.WriteString("; ")
	}
	b.WriteString(pair)
}
