package config

import "strings"

// suggest returns the candidate closest to name, or "" when none is close
// enough to be a plausible typo. Case and the choice of "-" or "_" do not
// count (data-dir, DATA_DIR and data_dir are the same key to a human);
// otherwise the allowance grows with the length of the name, so that a
// short unrelated word is not "corrected" into a real key. An abbreviation
// of three letters or more that starts exactly one candidate ("prof" for
// "profile" among listener keys) counts too. Ties go to the earlier
// candidate, which keeps messages stable.
func suggest(name string, candidates []string) string {
	n := normalizeKey(name)
	if len(n) >= 3 {
		prefixed := ""
		for _, c := range candidates {
			if strings.HasPrefix(normalizeKey(c), n) {
				if prefixed != "" {
					prefixed = ""
					break
				}
				prefixed = c
			}
		}
		if prefixed != "" {
			return prefixed
		}
	}
	best, bestDist := "", -1
	for _, c := range candidates {
		d := editDistance(n, normalizeKey(c))
		if bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	if bestDist < 0 || bestDist > min(max(1, len(n)/3), 3) {
		return ""
	}
	return best
}

func normalizeKey(s string) string {
	return strings.ReplaceAll(strings.ToLower(s), "-", "_")
}

// editDistance is the optimal string alignment distance: insertions,
// deletions, substitutions and transpositions of adjacent bytes each cost
// one. Transpositions count once because "lsiten" is one slip, not two.
func editDistance(a, b string) int {
	// Three rolling rows: the transposition step looks two rows back.
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
