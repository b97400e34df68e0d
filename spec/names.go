package spec

import (
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
