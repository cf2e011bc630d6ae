package rules

import (
	"sort"
	"strings"
)

// suggest returns the candidate closest to word when it is close enough to
// be a plausible typo, else "".
func suggest(word string, candidates []string) string {
	best, bestDist := "", -1
	w := strings.ToLower(word)
	for _, c := range candidates {
		d := editDistance(w, strings.ToLower(c))
		if bestDist < 0 || d < bestDist || d == bestDist && c < best {
			best, bestDist = c, d
		}
	}
	if best == "" {
		return ""
	}
	limit := len(word) / 3
	if limit < 2 {
		limit = 2
	}
	if bestDist <= limit && bestDist < len(word) {
		return best
	}
	// A word that is a prefix of a candidate, or the other way round, is
	// worth naming even when the edit distance is large ("advert" →
	// "advertising").
	for _, c := range candidates {
		lc := strings.ToLower(c)
		if len(w) >= 3 && (strings.HasPrefix(lc, w) || len(lc) >= 4 && strings.Contains(w, lc)) {
			return c
		}
	}
	return ""
}

// didYouMean formats a suggestion as a message suffix.
func didYouMean(word string, candidates []string) string {
	if s := suggest(word, candidates); s != "" {
		return " (did you mean \"" + s + "\"?)"
	}
	return ""
}

// oneOf formats the valid values for a message.
func oneOf(candidates []string) string {
	c := append([]string(nil), candidates...)
	return strings.Join(c, ", ")
}

// editDistance is the Damerau-Levenshtein distance (optimal string
// alignment) over bytes: transpositions count as one edit, the most common
// typo.
func editDistance(a, b string) int {
	if a == b {
		return 0
	}
	la, lb := len(a), len(b)
	prev2 := make([]int, lb+1)
	prev := make([]int, lb+1)
	cur := make([]int, lb+1)
	for j := 0; j <= lb; j++ {
		prev[j] = j
	}
	for i := 1; i <= la; i++ {
		cur[0] = i
		for j := 1; j <= lb; j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			v := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				v = min(v, prev2[j-2]+1)
			}
			cur[j] = v
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[lb]
}

func sortStrings(s []string) { sort.Strings(s) }
