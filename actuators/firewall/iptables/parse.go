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

// parseSave reads iptables-save output.
func parseSave(text string) (*dump, error) {
	d := &dump{chains: map[string]map[string]bool{}, rules: map[string]map[string][]rule{}}
	table := ""
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
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
			args, err := splitArgs(raw)
			if err != nil {
				return nil, fmt.Errorf("iptables-save line %d: %w", n, err)
			}
			d.rules[table][chain] = append(d.rules[table][chain], newRule(table, chain, args, raw))
		default:
			return nil, fmt.Errorf("iptables-save line %d: unexpected %q", n, line)
		}
	}
	return d, sc.Err()
}
