package firewall

import (
	"context"

	"github.com/rs/zerolog"
	"github.com/vishvananda/netns"

	"github.com/netctl/netctl/model"
)

// Backend is one packet-filter implementation of netctl's firewall objects
// (see the package documentation for the contract in full).
type Backend interface {
	// Name is the backend's name, as Config.Backend spells it.
	Name() string
	// Observe reads netctl's rules of every project in one pass and
	// returns them as objects: Networks, Ports, Links (Damaged when some of
	// their rules are missing), Stray, BaseMissing, Installed, and the
	// backend's own reading as Snapshot. Sysctls and HostPorts stay empty.
	Observe(ctx context.Context) (*model.Firewall, error)
	// Apply carries out the rule part of the batch (Base, Networks,
	// DropNetworks, Rewrite/Ports/Links, Stray, Teardown) in one
	// transaction, relative to b.Observed when it is this backend's
	// snapshot, else relative to a fresh reading. It ignores Flush and
	// Sysctls.
	Apply(ctx context.Context, b *model.FirewallBatch) error
}

// Config is what New needs. cmd/ fills it from flags and the environment;
// nothing here reads either.
type Config struct {
	// Backend picks the packet filter: "iptables", "nftables", or "" and
	// "auto" for the default (iptables where installed, else nftables).
	Backend string
	// IptablesMode is the iptables flavour, "nft" or "legacy"; "" asks the
	// host's iptables command.
	IptablesMode string
	// Host is the host network namespace: conntrack entries are flushed
	// through a netlink socket opened in it. The caller keeps it open.
	Host netns.NsHandle
	// Instance is the netctl instance (--root) whose rules these are;
	// other instances' rules are never touched.
	Instance model.Instance
	// Root is netctl's --root: the iptables backend keeps its last
	// reading of the rules there, reused while the nf_tables ruleset's
	// generation does not move ("" reads the rules every time).
	Root string
	Log  zerolog.Logger
}

// Firewall implements reconciler.Firewall on top of one Backend. It holds
// no state between calls.
type Firewall struct {
	backend Backend
	// others are the backends not in use that work on this host: netctl's
	// rules found there are moved to backend (switch.go).
	others []Backend
	host   netns.NsHandle
	log    zerolog.Logger
	// procSys is where sysctls live: /proc/sys (tests point it elsewhere).
	procSys string
}

// New chooses and opens the backend.
func New(cfg Config) (*Firewall, error) {
	b, others, err := choose(cfg.Backend, openBackend(cfg))
	if err != nil {
		return nil, err
	}
	cfg.Log.Debug().Str("backend", b.Name()).Int("others", len(others)).Msg("firewall backend")
	return &Firewall{backend: b, others: others, host: cfg.Host, log: cfg.Log, procSys: "/proc/sys"}, nil
}

// Backend names the backend in use.
func (f *Firewall) Backend() string { return f.backend.Name() }

// Observe implements reconciler.Firewall: the backend's objects, and
// netctl's rules found in the other backends.
func (f *Firewall) Observe(ctx context.Context) (*model.Firewall, error) {
	fw, err := f.backend.Observe(ctx)
	if err != nil {
		return nil, err
	}
	f.observeOthers(ctx, fw)
	return fw, nil
}

// Sysctls implements reconciler.Firewall.
func (f *Firewall) Sysctls(_ context.Context, keys []string) (map[string]string, error) {
	out := map[string]string{}
	for _, key := range keys {
		v, ok, err := readSysctl(f.procSys, key)
		if err != nil {
			return nil, err
		}
		if ok {
			out[key] = v
		}
	}
	return out, nil
}

// HandOff implements the reconciler's hand-off of a batch's read-back (the
// iptables backend's, to the DNS server's worker: iptables/refresh.go):
// true when another process reads the rules b left back, so that this
// one need not. Never for a batch that moved rules from another backend:
// this process reads those back itself.
func (f *Firewall) HandOff(ctx context.Context, b *model.FirewallBatch) bool {
	if _, moved := b.Observed.(*switched); moved {
		return false
	}
	h, ok := f.backend.(interface{ HandOff(context.Context) bool })
	return ok && h.HandOff(ctx)
}

// Apply implements reconciler.Firewall: the backend's one transaction for
// the rules, then the conntrack flushes, then the sysctls (forwarding goes
// on only once isolation is in place).
func (f *Firewall) Apply(ctx context.Context, b *model.FirewallBatch) error {
	if err := f.applyRules(ctx, b); err != nil {
		return err
	}
	if len(b.Flush) > 0 {
		if err := f.flushConntrack(b.Flush); err != nil {
			return err
		}
	}
	for _, s := range b.Sysctls {
		if err := writeSysctl(f.procSys, s.Key, s.Value); err != nil {
			return err
		}
	}
	return nil
}
