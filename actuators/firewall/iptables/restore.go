package iptables

import (
	"fmt"
	"slices"
	"strings"

	"github.com/netctl/netctl/model"
)

// script is an iptables-restore --noflush input under construction. Per
// table, in this order: chain declarations (which create a chain, or
// flush an existing one: netctl only declares chains it rewrites whole),
// deletions of single rules, additions, and removals of emptied chains.
type script struct {
	decl, add, drop map[string][]string
	del             map[string][]*rule
	declared        map[string]bool
	deleted         map[*rule]bool
}

func newScript() *script {
	return &script{
		decl: map[string][]string{}, del: map[string][]*rule{}, add: map[string][]string{}, drop: map[string][]string{},
		declared: map[string]bool{}, deleted: map[*rule]bool{},
	}
}

func (s *script) declare(table, chain string) {
	if k := table + " " + chain; !s.declared[k] {
		s.declared[k] = true
		s.decl[table] = append(s.decl[table], ":"+chain+" - [0:0]")
	}
}

// remove deletes one observed rule, once, unless its chain is declared
// (flushed) in the same script.
func (s *script) remove(r *rule) {
	if !s.deleted[r] {
		s.deleted[r] = true
		s.del[r.table] = append(s.del[r.table], r)
	}
}

// deletions are the table's -D lines, leaving out the rules of chains the
// script flushes anyway (a -D after the flush would fail).
func (s *script) deletions(table string) []string {
	var out []string
	for _, r := range s.del[table] {
		if !s.declared[table+" "+r.chain] {
			out = append(out, "-D "+r.chain+" "+r.spec())
		}
	}
	return out
}

func (s *script) append(r rule) {
	s.add[r.table] = append(s.add[r.table], "-A "+r.chain+" "+r.spec())
}

func (s *script) insert(r rule, pos int) {
	s.add[r.table] = append(s.add[r.table], fmt.Sprintf("-I %s %d %s", r.chain, pos, r.spec()))
}

// String renders the input, tables in the order raw, nat, filter; "" when
// there is nothing to do.
func (s *script) String() string {
	var b strings.Builder
	for _, t := range tables {
		del := s.deletions(t)
		if len(s.decl[t])+len(del)+len(s.add[t])+len(s.drop[t]) == 0 {
			continue
		}
		b.WriteString("*" + t + "\n")
		for _, part := range [][]string{s.decl[t], del, s.add[t], s.drop[t]} {
			for _, l := range part {
				b.WriteString(l + "\n")
			}
		}
		b.WriteString("COMMIT\n")
	}
	return b.String()
}

// buildScript turns a batch into the restore input that carries it out
// against the observed rules: only what differs is written.
func buildScript(o *observation, b *model.FirewallBatch) (string, error) {
	s := newScript()
	if b.Teardown {
		// Everything goes: whatever else the batch says is moot.
		teardown(s, o)
		return s.String(), nil
	}
	d := o.dump
	if b.Base {
		writeBase(s, o)
	}
	if b.Rewrite {
		if err := rewriteProject(s, o, b); err != nil {
			return "", err
		}
	}
	for _, n := range b.Networks {
		want, err := networkRules(o.inst, n, o.v6)
		if err != nil {
			return "", fmt.Errorf("network %s: %w", n.ID(), err)
		}
		have := observedRules(d, o.networks[n.ID()])
		missing, extra := matchRules(want, have)
		for _, r := range extra {
			s.remove(r)
		}
		for _, r := range have {
			if o.misplaced[r] && !slices.Contains(extra, r) {
				moveUp(s, r)
			}
		}
		for _, r := range missing {
			addNetworkRule(s, r)
		}
	}
	for _, n := range b.DropNetworks {
		for _, r := range observedRules(d, o.networks[n.ID()]) {
			s.remove(r)
		}
	}
	if b.Stray {
		for _, owner := range []string{"", b.Project} {
			for _, r := range observedRules(d, o.stray[owner]) {
				s.remove(r)
			}
			if b.Project == "" {
				break
			}
		}
	}
	return s.String(), nil
}

// observedRules maps rules of an observation back to the dump's own
// values, so that the script deletes each observed rule at most once.
func observedRules(d *dump, rules []rule) []*rule {
	var out []*rule
	used := map[*rule]bool{}
	for _, r := range rules {
		chain := d.rules[r.table][r.chain]
		for i := range chain {
			if !used[&chain[i]] && chain[i].raw == r.raw {
				used[&chain[i]] = true
				out = append(out, &chain[i])
				break
			}
		}
	}
	return out
}

// rewriteProject writes the project's complete set of ports and links
// over its own chain in each table where it differs, and removes the chain
// from tables where the project has nothing left.
func rewriteProject(s *script, o *observation, b *model.FirewallBatch) error {
	if err := checkProject(b.Project, false); err != nil {
		return err
	}
	want := map[string][]rule{}
	for _, p := range b.Ports {
		if p.Project != b.Project {
			return fmt.Errorf("port %s belongs to project %s, not %s", p.Key(), p.Project, b.Project)
		}
		rules, err := portRules(o.inst, p)
		if err != nil {
			return fmt.Errorf("port %s: %w", p.Key(), err)
		}
		for _, r := range rules {
			want[r.table] = append(want[r.table], r)
		}
	}
	for _, l := range b.Links {
		if l.Project != b.Project {
			return fmt.Errorf("link %s belongs to project %s, not %s", l.Key(), l.Project, b.Project)
		}
		rules, err := linkRules(o.inst, l)
		if err != nil {
			return fmt.Errorf("link %s: %w", l.Key(), err)
		}
		for _, r := range rules {
			want[r.table] = append(want[r.table], r)
		}
	}
	d, chain := o.dump, projectChain(o.inst, b.Project)
	jumpsTo := func(t string) []*rule {
		var out []*rule
		for _, c := range sortedKeys(d.rules[t]) {
			rules := d.rules[t][c]
			for i := range rules {
				if rules[i].target() == chain {
					out = append(out, &d.rules[t][c][i])
				}
			}
		}
		return out
	}
	for _, t := range tables {
		exists := d.hasChain(t, chain)
		jumps := jumpsTo(t)
		if len(want[t]) == 0 {
			if !exists {
				continue
			}
			for _, j := range jumps {
				s.remove(j)
			}
			s.declare(t, chain)
			s.drop[t] = append(s.drop[t], "-X "+chain)
			continue
		}
		editChain(s, t, chain, want[t], d, exists)
		wantJump := projectJump(o.inst, t, b.Project)
		if len(jumps) == 1 && jumps[0].key() == wantJump.key() {
			continue
		}
		for _, j := range jumps {
			s.remove(j)
		}
		s.append(wantJump)
	}
	return nil
}

// editChain makes the project's chain in table t hold want. Within the
// chain the rules match disjoint traffic, so order does not matter and the
// chain is compared as a multiset: when it exists, only the difference is
// written (one container's port at a thousand: 2 lines instead of 2,000,
// and the restore's 70 ms become a few), unless rewriting the chain takes
// fewer lines or a rule to remove is not one of netctl's own.
func editChain(s *script, t, chain string, want []rule, d *dump, exists bool) {
	if exists {
		have := d.rules[t][chain]
		ptrs := make([]*rule, len(have))
		for i := range have {
			ptrs[i] = &have[i]
		}
		missing, extra := matchRules(want, ptrs)
		if len(missing)+len(extra) < len(want) && !slices.ContainsFunc(extra, notOurs) {
			for _, r := range extra {
				s.remove(r)
			}
			for _, r := range missing {
				s.append(r)
			}
			return
		}
	}
	s.declare(t, chain)
	for _, r := range want {
		s.append(r)
	}
}

// notOurs reports whether r is not a port or link rule of netctl's making.
// Those are deleted by their saved text (-D); anything else in a project's
// chain (added by hand, or damaged) may not read back as a rule a -D
// matches, so the chain is rewritten instead, which clears it whatever it
// is.
func notOurs(r *rule) bool {
	_, c, ok := model.CommentInstance(r.comment())
	if !ok {
		return true
	}
	if _, ok := model.DecodePortComment(c); ok {
		return false
	}
	_, ok = model.DecodeLinkComment(c)
	return !ok
}
