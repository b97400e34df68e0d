package iptables

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/netctl/netctl/model"
)

// observation is a dump sorted into netctl's objects: what Observe reports
// and what Apply needs to change the rules without reading them again.
type observation struct {
	// inst is the instance (--root) whose rules these are: the rules of
	// other instances are left out, neither objects nor stray.
	inst     model.Instance
	v6       bool // ip6tables' tables, not iptables'
	dump     *dump
	fw       *model.Firewall
	networks map[string][]rule // by network ID: the rules carrying its mark
	// misplaced are the dump's RETURNs below a rule they must precede
	// (order.go).
	misplaced map[*rule]bool
	stray     map[string][]rule // by owner ("" for the shared chains)
}

// classify sorts a dump's netctl rules (of iptables, or with v6 of
// ip6tables) into objects, checks each object's rules against what it
// renders to (a missing rule marks it damaged, an unexpected one is stray)
// and checks the fixed chains and jumps.
func classify(d *dump, inst model.Instance, v6 bool) *observation {
	o := &observation{
		inst:     inst,
		v6:       v6,
		dump:     d,
		fw:       model.NewFirewall(),
		networks: map[string][]rule{},
		stray:    map[string][]rule{},
	}
	// Project chains are named by a hash; the jumps to them and the
	// marks of their rules tell whose they are.
	chainOwner := map[string]string{}
	addStray := func(owner string, r rule) { o.stray[owner] = append(o.stray[owner], r) }
	// owned: by table and chain, the rules of project chains that belong
	// to a port or link.
	type tableChain struct{ table, chain string }
	owned := map[tableChain][]bool{}
	projectRules := 0
	for _, table := range tables {
		for chain, rules := range d.rules[table] {
			if strings.HasPrefix(chain, projectChainPrefix) {
				projectRules += len(rules)
			}
		}
	}
	ports := newPortLines(projectRules)
	linkLines := map[string][]rule{}
	var vxlan map[string]*vxlanPiece
	peerDNS := map[string]*peerDNSPiece{}
	// comment reads a rule's comment as the Decode functions want it;
	// theirs is true for a netctl comment of another instance.
	comment := func(r rule) (c string, theirs bool) {
		i, c, ok := model.CommentInstance(r.comment())
		if !ok {
			return c, false
		}
		if i != inst && strings.HasPrefix(c, model.RuleCommentBase+":") {
			o.fw.OtherInstances = true
			return c, true
		}
		return c, false
	}
	theirChains := map[string]bool{} // project chains of other instances
	// A port's two or three rules carry one comment: decoded (and keyed)
	// once, as is each project's chain name (a hash); at thousands of
	// ports these were most of a reading's cost.
	type decoded struct {
		p   *model.PortRule // nil: not a port's comment
		key string
	}
	portOf := make(map[string]decoded, projectRules/2)
	o.fw.Ports = make(map[string]*model.PortRule, projectRules/2)
	decodePort := func(c string) decoded {
		d, ok := portOf[c]
		if !ok {
			if p, isPort := model.DecodePortComment(c); isPort {
				d = decoded{p: p, key: p.Key()}
			}
			portOf[c] = d
		}
		return d
	}
	chainNames := map[string]string{}
	chainOf := func(project string) string {
		name, ok := chainNames[project]
		if !ok {
			name = projectChain(inst, project)
			chainNames[project] = name
		}
		return name
	}
	// jumped: the project chains their jump enters; a rule in a chain
	// nothing jumps to (a hand-flushed NETCTL) is dead.
	jumped := map[tableChain]bool{}
	// addNetworkRule files a rule under the network its comment names.
	addNetworkRule := func(c string, r rule) bool {
		n, ok := model.DecodeNetworkComment(c)
		if !ok {
			return false
		}
		if prev := o.fw.Networks[n.ID()]; prev == nil {
			o.fw.Networks[n.ID()] = n
		} else if !prev.Equal(n) {
			// Rules of one network with two different marks: keep the
			// first; the others don't render from it and turn up as
			// stray below.
			n = prev
		}
		o.networks[n.ID()] = append(o.networks[n.ID()], r)
		return true
	}

	for _, table := range tables {
		for _, chain := range sortedKeys(d.rules[table]) {
			rules := d.rules[table][chain]
			if !isOurChain(chain) {
				continue // netctl's jumps there are checked with the base
			}
			switch {
			case chain == chainForward:
				// Checked as a whole with the base.
			case table == tableFilter && chain == chainInput:
				vxlan = classifyVXLAN(rules, addStray, comment)
			case networkChains[table+" "+chain]:
				for _, r := range rules {
					c, theirs := comment(r)
					if theirs {
						continue
					}
					if !addNetworkRule(c, r) {
						addStray(commentOwner(c), r)
					}
				}
			case chain == projectJumpChain[table]:
				for _, r := range rules {
					c, theirs := comment(r)
					if theirs {
						theirChains[r.target()] = true
						continue
					}
					if addNetworkRule(c, r) {
						continue // a network's DNS exemption (nat NETCTL)
					}
					if table == tableNAT && addPeerDNSRule(peerDNS, c, r) {
						continue
					}
					project, ok := model.DecodeProjectComment(c)
					if !ok || r.key() != projectJump(inst, table, project).key() {
						addStray("", r)
						continue
					}
					chainOwner[projectChain(inst, project)] = project
					jumped[tableChain{table, r.target()}] = true
				}
			case strings.HasPrefix(chain, projectChainPrefix):
				own := make([]bool, len(rules))
				owned[tableChain{table, chain}] = own
				// owner is the chain's owner as its last rule of a port or
				// link names it, set once after the loop.
				owner, named := "", false
				for i := range rules {
					r := rules[i]
					c, theirs := comment(r)
					if theirs {
						own[i] = true // not ours to judge
						continue
					}
					if _, ok := model.RuleCommentOwner(c); !ok {
						continue
					}
					if dp := decodePort(c); dp.p != nil && chainOf(dp.p.Project) == chain {
						own[i] = true
						owner, named = dp.p.Project, true
						// The first port decoded under a key stands for
						// it; rules that render otherwise make it damaged.
						if ports.add(dp.key, dp.p, &rules[i]) {
							o.fw.Ports[dp.key] = dp.p
						}
						continue
					}
					if l, ok := model.DecodeLinkComment(c); ok && projectChain(inst, l.Project) == chain {
						own[i] = true
						owner, named = l.Project, true
						if o.fw.Links[l.Key()] == nil {
							o.fw.Links[l.Key()] = l
						}
						linkLines[l.Key()] = append(linkLines[l.Key()], r)
					}
				}
				if named {
					chainOwner[chain] = owner
				}
			}
		}
	}

	// A VXLAN filter and a peer DNS exemption, found apart, belong to
	// their network's other rules; without them they are stray.
	attach := func(id string, rules []rule, set func(*model.NetworkRules)) {
		n := o.fw.Networks[id]
		if n == nil {
			for _, r := range rules {
				addStray(commentOwner(r.comment()), r)
			}
			return
		}
		set(n)
		o.networks[id] = append(o.networks[id], rules...)
	}
	for _, id := range sortedKeys(vxlan) {
		p := vxlan[id]
		attach(id, p.rules, func(n *model.NetworkRules) { n.VXLAN = p.filter })
	}
	for _, id := range sortedKeys(peerDNS) {
		p := peerDNS[id]
		attach(id, p.rules, func(n *model.NetworkRules) { n.PeerDNS = p.exemption })
	}

	// Whatever else is in a project chain is stray.
	for _, table := range tables {
		for _, chain := range sortedKeys(d.rules[table]) {
			rules := d.rules[table][chain]
			if !strings.HasPrefix(chain, projectChainPrefix) || theirChains[chain] {
				continue
			}
			owner, known := chainOwner[chain]
			own := owned[tableChain{table, chain}]
			for i := range rules {
				if !known || !own[i] {
					addStray(owner, rules[i])
				}
			}
		}
	}

	// An object is damaged when one of the rules it renders to is missing;
	// the rules carrying its mark that it does not render to are stray.
	check := func(owner string, want []rule, renderErr error, have []rule) bool {
		damaged, extra := compare(want, have, renderErr)
		for _, r := range extra {
			addStray(owner, r)
		}
		return damaged
	}
	o.misplaced = misplacedReturns(d, func(r rule) bool {
		c, theirs := comment(r)
		return !theirs && strings.HasPrefix(c, model.RuleCommentBase+":")
	})
	for id, rules := range o.networks {
		n := o.fw.Networks[id]
		want, err := networkRules(inst, n, v6)
		n.Damaged = check(n.Project, want, err, rules) || slices.ContainsFunc(observedRules(d, rules), func(r *rule) bool { return o.misplaced[r] })
	}
	unjumped := func(r *rule) bool { return !jumped[tableChain{r.table, r.chain}] }
	var keys portKeys
	ports.each(func(p *model.PortRule, rules []*rule) {
		// As check(portRules(...)), without the rules.
		damaged, extra := true, rules
		if keys.render(inst, chainOf(p.Project), p) == nil {
			damaged, extra = keys.match(rules)
		}
		for _, r := range extra {
			addStray(p.Project, *r)
		}
		p.Damaged = damaged || slices.ContainsFunc(rules, unjumped)
	})
	for key, rules := range linkLines {
		l := o.fw.Links[key]
		want, err := linkRules(inst, l)
		l.Damaged = check(l.Project, want, err, rules) || slices.ContainsFunc(rules, func(r rule) bool { return unjumped(&r) })
	}
	for owner, rules := range o.stray {
		for _, r := range rules {
			o.fw.Stray[owner] = append(o.fw.Stray[owner], fmt.Sprintf("%s -A %s %s", r.table, r.chain, r.raw))
		}
		sort.Strings(o.fw.Stray[owner])
	}
	o.fw.BaseMissing = o.checkBase()
	o.fw.Installed = o.installed()
	return o
}

// commentOwner is the project a netctl comment names, "" for anything else.
func commentOwner(comment string) string {
	project, _ := model.RuleCommentOwner(comment)
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
	left := make(map[string]int, len(want))
	for _, r := range want {
		left[r.key()]++
	}
	for _, r := range have {
		if k := r.key(); left[k] > 0 {
			left[k]--
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
