package iptables

// Order within netctl's chains matters in two places (topFirst): the
// VXLAN openings of NETCTL-INPUT must come before any network's drop, and
// the DNS exemptions of nat NETCTL before any project's DNATs. Apply
// inserts those RETURNs at the top; a hand edit (iptables -I, -A, a
// restore of an old dump) can still leave one below a rule it must
// precede, where it silently stops working. Observe finds such a RETURN
// (misplaced), marks its network damaged, and Apply moves it back up.

// misplacedReturns returns, of the topFirst chains, this instance's
// RETURNs that come after one of this instance's other rules. ours tells
// this instance's rules from foreign ones and other instances'.
func misplacedReturns(d *dump, ours func(rule) bool) map[*rule]bool {
	out := map[*rule]bool{}
	for _, table := range tables {
		for chain, rules := range d.rules[table] {
			if !topFirst[table+" "+chain] {
				continue
			}
			below := false
			for i := range rules {
				r := &rules[i]
				if !ours(*r) {
					continue
				}
				if topRank(*r) == 1 {
					below = true
				} else if below {
					out[r] = true
				}
			}
		}
	}
	return out
}

// moveUp deletes a misplaced RETURN and inserts it again at the top.
func moveUp(s *script, r *rule) {
	s.remove(r)
	s.insert(*r, 1)
}
