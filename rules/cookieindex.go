package rules

import (
	"sort"
	"strings"
)

// cookieEntry is one cookie-name pattern of one rule after merging.
type cookieEntry struct {
	pattern  cookiePattern
	category Category
	cat      int
	vendor   string
	domains  []hostPattern
	source   string
	layer    int
	seq      int
	origin   Origin
}

// scope returns 0 for an unscoped entry, 1 + the specificity of the most
// specific domain that covers host for a scoped one, and -1 when the entry's
// scope does not cover host (the entry does not apply).
func (e *cookieEntry) scope(host string) int {
	if len(e.domains) == 0 {
		return 0
	}
	best := -1
	for _, d := range e.domains {
		if d.matches(host) && d.specificity()+1 > best {
			best = d.specificity() + 1
		}
	}
	return best
}

// cookieIndex finds the cookie rule for a name without scanning the rules:
// exact names in a map, globs in a radix tree keyed by their literal prefix
// (the text before the first '*'). A lookup costs one map probe plus a walk
// down the tree along the name's bytes, and candidate globs are verified
// only at the nodes the name passes through, so the cost depends on the
// name, not on how many patterns there are.
type cookieIndex struct {
	exact map[string][]*cookieEntry
	globs *globNode
	n     int
}

// globNode is a radix-tree node. label is the edge from the parent; the
// children are kept in firsts order so that the next edge is found with one
// IndexByte.
type globNode struct {
	label    string
	firsts   string // first byte of each child's label, same order as children
	children []*globNode
	// entries whose literal prefix ends exactly at this node, most specific
	// first (more literal characters, then later layer, then definition).
	entries []*cookieEntry
}

func buildCookieIndex(entries []*cookieEntry) cookieIndex {
	idx := cookieIndex{exact: map[string][]*cookieEntry{}, n: len(entries)}
	root := &tnode{}
	for _, e := range entries {
		if !e.pattern.glob {
			idx.exact[e.pattern.text] = append(idx.exact[e.pattern.text], e)
			continue
		}
		n := root
		for i := 0; i < len(e.pattern.prefix); i++ {
			c := e.pattern.prefix[i]
			if n.children == nil {
				n.children = map[byte]*tnode{}
			}
			next := n.children[c]
			if next == nil {
				next = &tnode{}
				n.children[c] = next
			}
			n = next
		}
		n.entries = append(n.entries, e)
	}
	for _, list := range idx.exact {
		sortEntries(list)
	}
	idx.globs = buildGlobNode("", root.entries, root.children, false)
	return idx
}

// tnode is the uncompressed trie used while building.
type tnode struct {
	children map[byte]*tnode
	entries  []*cookieEntry
}

// buildGlobNode turns a trie node into a radix node, folding chains of
// single-child nodes without entries into one edge. The root is never
// folded: patterns such as "*foo" (empty prefix) live there.
func buildGlobNode(label string, entries []*cookieEntry, children map[byte]*tnode, fold bool) *globNode {
	for fold && len(entries) == 0 && len(children) == 1 {
		for c, child := range children {
			label += string([]byte{c})
			entries, children = child.entries, child.children
		}
	}
	g := &globNode{label: label, entries: entries}
	sortEntries(g.entries)
	keys := make([]int, 0, len(children))
	for c := range children {
		keys = append(keys, int(c))
	}
	sort.Ints(keys)
	firsts := make([]byte, 0, len(keys))
	for _, k := range keys {
		child := children[byte(k)]
		firsts = append(firsts, byte(k))
		g.children = append(g.children, buildGlobNode(string([]byte{byte(k)}), child.entries, child.children, true))
	}
	g.firsts = string(firsts)
	return g
}

// sortEntries orders candidates of equal prefix: more literal characters
// first, then the later layer, then definition order. Scope is decided at
// lookup time because it depends on the host.
func sortEntries(list []*cookieEntry) {
	sort.SliceStable(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if a.pattern.literal != b.pattern.literal {
			return a.pattern.literal > b.pattern.literal
		}
		if a.layer != b.layer {
			return a.layer > b.layer
		}
		return a.seq < b.seq
	})
}

// lookup returns the rule that categorises name on host for profile p, or
// nil. Precedence: an exact name over any glob; a longer literal prefix; more
// literal characters; a matching domains scope over none (the more specific
// scope domain first); the later layer; and within one layer the rule most
// restrictive for p.
func (idx *cookieIndex) lookup(p *Profile, host, name string) *cookieEntry {
	if list := idx.exact[name]; list != nil {
		if e := pickEntry(p, host, name, list, false); e != nil {
			return e
		}
	}
	if idx.globs == nil {
		return nil
	}
	return idx.globs.lookup(p, host, name, 0)
}

// lookup descends as far as the name allows, then tries the deepest node
// first: a longer literal prefix always wins.
func (g *globNode) lookup(p *Profile, host, name string, depth int) *cookieEntry {
	if depth < len(name) {
		if i := strings.IndexByte(g.firsts, name[depth]); i >= 0 {
			child := g.children[i]
			if strings.HasPrefix(name[depth:], child.label) {
				if e := child.lookup(p, host, name, depth+len(child.label)); e != nil {
					return e
				}
			}
		}
	}
	if len(g.entries) == 0 {
		return nil
	}
	return pickEntry(p, host, name, g.entries, true)
}

// pickEntry chooses among entries sharing a prefix (exact: the same name).
func pickEntry(p *Profile, host, name string, list []*cookieEntry, glob bool) *cookieEntry {
	var best *cookieEntry
	bestScope := -1
	for _, e := range list {
		if best != nil && e.pattern.literal < best.pattern.literal {
			break // sorted: nothing further can be as specific
		}
		if glob && !e.pattern.matchesAfterPrefix(name) {
			continue
		}
		sc := e.scope(host)
		if sc < 0 {
			continue
		}
		switch {
		case best == nil, sc > bestScope:
			best, bestScope = e, sc
		case sc == bestScope && e.layer == best.layer && p != nil && p.cookieStricter(e, best):
			best = e
		}
	}
	return best
}
