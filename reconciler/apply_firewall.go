package reconciler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/netctl/netctl/model"
)

// runFirewall carries out a plan's firewall phase (one group: every
// firewall and sysctl action) as one batch: one transaction per table.
// The batch succeeds or fails as a whole, and so do its actions.
func (r *Reconciler) runFirewall(ctx context.Context, p *Plan, groups [][]*Action) ([]*Action, *model.FirewallBatch, error) {
	var actions []*Action
	for _, g := range groups {
		actions = append(actions, g...)
	}
	if r.Firewall == nil {
		return nil, nil, errors.New("firewall: no backend to apply the plan's firewall actions")
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	start := time.Now()
	b := firewallBatch(p, actions)
	if err := r.Firewall.Apply(ctx, b); err != nil {
		return nil, b, fmt.Errorf("firewall: %w", err)
	}
	r.Log.Debug().Int("actions", len(actions)).Dur("took", time.Since(start)).Msg("firewall batch applied")
	return actions, b, nil
}
