package iptables

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/netctl/netctl/model"
)

// Tables netctl writes to, in the order a restore input lists them.
const (
	tableRaw    = "raw"
	tableNAT    = "nat"
	tableFilter = "filter"
)

var tables = []string{tableRaw, tableNAT, tableFilter}

// rule is one rule of a chain, as iptables-save prints it after
// "-A <chain> ": args are the unquoted words. netctl renders its rules in
// exactly the form iptables-save prints them back (header matches first,
// then the extension matches in the order given, the comment first), so a
// rule read back compares equal to the one rendered, word for word.
type rule struct {
	table, chain string
	args         []string
	// raw is the text after "-A <chain> " as iptables-save printed it
	// (observed rules only): a deletion repeats it verbatim, whatever
	// quoting a foreign rule used.
	raw string
	// k caches key() for rendered rules, which are compared again and
	// again. Observed rules leave it empty: most of them are compared
	// with hasKey, which needs no key of theirs.
	k string
}

func newRule(table, chain string, args []string, raw string) rule {
	r := rule{table: table, chain: chain, args: args, raw: raw}
	r.k = r.key()
	return r
}

// key identifies a rule by table, chain and words.
func (r rule) key() string {
	if r.k != "" {
		return r.k
	}
	var b strings.Builder
	b.Grow(r.keyLen())
	b.WriteString(r.table)
	b.WriteByte(0)
	b.WriteString(r.chain)
	b.WriteByte(0)
	for i, a := range r.args {
		if i > 0 {
			b.WriteByte(0)
		}
		b.WriteString(a)
	}
	return b.String()
}

func (r rule) keyLen() int {
	n := len(r.table) + len(r.chain) + 2 + max(len(r.args)-1, 0)
	for _, a := range r.args {
		n += len(a)
	}
	return n
}

// hasKey reports whether key() == string(k), without making the key.
func (r rule) hasKey(k []byte) bool {
	if r.k != "" {
		return r.k == string(k)
	}
	field := func(s string, sep bool) bool {
		if sep {
			if len(k) == 0 || k[0] != 0 {
				return false
			}
			k = k[1:]
		}
		if len(k) < len(s) || string(k[:len(s)]) != s {
			return false
		}
		k = k[len(s):]
		return true
	}
	if !field(r.table, false) || !field(r.chain, true) || !field("", true) {
		return false
	}
	for i, a := range r.args {
		if !field(a, i > 0) {
			return false
		}
	}
	return len(k) == 0
}

// spec is the rule's text after the chain name, for a restore input.
func (r rule) spec() string {
	if r.raw != "" {
		return r.raw
	}
	parts := make([]string, len(r.args))
	for i, a := range r.args {
		parts[i] = a
		if i > 0 && r.args[i-1] == "--comment" {
			parts[i] = quoteComment(a)
		} else if i > 0 && r.args[i-1] == "--u32" {
			parts[i] = `"` + a + `"` // as iptables-save prints it
		} else if a == "" || strings.ContainsAny(a, " \t") {
			parts[i] = `"` + a + `"`
		}
	}
	return strings.Join(parts, " ")
}

// comment returns the rule's --comment value, or "".
func (r rule) comment() string {
	for i := 0; i+1 < len(r.args); i++ {
		if r.args[i] == "--comment" {
			return r.args[i+1]
		}
	}
	return ""
}

// target returns the rule's -j value, or "".
func (r rule) target() string {
	for i := 0; i+1 < len(r.args); i++ {
		if r.args[i] == "-j" {
			return r.args[i+1]
		}
	}
	return ""
}

// safeArg reports whether a word is made only of what netctl ever puts in
// a rule: names, addresses, ports, the fixed words of the layout and the
// comments built from them (letters, digits, "_.:/,>!-@[]" and inner
// spaces; '@' names another instance than the default one, brackets
// enclose IPv6 address:port). Nothing else can reach a restore input: no quote, backslash,
// newline or other control character, so a rule can never be split or
// closed early.
func safeArg[T string | []byte](a T) bool {
	if len(a) == 0 || a[0] == ' ' || len(a) > maxComment {
		return false
	}
	for i := 0; i < len(a); i++ {
		c := a[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("_.:/,>!-@[]&= ", c) >= 0: // & and =: u32 tests (overlay.go)
		default:
			return false
		}
	}
	return true
}

// maxComment is the xt_comment limit (256 with the terminating NUL).
const maxComment = 255

func checkArgs(args []string) error {
	for _, a := range args {
		if !safeArg(a) {
			return fmt.Errorf("refusing unsafe rule text %q", a)
		}
	}
	return nil
}

// quoteComment quotes a comment the way iptables-save does: bare when made
// only of letters, digits, '_' and '-', in double quotes otherwise.
// checkArgs has made sure there is nothing to escape inside the quotes.
func quoteComment(a string) string {
	if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == "" {
		return a
	}
	return `"` + a + `"`
}

// splitArgs splits a rule's text into words as iptables-restore does:
// whitespace separates, double quotes group, a backslash escapes the next
// character inside quotes. A word without quotes (nearly all of them),
// or quoted whole with nothing to escape (a comment), is a slice of s,
// copied nowhere: at ten thousand published ports the rules are ~60,000
// lines to split.
func splitArgs(s string) ([]string, error) {
	return appendArgs(make([]string, 0, 24), s)
}

// appendArgs is splitArgs appending to args.
func appendArgs(args []string, s string) ([]string, error) {
	for i := 0; i < len(s); {
		if s[i] == ' ' || s[i] == '\t' {
			i++
			continue
		}
		start := i
		for i < len(s) && s[i] != ' ' && s[i] != '\t' && s[i] != '"' {
			i++
		}
		if i == len(s) || s[i] != '"' {
			args = append(args, s[start:i])
			continue
		}
		if word, next, ok := plainQuoted(s, start); ok {
			args = append(args, word)
			i = next
			continue
		}
		word, next, err := quotedWord(s, start)
		if err != nil {
			return nil, err
		}
		args = append(args, word)
		i = next
	}
	return args, nil
}

// plainQuoted reads a word of s starting at i that is one pair of quotes
// around text without a backslash or another quote, which is what
// quotedWord would make of it; ok is false for any other word.
func plainQuoted(s string, i int) (word string, next int, ok bool) {
	if s[i] != '"' {
		return "", 0, false
	}
	end := strings.IndexAny(s[i+1:], `"\`)
	if end < 0 {
		return "", 0, false
	}
	end += i + 1
	if s[end] != '"' || (end+1 < len(s) && s[end+1] != ' ' && s[end+1] != '\t') {
		return "", 0, false
	}
	return s[i+1 : end], end + 1, true
}

// quotedWord reads the word of s starting at i that holds quotes, up to
// the first whitespace outside them; next is where it ends.
func quotedWord(s string, i int) (word string, next int, err error) {
	var b strings.Builder
	quoted := false
	for ; i < len(s); i++ {
		ch := s[i]
		switch {
		case quoted && ch == '\\' && i+1 < len(s):
			i++
			b.WriteByte(s[i])
		case ch == '"':
			quoted = !quoted
		case !quoted && (ch == ' ' || ch == '\t'):
			return b.String(), i, nil
		default:
			b.WriteByte(ch)
		}
	}
	if quoted {
		return "", 0, fmt.Errorf("unterminated quote in %q", s)
	}
	return b.String(), i, nil
}

// The checks below hold the objects' fields to what can go into a rule,
// whatever the caller checked before: the restore input is a shell-free but
// line-oriented format that a stray quote or newline would break.

func checkProject(p string, shared bool) error {
	if (shared && p == "") || model.IsLabel(p) {
		return nil
	}
	return fmt.Errorf("project name %q cannot go into a rule", p)
}

func checkName(what, s string) error {
	if model.IsLabel(s) {
		return nil
	}
	return fmt.Errorf("%s name %q cannot go into a rule", what, s)
}

func checkBridge(s string) error {
	if model.IsIfname(s) {
		return nil
	}
	return fmt.Errorf("bridge name %q cannot go into a rule", s)
}

func checkProto(p string) error {
	if model.IsProto(p) {
		return nil
	}
	return fmt.Errorf("protocol %q is not tcp, udp or sctp", p)
}

func checkAddr(what string, a netip.Addr, v6 bool) error {
	switch {
	case !v6 && a.Is4():
		return nil
	case v6 && a.Is6() && !a.Is4In6() && a.Zone() == "":
		return nil
	case v6:
		return fmt.Errorf("%s %s is not an IPv6 address", what, a)
	}
	return fmt.Errorf("%s %s is not an IPv4 address", what, a)
}

// hostMatch is an address as iptables-save prints a single host: a.b.c.d/32
// or x::y/128.
func hostMatch(a netip.Addr) string {
	return netip.PrefixFrom(a, a.BitLen()).String()
}

func checkAll(rules []rule) error {
	for _, r := range rules {
		if err := checkArgs(r.args); err != nil {
			return fmt.Errorf("%s %s: %w", r.table, r.chain, err)
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

func sortedStrings(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}
