package netlink

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"
)

// checkPathElem rejects names that would escape their directory when used
// as a path element under root. The spec package validates names much more
// strictly; this is the last line of defence before a mount.
func checkPathElem(kind, s string) error {
	if s == "" || s == "." || s == ".." || strings.ContainsAny(s, "/\x00") {
		return fmt.Errorf("invalid %s name %q", kind, s)
	}
	return nil
}

// checkIfName rejects names the kernel would refuse or mangle (IFNAMSIZ,
// dev_valid_name), so that the error names the object instead of reading
// "invalid argument".
func checkIfName(s string) error {
	if s == "" || len(s) > 15 || s == "." || s == ".." || strings.ContainsAny(s, "/: \t\n\x00") {
		return fmt.Errorf("invalid interface name %q", s)
	}
	return nil
}

// compareIfNames orders interface names with their numeric suffix compared
// as a number: eth2 < eth10.
func compareIfNames(a, b string) int {
	ap, an, aok := splitNum(a)
	bp, bn, bok := splitNum(b)
	if ap == bp && aok && bok && an != bn {
		return cmp.Compare(an, bn)
	}
	return strings.Compare(a, b) // also eth01 vs eth1
}

// splitNum splits "eth10" into "eth" and 10.
func splitNum(s string) (prefix string, n uint64, ok bool) {
	i := len(s)
	for i > 0 && s[i-1] >= '0' && s[i-1] <= '9' {
		i--
	}
	if i == len(s) {
		return s, 0, false
	}
	n, err := strconv.ParseUint(s[i:], 10, 64)
	if err != nil {
		return s, 0, false
	}
	return s[:i], n, true
}
