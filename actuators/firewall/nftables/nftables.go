// Package nftables is netctl's native nftables firewall backend: it lays
// netctl's packet-filter objects (model.Firewall) out in a table of its
// own, `inet netctl`, whose chains are fixed and whose sets and maps hold
// the networks, published ports and links (layout.go); it reads the table
// back into objects, the host ports picked for ephemeral and range
// mappings included (marks.go); and it carries out every change of a
// reconcile in one atomic nf_tables transaction.
//
// It speaks netlink to the kernel through github.com/google/nftables, so
// it needs no nft binary (many nftables-first hosts have none, just as
// they have no iptables) and no process per change. It never reads or
// writes any table but its own.
package nftables

import (
	"context"
	"fmt"
	"time"

	"github.com/google/nftables"
	"github.com/rs/zerolog"
	"github.com/vishvananda/netns"

	"github.com/netctl/netctl/model"
)

// Name is the backend's name, as --firewall spells it.
const Name = "nftables"

// Config is what New needs.
type Config struct {
	// Host is the host network namespace, where the table lives; the
	// caller keeps it open.
	Host netns.NsHandle
	// Instance is the netctl instance (--root) whose table this is.
	Instance model.Instance
	Log      zerolog.Logger
}

// Backend is the nftables backend. It holds no state between calls.
type Backend struct {
	host  netns.NsHandle
	log   zerolog.Logger
	table *nftables.Table // the instance's table
}

// New checks that the kernel speaks nf_tables and returns the backend.
func New(cfg Config) (*Backend, error) {
	b := &Backend{host: cfg.Host, log: cfg.Log, table: instanceTable(cfg.Instance)}
	if err := b.Available(); err != nil {
		return nil, err
	}
	return b, nil
}

// Available reports whether nf_tables answers in the host namespace.
func (b *Backend) Available() error {
	c, err := b.conn(false)
	if err != nil {
		return err
	}
	if _, err := c.ListTablesOfFamily(nftables.TableFamilyINet); err != nil {
		return fmt.Errorf("nftables: the kernel does not answer (is nf_tables available?): %w", err)
	}
	return nil
}

// Name implements firewall.Backend.
func (b *Backend) Name() string { return Name }

// Observe implements firewall.Backend: one reading of netctl's table,
// sorted into objects, with the reading as the snapshot Apply works from.
func (b *Backend) Observe(ctx context.Context) (*model.Firewall, error) {
	s, err := b.observe(ctx)
	if err != nil {
		return nil, err
	}
	s.fw.Installed = s.installed()
	s.fw.Snapshot = s
	return s.fw, nil
}

// Apply implements firewall.Backend: the rule part of the batch in one
// transaction, relative to the batch's snapshot when it is one of ours,
// else to a fresh reading.
func (b *Backend) Apply(ctx context.Context, batch *model.FirewallBatch) error {
	s, ok := batch.Observed.(*state)
	if !ok || s == nil {
		var err error
		if s, err = b.observe(ctx); err != nil {
			return err
		}
	}
	return b.apply(ctx, s, batch)
}

// observe reads the table and sorts it into objects.
func (b *Backend) observe(ctx context.Context) (*state, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	start := time.Now()
	r, err := b.read()
	if err != nil {
		return nil, err
	}
	s := classify(r)
	n := 0
	for _, sr := range r.sets {
		n += len(sr.elements)
	}
	b.log.Debug().Bool("table", r.exists).Int("elements", n).Dur("took", time.Since(start)).Msg("nftables observed")
	return s, nil
}

// apply carries out the rule part of a batch in one transaction, relative
// to the observation s, and warns when another table drops what netctl's
// forward chain accepts.
func (b *Backend) apply(ctx context.Context, s *state, batch *model.FirewallBatch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t, err := plan(s, batch)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := b.write(t); err != nil {
		return err
	}
	b.log.Debug().Bool("rebuilt", t.build).Bool("deleted", t.deleteTable).Int("added", len(t.adds)).Int("removed", len(t.dels)).
		Dur("took", time.Since(start)).Msg("nftables transaction")
	if t.build || len(batch.Networks) > 0 {
		b.warnForwardDrops(t.bridges)
	}
	return nil
}
