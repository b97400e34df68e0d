package reconciler

import (
	"context"
	"fmt"

	"github.com/netctl/netctl/model"
)

// PrunePlan lists owned leftovers that no project claims: the shared
// default network once no container is on it, and endpoints whose
// container namespace is gone.
func PrunePlan(st *model.State) *Plan {
	p := &Plan{}
	inUse := map[string]bool{}
	for _, id := range st.SortedContainerIDs() {
		c := st.Containers[id]
		for _, ep := range c.Endpoints {
			inUse[ep.Network] = true
			if !c.NetnsOK && c.Mode != model.ModeHost {
				a := endpointAction(OpDelete, c, ep, "its container namespace is gone", []string{"veth " + ep.HostIf})
				a.phase = phaseDetach
				p.add(a)
			}
		}
	}
	removed := map[string]bool{}
	for _, id := range st.SortedNetworkIDs() {
		n := st.Networks[id]
		if n.Shared() && !inUse[id] {
			if deleteNetwork(p, n, "no container uses the default network") {
				pruneNetworkRules(p, st, id)
				removed[id] = true
			}
		}
	}
	pruneFirewall(p, st, removed)
	p.describe(model.NewState(), st)
	return p
}

// Prune removes what PrunePlan lists.
func (r *Reconciler) Prune(ctx context.Context) (*Plan, error) {
	st, err := r.Observe(ctx)
	if err != nil {
		return nil, err
	}
	p := PrunePlan(st)
	done, _, err := r.execute(ctx, p, nil)
	p.Actions = done
	if err != nil {
		return p, fmt.Errorf("prune: %w", err)
	}
	return p, blockedError(p)
}
