package nftables

import (
	"context"

	"github.com/netctl/netctl/model"
)

// batchTeardown reports whether the batch removes everything of netctl's.
func batchTeardown(*model.FirewallBatch) bool { return false }

// Observe reads netctl's table into objects of every project.
func (b *Backend) Observe(ctx context.Context) (*model.Firewall, error) {
	s, err := b.observe(ctx)
	if err != nil {
		return nil, err
	}
	return s.fw, nil
}

// Apply carries out the rule part of a batch in one transaction.
func (b *Backend) Apply(ctx context.Context, batch *model.FirewallBatch) error {
	s, err := b.observe(ctx)
	if err != nil {
		return err
	}
	return b.apply(ctx, s, batch)
}

// Teardown removes netctl's table.
func (b *Backend) Teardown(ctx context.Context) error {
	s, err := b.observe(ctx)
	if err != nil {
		return err
	}
	return b.write(&txn{deleteTable: s.installed()})
}
