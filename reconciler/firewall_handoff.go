package reconciler

import (
	"context"
	"maps"

	"github.com/netctl/netctl/model"
)

// A batch's read-back, handed off. After a batch the verification used to
// read the rules back (iptables-save of the whole ruleset: ~35 ms at 1,000
// published ports, the last thing an add-one waited for). What it would
// learn, the batch's success says already: the backend commits each table
// in one transaction, whole or not at all. So when another process takes
// on the reading the next command needs (the iptables backend's worker:
// actuators/firewall/iptables/refresh.go), the verification takes the
// batch's objects as written instead. Such a firewall state has no
// snapshot: a later round that changes rules reads them first (converge),
// and so does the backend for a batch that carries none.

// readBackHandOff is a Firewall that can have the rules a batch left read
// back by another process.
type readBackHandOff interface {
	// HandOff is true when another process took on reading back the rules
	// b left.
	HandOff(ctx context.Context, b *model.FirewallBatch) bool
}

// handOff returns the firewall the verification takes after b succeeded,
// when its read-back was handed off; nil when this process must read the
// rules back itself. When nobody takes it and the plan has a names phase
// (namesDone not nil), it asks again once that phase is over: a first
// apply starts the DNS server there, beside the firewall's batch.
func (r *Reconciler) handOff(ctx context.Context, p *Plan, b *model.FirewallBatch, namesDone <-chan struct{}) *rulesReading {
	h, ok := r.Firewall.(readBackHandOff)
	if !ok {
		return nil
	}
	after, ok := afterBatch(p.fwHave, b)
	if !ok {
		return nil
	}
	taken := h.HandOff(ctx, b)
	if !taken && namesDone != nil {
		select {
		case <-namesDone:
			taken = h.HandOff(ctx, b)
		case <-ctx.Done():
		}
	}
	if !taken {
		return nil
	}
	r.Log.Debug().Msg("rules' read-back handed off; the batch's objects taken as written")
	rr := &rulesReading{done: make(chan struct{}), fw: after, written: true}
	close(rr.done)
	return rr
}

// afterBatch is what have (an observation's rule objects) becomes once b
// is carried out: the objects b wrote, as written, and the rest as they
// were. False for a batch whose outcome is more than its objects (a
// teardown, the removal of stray rules): its rules are read back.
func afterBatch(have *model.Firewall, b *model.FirewallBatch) (*model.Firewall, bool) {
	if have == nil || b.Teardown || b.Stray {
		return nil, false
	}
	fw := &model.Firewall{
		Networks: maps.Clone(have.Networks), Ports: maps.Clone(have.Ports), Links: maps.Clone(have.Links),
		Sysctls: map[string]string{}, Stray: have.Stray, BaseMissing: have.BaseMissing,
		OtherInstances: have.OtherInstances, Installed: have.Installed,
	}
	if b.Base {
		fw.BaseMissing, fw.Installed = nil, true
	}
	for _, n := range b.DropNetworks {
		delete(fw.Networks, n.ID())
	}
	for _, n := range b.Networks {
		c := *n
		c.Damaged = false
		fw.Networks[c.ID()], fw.Installed = &c, true
	}
	if b.Rewrite {
		// The batch holds the project's complete set (FirewallBatch).
		maps.DeleteFunc(fw.Ports, func(_ string, p *model.PortRule) bool { return p.Project == b.Project })
		maps.DeleteFunc(fw.Links, func(_ string, l *model.LinkRule) bool { return l.Project == b.Project })
		for _, p := range b.Ports {
			c := *p
			c.Damaged = false
			fw.Ports[c.Key()], fw.Installed = &c, true
		}
		for _, l := range b.Links {
			c := *l
			c.Damaged = false
			fw.Links[c.Key()], fw.Installed = &c, true
		}
	}
	return fw, true
}
