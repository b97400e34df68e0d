package reconciler

import (
	"context"
	"sync"

	"github.com/netctl/netctl/model"
)

// A round's verification reads again what its plan touched. Two of its
// readings start while the plan's last phases still run, each as soon as
// nothing after it can change what it reads: the rules, once the
// firewall's batch is done (firewall.go; or taken as written when another
// process reads them back: firewall_handoff.go), and the containers' and
// the host's links and the containers' files, once the last phase that
// makes or changes links is done (the DNS server's configuration and the
// firewall's batch change neither). Wiring 1,000 containers, the second
// is ~85 ms and the firewall's batch ~80 ms. Not on a first apply, whose
// journal starts only with the DNS server (CanReadAhead).

// aheadLinks is Links that can tell whether a verification's reading
// may be taken ahead (actuators/netlink: not while the journal that keeps
// readings for the next command is still to start).
type aheadLinks interface {
	CanReadAhead() bool
}

// canReadAhead: Links without the method always can.
func (r *Reconciler) canReadAhead() bool {
	a, ok := r.Links.(aheadLinks)
	return !ok || a.CanReadAhead()
}

// aheadReadings are the readings a plan's execution started for its
// verification; either may be nil.
type aheadReadings struct {
	rules *rulesReading
	links *linksReading
}

// linksReading is Links.Observe and Files.Read of a verification's
// scope, started ahead.
type linksReading struct {
	done          chan struct{}
	st            *model.State
	fill          func(*model.State)
	err, filesErr error
}

// readLinks starts reading scope's links and files in the background.
func (r *Reconciler) readLinks(ctx context.Context, scope model.Scope) *linksReading {
	lr := &linksReading{done: make(chan struct{})}
	go func() {
		defer close(lr.done)
		var wg sync.WaitGroup
		wg.Go(func() { lr.fill, lr.filesErr = r.Files.Read(ctx, scope) })
		lr.st, lr.err = r.Links.Observe(ctx, scope)
		wg.Wait()
	}()
	return lr
}

// verifyScope is what verifying p reads again: the containers the plan
// acted on (and those on a network it deleted), and the firewall and the
// DNS server only when the plan changed them.
func verifyScope(before *model.State, p *Plan) (model.Scope, domains) {
	scope := model.Scope{}
	var d domains
	for _, a := range p.Actions {
		switch a.Kind {
		case KindFirewall, KindSysctl:
			d.firewall = true
		case KindDNS:
			d.dns = true
		}
		if a.container != nil {
			scope[a.container.ID()] = true
		}
		if a.Kind == KindNetwork && a.Op == OpDelete {
			// Endpoints of a deleted bridge lose their master.
			for id, c := range before.Containers {
				if c.Endpoint(a.network.ID()) != nil {
					scope[id] = true
				}
			}
		}
	}
	return scope, d
}

// reobserve verifies a round. It reads again what the plan touched, and
// keeps the earlier observation of the rest (nothing of ours changed it;
// drift there is for the next reconcile). At a thousand containers the
// scoped read is the difference between ~8 ms and ~100 ms, and the
// firewall's read-back, which grows with the ruleset, is spared whenever
// only links changed.
func (r *Reconciler) reobserve(ctx context.Context, before *model.State, p *Plan, ahead *aheadReadings) (*model.State, error) {
	scope, d := verifyScope(before, p)
	return r.observeWith(ctx, scope, d, before, ahead)
}
