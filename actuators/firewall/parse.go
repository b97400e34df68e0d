package firewall

import (
	"bufio"
	"fmt"
	"sort"
	"strings"

	"github.com/netctl/netctl/model"
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

// observation is a dump sorted into netctl's objects: what Observe reports
// and what Apply needs to change the rules without reading them again.
type observation struct {
	dump     *dump
	fw       *model.Firewall
	networks map[string][]rule // by network ID: the rules carrying its mark
	stray    map[string][]rule // by owner ("" for the shared chains)
}

// classify sorts a dump's netctl rules into objects, checks each object's
// rules against what it renders to (a missing rule marks it damaged, an
// unexpected one is stray) and checks the fixed chains and jumps.
func classify(d *dump) *observation {
	o := &observation{
		dump:     d,
		fw:       model.NewFirewall(),
		networks: map[string][]rule{},
		stray:    map[string][]rule{},
	}
	// Project chains are named by a hash; the jumps to them and the
	// marks of their rules tell whose they are.
	chainOwner := map[string]string{}
	addStray := func(owner string, r rule) { o.stray[owner] = append(o.stray[owner], r) }
	owned := map[*rule]bool{} // rules of project chains that belong to a port or link
	portLines := map[string][]rule{}
	linkLines := map[string][]rule{}

	for _, table := range tables {
		for _, chain := range sortedKeys(d.rules[table]) {
			rules := d.rules[table][chain]
			if !isOurChain(chain) {
				continue // netctl's jumps there are checked with the base
			}
			switch {
			case chain == chainForward:
				// Checked as a whole with the base.
			case networkChains[table+" "+chain]:
				for _, r := range rules {
					n, ok := parseNetworkComment(r.comment())
					if !ok {
						addStray(ownerOf(r.comment()), r)
						continue
					}
					if prev := o.fw.Networks[n.ID()]; prev == nil {
						o.fw.Networks[n.ID()] = n
					} else if !prev.Equal(n) {
						// Rules of one network with two different marks: keep
						// the first; the others don't render from it and
						// turn up as stray below.
						n = prev
					}
					o.networks[n.ID()] = append(o.networks[n.ID()], r)
				}
			case chain == projectJumpChain[table]:
				for _, r := range rules {
					project, ok := strings.CutPrefix(r.comment(), commentPrefix)
					if !ok || checkProject(project, false) != nil || r.key() != projectJump(table, project).key() {
						addStray("", r)
						continue
					}
					chainOwner[projectChain(project)] = project
				}
			case strings.HasPrefix(chain, projectChainPrefix):
				for i := range rules {
					r := rules[i]
					if !strings.HasPrefix(r.comment(), commentPrefix) {
						continue
					}
					if p, ok := parsePortComment(r.comment()); ok && projectChain(p.Project) == chain {
						owned[&rules[i]] = true
						chainOwner[chain] = p.Project
						if prev := o.fw.Ports[p.Key()]; prev == nil {
							o.fw.Ports[p.Key()] = p
						} else if prev.String() != p.String() || prev.Container != p.Container {
							p = prev
						}
						portLines[p.Key()] = append(portLines[p.Key()], r)
						continue
					}
					if l, ok := parseLinkComment(r.comment()); ok && projectChain(l.Project) == chain {
						owned[&rules[i]] = true
						chainOwner[chain] = l.Project
						if o.fw.Links[l.Key()] == nil {
							o.fw.Links[l.Key()] = l
						}
						linkLines[l.Key()] = append(linkLines[l.Key()], r)
					}
				}
			}
		}
	}

	// Whatever else is in a project chain is stray.
	for _, table := range tables {
		for _, chain := range sortedKeys(d.rules[table]) {
			rules := d.rules[table][chain]
			if !strings.HasPrefix(chain, projectChainPrefix) {
				continue
			}
			owner, known := chainOwner[chain]
			for i := range rules {
				if !known || !owned[&rules[i]] {
					addStray(owner, rules[i])
				}
			}
		}
	}

	for id, rules := range o.networks {
		n := o.fw.Networks[id]
		want, err := networkRules(n)
		n.Damaged, rules = compare(want, rules, err)
		for _, r := range rules {
			addStray(n.Project, r)
		}
	}
	for key, rules := range portLines {
		p := o.fw.Ports[key]
		want, err := portRules(p)
		var extra []rule
		p.Damaged, extra = compare(want, rules, err)
		for _, r := range extra {
			addStray(p.Project, r)
		}
	}
	for key, rules := range linkLines {
		l := o.fw.Links[key]
		want, err := linkRules(l)
		var extra []rule
		l.Damaged, extra = compare(want, rules, err)
		for _, r := range extra {
			addStray(l.Project, r)
		}
	}
	for owner, rules := range o.stray {
		for _, r := range rules {
			o.fw.Stray[owner] = append(o.fw.Stray[owner], fmt.Sprintf("%s -A %s %s", r.table, r.chain, r.raw))
		}
		sort.Strings(o.fw.Stray[owner])
	}
	o.fw.BaseMissing = o.checkBase()
	return o
}

// ownerOf is the project named by a netctl mark, "" for anything else.
func ownerOf(comment string) string {
	rest, ok := strings.CutPrefix(comment, commentPrefix)
	if !ok {
		return ""
	}
	project, _, _ := strings.Cut(rest, ":")
	if checkProject(project, false) != nil {
		return ""
	}
	return project
}

// compare matches an object's observed rules with the ones it renders to:
// damaged when one is missing; the observed ones left over are returned.
func compare(want, have []rule, renderErr error) (damaged bool, extra []rule) {
	if renderErr != nil {
		return true, have
	}
	missing, extra := matchRules(want, have)
	return len(missing) > 0, extra
}

// matchRules pairs wanted rules with observed ones, counting duplicates:
// missing are the wanted rules nothing observed matches (in want's order),
// extra the observed rules nothing wanted matches.
func matchRules[H interface{ key() string }](want []rule, have []H) (missing []rule, extra []H) {
	left := map[string]int{}
	for _, r := range want {
		left[r.key()]++
	}
	for _, r := range have {
		if left[r.key()] > 0 {
			left[r.key()]--
			continue
		}
		extra = append(extra, r)
	}
	for _, r := range want {
		if left[r.key()] > 0 {
			left[r.key()]--
			missing = append(missing, r)
		}
	}
	return missing, extra
}

// checkBase lists what is wrong with netctl's fixed chains and jumps.
func (o *observation) checkBase() []string {
	var missing []string
	present := 0
	total := 0
	for _, table := range tables {
		for _, c := range baseChains[table] {
			total++
			if o.dump.hasChain(table, c) {
				present++
			} else {
				missing = append(missing, fmt.Sprintf("chain %s %s missing", table, c))
			}
		}
	}
	for _, j := range baseJumps() {
		total++
		switch n := o.jumpCount(j); {
		case n == 0:
			missing = append(missing, fmt.Sprintf("jump %s %s -> %s missing", j.table, j.chain, j.rule.target()))
			continue
		case n > 1:
			missing = append(missing, fmt.Sprintf("jump %s %s -> %s present %d times", j.table, j.chain, j.rule.target(), n))
		}
		present++
		if j.chain == "FORWARD" && !o.forwardJumpPlaced() {
			missing = append(missing, "jump filter FORWARD -> "+chainForward+" comes before "+dockerUser)
		}
	}
	if o.dump.hasChain(tableFilter, chainForward) && !sameRules(o.dump.rules[tableFilter][chainForward], skeleton()) {
		missing = append(missing, "chain filter "+chainForward+": rules differ")
	}
	if present == 0 {
		return []string{fmt.Sprintf("none of netctl's %d chains and jumps exist", total)}
	}
	return missing
}

// jumpCount counts the exact copies of a base jump in its chain.
func (o *observation) jumpCount(j jump) int {
	n := 0
	for _, r := range o.dump.rules[j.table][j.chain] {
		if r.key() == j.rule.key() {
			n++
		}
	}
	return n
}

// forwardJumpPlaced reports whether netctl's FORWARD jump comes after
// DOCKER-USER's (when there is one): the user's own policy goes first.
func (o *observation) forwardJumpPlaced() bool {
	want := baseJumps()[len(baseJumps())-1].rule.key()
	user := -1
	for i, r := range o.dump.rules[tableFilter]["FORWARD"] {
		if r.target() == dockerUser && user < 0 {
			user = i
		}
		if r.key() == want {
			return user >= 0 || !o.hasDockerUserJump()
		}
	}
	return true
}

func (o *observation) hasDockerUserJump() bool {
	for _, r := range o.dump.rules[tableFilter]["FORWARD"] {
		if r.target() == dockerUser {
			return true
		}
	}
	return false
}

func sameRules(a, b []rule) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].key() != b[i].key() {
			return false
		}
	}
	return true
}
