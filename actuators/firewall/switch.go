package firewall

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/netctl/netctl/model"
)

// Switching backends (TOPOLOGY: "the next apply removes them from the
// other backend"). Observe reads the other backends too; what one of them
// still holds is folded into the observation as Damaged objects, so that
// the plan rewrites the project's objects in the backend in use and keeps
// their host ports, and a line in BaseMissing makes the plan say so. Apply
// then writes the other projects' objects (and the shared default
// network) into the backend in use as they were, and tears the other
// backend down: the whole host moves in one apply, nobody's rules are
// lost, and nothing is left behind.

// switched is the snapshot of an observation that found netctl's rules in
// another backend too.
type switched struct {
	// active is the snapshot of the backend in use, and activeFW what it
	// holds itself.
	active   model.FirewallSnapshot
	activeFW *model.Firewall
	others   []held
}

// held is another backend and what it holds.
type held struct {
	backend Backend
	fw      *model.Firewall
}

// Backend implements model.FirewallSnapshot.
func (s *switched) Backend() string {
	if s.active == nil {
		return ""
	}
	return s.active.Backend()
}

// observeOthers reads the other backends and folds what they hold into
// fw, the active backend's observation.
func (f *Firewall) observeOthers(ctx context.Context, fw *model.Firewall) {
	var found []held
	for _, o := range f.others {
		ofw, err := o.Observe(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return // called off (say, apply's file was refused): nothing to tell
			}
			// Reading the previous backend only serves a switch: a host
			// where it fails (say, iptables without its kernel modules)
			// still applies.
			f.log.Warn().Err(err).Str("backend", o.Name()).Msg("cannot read netctl's rules in the other firewall backend")
			continue
		}
		if ofw.Installed {
			found = append(found, held{backend: o, fw: ofw})
		}
	}
	if len(found) == 0 {
		return
	}
	sw := &switched{active: fw.Snapshot, activeFW: objectsOnly(fw), others: found}
	for _, h := range found {
		fold(fw, h.fw)
		fw.BaseMissing = append(fw.BaseMissing, fmt.Sprintf("%s still holds netctl's rules (the backend in use is %s): this apply moves them",
			h.backend.Name(), f.backend.Name()))
	}
	fw.Installed = true
	fw.Snapshot = sw
}

// objectsOnly copies fw's object maps (their values are shared).
func objectsOnly(fw *model.Firewall) *model.Firewall {
	return &model.Firewall{Networks: maps.Clone(fw.Networks), Ports: maps.Clone(fw.Ports), Links: maps.Clone(fw.Links)}
}

// fold adds to fw, as Damaged, the objects other holds that fw lacks.
func fold(fw, other *model.Firewall) {
	for id, n := range other.Networks {
		if fw.Networks[id] == nil {
			c := *n
			c.Damaged = true
			fw.Networks[id] = &c
		}
	}
	for k, p := range other.Ports {
		if fw.Ports[k] == nil {
			c := *p
			c.Damaged = true
			fw.Ports[k] = &c
		}
	}
	for k, l := range other.Links {
		if fw.Links[k] == nil {
			c := *l
			c.Damaged = true
			fw.Links[k] = &c
		}
	}
}

// applyRules carries out the rule part of b on the backend in use and,
// when the observation found netctl's rules in another backend, moves
// them: the other projects' objects are written to the backend in use,
// then the other backend is torn down.
func (f *Firewall) applyRules(ctx context.Context, b *model.FirewallBatch) error {
	sw, ok := b.Observed.(*switched)
	if !ok {
		return f.backend.Apply(ctx, b)
	}
	own := *b
	own.Observed = sw.active
	if err := f.backend.Apply(ctx, &own); err != nil {
		return err
	}
	for _, h := range sw.others {
		if !b.Teardown {
			for _, ab := range adoption(b, sw.activeFW, h.fw) {
				if err := f.backend.Apply(ctx, ab); err != nil {
					return fmt.Errorf("moving project %q's rules from %s to %s: %w", ab.Project, h.backend.Name(), f.backend.Name(), err)
				}
			}
		}
		if err := h.backend.Apply(ctx, &model.FirewallBatch{Teardown: true, Observed: h.fw.Snapshot}); err != nil {
			return fmt.Errorf("removing netctl's rules from %s: %w", h.backend.Name(), err)
		}
		f.log.Info().Str("from", h.backend.Name()).Str("to", f.backend.Name()).Msg("netctl's firewall rules moved to the backend in use")
	}
	return nil
}

// adoption is the batches that write into the backend in use what other
// holds and b does not decide: the objects of other projects and the
// shared default network, unless the backend in use has them already.
// b's own project's objects are b's to write (or drop).
func adoption(b *model.FirewallBatch, active, other *model.Firewall) []*model.FirewallBatch {
	decided := map[string]bool{}
	for _, n := range append(slices.Clone(b.Networks), b.DropNetworks...) {
		decided[n.ID()] = true
	}
	mine := func(project string) bool { return project == b.Project && project != "" }
	batches := map[string]*model.FirewallBatch{}
	get := func(project string) *model.FirewallBatch {
		if batches[project] == nil {
			batches[project] = &model.FirewallBatch{Project: project}
		}
		return batches[project]
	}
	for _, id := range slices.Sorted(maps.Keys(other.Networks)) {
		n := other.Networks[id]
		if mine(n.Project) || decided[id] || active.Networks[id] != nil {
			continue
		}
		c := *n
		c.Damaged = false
		get(n.Project).Networks = append(get(n.Project).Networks, &c)
	}
	for _, p := range other.Ports {
		if !mine(p.Project) && active.Ports[p.Key()] == nil {
			get(p.Project).Rewrite = true
		}
	}
	for _, l := range other.Links {
		if !mine(l.Project) && active.Links[l.Key()] == nil {
			get(l.Project).Rewrite = true
		}
	}
	var out []*model.FirewallBatch
	for _, project := range slices.Sorted(maps.Keys(batches)) {
		ab := batches[project]
		if ab.Rewrite {
			// The project's complete set: what the backend in use has,
			// and what the other one has besides.
			ab.Ports = unionOf(active.Ports, other.Ports, func(p *model.PortRule) (*model.PortRule, bool) {
				c := *p
				c.Damaged = false
				return &c, p.Project == project
			})
			ab.Links = unionOf(active.Links, other.Links, func(l *model.LinkRule) (*model.LinkRule, bool) {
				c := *l
				c.Damaged = false
				return &c, l.Project == project
			})
		}
		out = append(out, ab)
	}
	return out
}

// unionOf is what take keeps of first's values and second's (first's
// winning where both have a key), sorted by key.
func unionOf[T any](first, second map[string]T, take func(T) (T, bool)) []T {
	all := maps.Clone(second)
	maps.Copy(all, first)
	var out []T
	for _, k := range slices.Sorted(maps.Keys(all)) {
		if c, ok := take(all[k]); ok {
			out = append(out, c)
		}
	}
	return out
}
