package iptables

import (
	"bufio"
	"fmt"
	"strings"
)

// dump is an iptables-save output, parsed: the chains of every table and
// the rules of every chain, in order.
type dump struct {
	chains map[string]map[string]bool   // table -> chain -> exists
	rules  map[string]map[string][]rule // table -> chain -> rules
}

func (d *dump) hasChain(table, chain string) bool { return d.chains[table][chain] }

// maxLine is the longest line parseSave reads: it once read through a
// bufio.Scanner of that size, and a longer line is still an error.
const maxLine = 16 * 1024 * 1024

// slabWords is how many words parseSave allocates at once for the rules'
// args: one allocation per few hundred rules rather than one per rule.
const slabWords = 4096

// parseSave reads iptables-save output. Lines, chain names and unquoted
// words are slices of text, copied nowhere: at a thousand published ports
// the output is ~10,000 lines, read at every reconcile.
func parseSave(text string) (*dump, error) {
	d := &dump{chains: make(map[string]map[string]bool, len(tables)), rules: make(map[string]map[string][]rule, len(tables))}
	table := ""
	var slab, scratch []string
	// iptables-save prints each chain's rules together: a run of them is
	// a slice of one array for all rules, attached to its chain once the
	// run ends (a chain's rules in several runs are copied together).
	all := make([]rule, 0, strings.Count(text, "\n-A ")+1)
	runStart := 0
	endRun := func() {
		if len(all) == runStart {
			return
		}
		r := all[runStart]
		chains := d.rules[r.table]
		run := all[runStart:len(all):len(all)]
		if have := chains[r.chain]; have != nil {
			run = append(have, run...)
		}
		chains[r.chain] = run
		runStart = len(all)
	}
	rest := text
	for n := 1; rest != ""; n++ {
		line, after, _ := strings.Cut(rest, "\n")
		rest = after
		if len(line) >= maxLine {
			endRun()
			return d, bufio.ErrTooLong
		}
		line = strings.TrimSuffix(line, "\r") // as bufio.ScanLines
		switch {
		case line == "" || line[0] == '#':
		case line[0] == '*':
			table = line[1:]
			if d.chains[table] == nil {
				d.chains[table] = map[string]bool{}
				d.rules[table] = map[string][]rule{}
			}
		case line == "COMMIT":
			table = ""
		case line[0] == ':':
			name, _, _ := strings.Cut(line[1:], " ")
			if table == "" || name == "" {
				return nil, fmt.Errorf("iptables-save line %d: chain outside a table: %q", n, line)
			}
			d.chains[table][name] = true
		case strings.HasPrefix(line, "-A "):
			if table == "" {
				return nil, fmt.Errorf("iptables-save line %d: rule outside a table: %q", n, line)
			}
			chain, raw, _ := strings.Cut(line[3:], " ")
			var err error
			scratch, err = appendArgs(scratch[:0], raw)
			if err != nil {
				return nil, fmt.Errorf("iptables-save line %d: %w", n, err)
			}
			if len(slab)+len(scratch) > cap(slab) {
				slab = make([]string, 0, max(slabWords, len(scratch)))
			}
			start := len(slab)
			slab = append(slab, scratch...)
			// The full slice expression keeps an append to one rule's
			// args from writing over the next rule's.
			args := slab[start:len(slab):len(slab)]
			if len(all) > runStart && (all[runStart].table != table || all[runStart].chain != chain) {
				endRun()
			}
			all = append(all, rule{table: table, chain: chain, args: args, raw: raw})
		default:
			return nil, fmt.Errorf("iptables-save line %d: unexpected %q", n, line)
		}
	}
	endRun()
	return d, nil
}
