package iptables

import "slices"

// Once no project has anything left in the packet filter, netctl takes
// its chains and its jumps from the built-in chains away too, so that
// `down` of the last project (and `prune` of the default network) leaves
// iptables as it found it.
//
// A foreign rule (one outside netctl's chains that is not one of netctl's
// marked jumps) may jump to one of netctl's chains; iptables refuses to
// delete a chain something refers to, and netctl never deletes what it
// does not own, so such a chain is emptied and left in place. An empty
// chain nothing of netctl's refers to does not count as installed, so the
// next observation does not plan the teardown again.

// chainRef names a chain of one table.
type chainRef struct{ table, chain string }

// teardownJumps are netctl's marked jumps from the built-in chains, every
// copy of them.
func (o *observation) teardownJumps() []*rule {
	var out []*rule
	for _, j := range baseJumps(o.v6) {
		rules := o.dump.rules[j.table][j.chain]
		for i := range rules {
			if rules[i].key() == j.rule.key() {
				out = append(out, &rules[i])
			}
		}
	}
	return out
}

// teardownChains lists netctl's chains a teardown changes: flush those
// that hold rules, remove those no foreign rule refers to.
func (o *observation) teardownChains() (flush, remove []chainRef) {
	refs := o.foreignRefs()
	for _, t := range tables {
		for _, c := range sortedKeys(o.dump.chains[t]) {
			if !isOurChain(c) {
				continue
			}
			ref := chainRef{t, c}
			if len(o.dump.rules[t][c]) > 0 {
				flush = append(flush, ref)
			}
			if !refs[ref] {
				remove = append(remove, ref)
			}
		}
	}
	return flush, remove
}

// installed reports whether a teardown would change anything.
func (o *observation) installed() bool {
	flush, remove := o.teardownChains()
	return len(flush)+len(remove)+len(o.teardownJumps()) > 0
}

// foreignRefs are netctl's chains that rules netctl does not own jump to.
func (o *observation) foreignRefs() map[chainRef]bool {
	ours := map[string]bool{}
	for _, j := range baseJumps(o.v6) {
		ours[j.rule.key()] = true
	}
	refs := map[chainRef]bool{}
	for _, t := range tables {
		for c, rules := range o.dump.rules[t] {
			if isOurChain(c) {
				continue
			}
			for _, r := range rules {
				if target := r.target(); isOurChain(target) && !ours[r.key()] {
					refs[chainRef{t, target}] = true
				}
			}
		}
	}
	return refs
}

// teardown writes the removal of everything netctl has in the packet
// filter: the jumps first, then the chains' contents (a declaration
// flushes), then the chains themselves.
func teardown(s *script, o *observation) {
	for _, j := range o.teardownJumps() {
		s.remove(j)
	}
	flush, remove := o.teardownChains()
	for _, ref := range slices.Concat(flush, remove) {
		s.declare(ref.table, ref.chain)
	}
	for _, ref := range remove {
		s.drop[ref.table] = append(s.drop[ref.table], "-X "+ref.chain)
	}
}
