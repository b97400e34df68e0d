package yamlwalk

import (
	"fmt"
	"strings"
)

// Quote renders a user-supplied value for a message, shortened so that a
// pasted blob does not drown the error list.
func Quote(s string) string {
	const max = 40
	if len(s) > max {
		s = s[:max] + "..."
	}
	return fmt.Sprintf("%q", s)
}

// Suggest returns ` (did you mean "x"?)` when a known word is within a
// small edit distance of s, else "".
func Suggest(s string, known []string) string {
	// Suggestions are for typos in hand-written files; a huge generated
	// one gets none rather than a quadratic search.
	if len(known) > 256 {
		return ""
	}
	best, bestD := "", 3
	for _, k := range known {
		if len(k)-len(s) >= bestD || len(s)-len(k) >= bestD {
			continue
		}
		if d := editDistance(strings.ToLower(s), k); d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" || best == s {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance, bounded in cost by the short
// strings it is used on (keys and names, capped by the caller's lists).
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
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
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
