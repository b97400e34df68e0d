package nftables

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	"github.com/netctl/netctl/model"
)

// A packet goes through every base chain of its hook, whatever table they
// are in: an accept ends only its own chain, a drop ends everything. So
// when another table drops forwarded traffic by default (Docker's
// iptables sets FORWARD's policy to DROP; firewalld rejects what no zone
// allows), netctl's accepts do not let containers out, and published
// ports do not answer, until that table accepts netctl's bridges too.
// netctl does not edit other tables; it finds the case and says so.

// forwardDrop is one base chain of another table that drops forwarded
// traffic of netctl's bridges.
type forwardDrop struct {
	chain   string // "table ip filter chain FORWARD"
	why     string // "policy drop", "last rule drops"
	bridges []string
}

func (d forwardDrop) String() string {
	return fmt.Sprintf("%s drops forwarded traffic (%s) and accepts none from or to %s", d.chain, d.why, strings.Join(d.bridges, ", "))
}

// forwardDrops lists the base chains of other tables on the forward hook
// that drop by default and accept neither the traffic in from nor out to
// some of the bridges (by a rule matching the bridge's name, in the chain
// or in a chain it jumps to).
func (b *Backend) forwardDrops(bridges []string) ([]forwardDrop, error) {
	if len(bridges) == 0 {
		return nil, nil
	}
	c, err := b.conn(true)
	if err != nil {
		return nil, err
	}
	defer c.CloseLasting()
	chains, err := c.ListChains()
	if err != nil {
		return nil, fmt.Errorf("nftables: list chains: %w", err)
	}
	var out []forwardDrop
	for _, ch := range chains {
		if ch.Hooknum == nil || *ch.Hooknum != *nftables.ChainHookForward || ch.Table == nil ||
			(ch.Table.Family != nftables.TableFamilyIPv4 && ch.Table.Family != nftables.TableFamilyINet) ||
			(ch.Table.Family == nftables.TableFamilyINet && (ch.Table.Name == tableName || strings.HasPrefix(ch.Table.Name, tableName+"-"))) {
			continue
		}
		rules, err := c.GetRules(ch.Table, ch)
		if err != nil {
			return nil, fmt.Errorf("nftables: rules of %s: %w", chainLabel(ch), err)
		}
		why := ""
		switch {
		case ch.Policy != nil && *ch.Policy == nftables.ChainPolicyDrop:
			why = "policy drop"
		case len(rules) > 0 && dropsAll(rules[len(rules)-1]):
			why = "its last rule drops everything"
		default:
			continue
		}
		rulesOf := func(name string) []*nftables.Rule {
			rs, err := c.GetRules(ch.Table, &nftables.Chain{Name: name, Table: ch.Table})
			if err != nil {
				return nil
			}
			return rs
		}
		var missing []string
		for _, br := range bridges {
			if !accepts(rules, rulesOf, expr.MetaKeyIIFNAME, br, 3) || !accepts(rules, rulesOf, expr.MetaKeyOIFNAME, br, 3) {
				missing = append(missing, br)
			}
		}
		if len(missing) > 0 {
			out = append(out, forwardDrop{chain: chainLabel(ch), why: why, bridges: missing})
		}
	}
	return out, nil
}

func chainLabel(ch *nftables.Chain) string {
	fam := map[nftables.TableFamily]string{nftables.TableFamilyIPv4: "ip", nftables.TableFamilyINet: "inet"}[ch.Table.Family]
	return fmt.Sprintf("table %s %s chain %s", fam, ch.Table.Name, ch.Name)
}

// dropsAll reports whether a rule drops or rejects whatever reaches it.
func dropsAll(r *nftables.Rule) bool {
	if len(r.Exprs) == 0 {
		return false
	}
	for _, e := range r.Exprs[:len(r.Exprs)-1] {
		switch e.(type) {
		case *expr.Counter, *expr.Log:
		default:
			return false
		}
	}
	switch e := r.Exprs[len(r.Exprs)-1].(type) {
	case *expr.Reject:
		return true
	case *expr.Verdict:
		return e.Kind == expr.VerdictDrop
	}
	return false
}

// accepts reports whether some rule accepts packets whose in or out
// interface (key) is the bridge: a rule comparing that name (or a prefix
// of it, as iptables' "br+") and ending in accept, or in a jump to a
// chain that does.
func accepts(rules []*nftables.Rule, rulesOf func(string) []*nftables.Rule, key expr.MetaKey, bridge string, depth int) bool {
	for _, r := range rules {
		if len(r.Exprs) == 0 {
			continue
		}
		switch v := r.Exprs[len(r.Exprs)-1].(type) {
		case *expr.Verdict:
			switch {
			case v.Kind == expr.VerdictAccept && matchesIf(r.Exprs, key, bridge):
				return true
			case (v.Kind == expr.VerdictJump || v.Kind == expr.VerdictGoto) && depth > 0:
				if onlyIf(r.Exprs, key, bridge) && accepts(rulesOf(v.Chain), rulesOf, key, bridge, depth-1) {
					return true
				}
			}
		}
	}
	return false
}

// matchesIf reports whether the rule compares the interface name key
// with the bridge's name (or a prefix of it).
func matchesIf(exprs []expr.Any, key expr.MetaKey, bridge string) bool {
	want := ifnameBytes(bridge)
	for i := 0; i+1 < len(exprs); i++ {
		m, ok := exprs[i].(*expr.Meta)
		if !ok || m.Key != key {
			continue
		}
		if c, ok := exprs[i+1].(*expr.Cmp); ok && c.Op == expr.CmpOpEq && c.Register == m.Register &&
			bytes.HasPrefix(want, bytes.TrimRight(c.Data, "\x00")) && len(bytes.TrimRight(c.Data, "\x00")) > 0 {
			return true
		}
	}
	return false
}

// onlyIf reports whether a jump rule applies to the bridge's traffic: it
// has no match at all, or matches the bridge's name.
func onlyIf(exprs []expr.Any, key expr.MetaKey, bridge string) bool {
	if len(exprs) == 1 {
		return true
	}
	for _, e := range exprs[:len(exprs)-1] {
		if _, ok := e.(*expr.Counter); !ok {
			return matchesIf(exprs, key, bridge)
		}
	}
	return true
}

// warnForwardDrops logs, once per apply that sets up networks, which
// other tables drop the traffic of netctl's bridges.
func (b *Backend) warnForwardDrops(bridges []string) {
	drops, err := b.forwardDrops(bridges)
	if err != nil {
		b.log.Debug().Err(err).Msg("nftables: could not check other tables for forward drops")
		return
	}
	for _, d := range drops {
		b.log.Warn().Str("chain", d.chain).Strs("bridges", d.bridges).Msg(d.String() +
			": containers will not reach the outside nor answer on published ports; accept the bridges there too" +
			" (Docker's iptables: iptables -I DOCKER-USER -i BRIDGE -j ACCEPT and -o BRIDGE;" +
			" firewalld: firewall-cmd --zone=trusted --add-interface=BRIDGE)")
	}
}

// bridgesOf lists the bridges of every network in objs.
func bridgesOf(networks map[string]*model.NetworkRules) []string {
	var out []string
	for _, id := range sortedKeys(networks) {
		out = append(out, networks[id].Bridge)
	}
	return out
}
