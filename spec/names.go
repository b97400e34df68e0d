package spec

import (
	"fmt"
	"strings"

	"github.com/netctl/netctl/model"
)

// Names that reach kernel objects, paths under --root, rule comments and DNS
// answers are held to model's patterns (model.IsLabel, model.IsIfname,
// model.IsEnvName).
const (
	maxDNSName = 253
	maxIfname  = model.MaxIfname
)

const labelRule = "letters, digits and '-', 1-63 characters, not starting or ending with '-'"

// isLabel reports whether s is a DNS label (RFC 1123, case-insensitive).
func isLabel(s string) bool { return model.IsLabel(s) }

// isDNSName reports whether s is a dot-separated sequence of DNS labels
// without a trailing dot.
func isDNSName(s string) bool {
	if s == "" || len(s) > maxDNSName {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if !isLabel(l) {
			return false
		}
	}
	return true
}

// isIfname reports whether s is usable as a kernel interface name.
func isIfname(s string) bool {
	return model.IsIfname(s)
}

// hasControl reports whether s holds a byte that would split a line-based
// file or a C string (labels end up in rule comments, env in `netctl env`).
func hasControl(s string) bool {
	return strings.ContainsAny(s, "\x00\n\r")
}

// quote renders a user-supplied value for a message, shortened so that a
// pasted blob does not drown the error list.
func quote(s string) string {
	const max = 40
	if len(s) > max {
		s = s[:max] + "..."
	}
	return fmt.Sprintf("%q", s)
}

// suggest returns ` (did you mean "x"?)` when a known word is within a
// small edit distance of s, else "".
func suggest(s string, known []string) string {
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
