package iptables

import (
	"slices"
	"strings"

	"github.com/netctl/netctl/model"
)

// Render shows a firewall's objects the way iptables-save would show
// netctl's part of the rules once they are in place: the fixed chains, and
// every network's, port's and link's rules. Used for golden tests and
// documentation.
func Render(fw *model.Firewall) (string, error) {
	return render(map[model.Instance]*model.Firewall{"": fw}, false)
}

// Render6 is Render for ip6tables: the dual-stack networks' IPv6 rules,
// the IPv6 ports and links.
func Render6(fw *model.Firewall) (string, error) {
	return render(map[model.Instance]*model.Firewall{"": fw}, true)
}

// render shows the rules of several instances side by side in the chains
// they share, of one family.
func render(fws map[model.Instance]*model.Firewall, v6 bool) (string, error) {
	byTable := map[string]map[string][]rule{}
	add := func(rs []rule) {
		for _, r := range rs {
			if byTable[r.table] == nil {
				byTable[r.table] = map[string][]rule{}
			}
			byTable[r.table][r.chain] = append(byTable[r.table][r.chain], r)
		}
	}
	for _, j := range baseJumps(v6) {
		add([]rule{j.rule})
	}
	add(skeleton())
	insts := make([]model.Instance, 0, len(fws))
	for inst := range fws {
		insts = append(insts, inst)
	}
	slices.Sort(insts)
	for _, inst := range insts {
		if err := renderObjects(add, byTable, inst, familyOf(fws[inst], v6), v6); err != nil {
			return "", err
		}
	}
	// Apply inserts the RETURNs at the top of their chain (topFirst).
	for _, t := range tables {
		for _, rules := range byTable[t] {
			slices.SortStableFunc(rules, func(a, b rule) int { return topRank(a) - topRank(b) })
		}
	}
	var b strings.Builder
	builtin := map[string][]string{
		tableRaw:    {"PREROUTING", "OUTPUT"},
		tableNAT:    {"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"},
		tableFilter: {"INPUT", "FORWARD", "OUTPUT"},
	}
	for _, t := range tables {
		b.WriteString("*" + t + "\n")
		for _, c := range builtin[t] {
			b.WriteString(":" + c + " ACCEPT [0:0]\n")
		}
		// Every fixed chain exists, empty or not (the jumps refer to them).
		own := append([]string(nil), baseChains[t]...)
		for c := range byTable[t] {
			if isOurChain(c) && !slices.Contains(baseChains[t], c) {
				own = append(own, c)
			}
		}
		for _, c := range sortedStrings(own) {
			b.WriteString(":" + c + " - [0:0]\n")
		}
		for _, c := range append(builtin[t], sortedStrings(own)...) {
			for _, r := range byTable[t][c] {
				b.WriteString("-A " + c + " " + r.spec() + "\n")
			}
		}
		b.WriteString("COMMIT\n")
	}
	return b.String(), nil
}

// renderObjects adds one instance's objects' rules of one family.
func renderObjects(add func([]rule), byTable map[string]map[string][]rule, inst model.Instance, fw *model.Firewall, v6 bool) error {
	for _, id := range sortedKeys(fw.Networks) {
		rs, err := networkRules(inst, fw.Networks[id], v6)
		if err != nil {
			return err
		}
		add(rs)
	}
	projects := map[string]bool{}
	for _, key := range sortedKeys(fw.Ports) {
		p := fw.Ports[key]
		rs, err := portRules(inst, p)
		if err != nil {
			return err
		}
		add(rs)
		projects[p.Project] = true
	}
	for _, key := range sortedKeys(fw.Links) {
		l := fw.Links[key]
		rs, err := linkRules(inst, l)
		if err != nil {
			return err
		}
		add(rs)
		projects[l.Project] = true
	}
	for _, p := range sortedKeys(projects) {
		for _, t := range tables {
			if len(byTable[t][projectChain(inst, p)]) > 0 {
				add([]rule{projectJump(inst, t, p)})
			}
		}
	}
	return nil
}
