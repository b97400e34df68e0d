package reconciler

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"

	"github.com/netctl/netctl/model"
)

// fakeFirewall is an in-memory firewall backend: it holds objects, not
// rules, and records the batches it was given.
type fakeFirewall struct {
	mu       sync.Mutex
	base     bool
	networks map[string]*model.NetworkRules
	ports    map[string]*model.PortRule
	links    map[string]*model.LinkRule
	sysctls  map[string]string
	stray    map[string][]string
	bound    map[model.PortProto]bool
	lo, hi   uint16
	batches  []*model.FirewallBatch
	fail     bool // the next Apply fails
	// onApply, when set, runs at the start of every Apply; onObserve at
	// the start of every Observe.
	onApply, onObserve func()
	// gen counts observations; stale counts batches that did not carry
	// the snapshot of the latest one.
	gen, stale int
}

// fakeSnapshot is the fake's model.FirewallSnapshot: which observation.
type fakeSnapshot struct{ gen int }

func (fakeSnapshot) Backend() string { return "fake" }

func newFakeFirewall() *fakeFirewall {
	return &fakeFirewall{
		networks: map[string]*model.NetworkRules{},
		ports:    map[string]*model.PortRule{},
		links:    map[string]*model.LinkRule{},
		sysctls:  map[string]string{model.SysctlIPForward: "0", model.SysctlBridgeNFCallV4: "1"},
		stray:    map[string][]string{},
		bound:    map[model.PortProto]bool{},
		lo:       32768, hi: 32800,
	}
}

func (f *fakeFirewall) Observe(context.Context) (*model.Firewall, error) {
	if f.onObserve != nil {
		f.onObserve()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	fw := model.NewFirewall()
	f.gen++
	fw.Snapshot = fakeSnapshot{f.gen}
	if !f.base {
		fw.BaseMissing = []string{"none of netctl's chains and jumps exist"}
	}
	fw.Installed = f.base || len(f.networks)+len(f.ports)+len(f.links) > 0
	for k, n := range f.networks {
		c := *n
		fw.Networks[k] = &c
	}
	for k, p := range f.ports {
		c := *p
		fw.Ports[k] = &c
	}
	for k, l := range f.links {
		c := *l
		fw.Links[k] = &c
	}
	for k, v := range f.stray {
		fw.Stray[k] = append([]string(nil), v...)
	}
	return fw, nil
}

// Sysctls reads the fake's sysctls; a bridge's route_localnet exists (as
// "0") once asked for, as it would for a bridge the kernel has.
func (f *fakeFirewall) Sysctls(_ context.Context, keys []string) (map[string]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]string{}
	for _, k := range keys {
		if _, ok := f.sysctls[k]; !ok && strings.HasSuffix(k, ".route_localnet") {
			f.sysctls[k] = "0"
		}
		if v, ok := f.sysctls[k]; ok {
			out[k] = v
		}
	}
	return out, nil
}

// Ports implements HostFacts.
func (f *fakeFirewall) Ports(context.Context) (model.HostPorts, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return model.HostPorts{Bound: maps.Clone(f.bound), EphemeralLow: f.lo, EphemeralHigh: f.hi}, nil
}

func (f *fakeFirewall) Apply(_ context.Context, b *model.FirewallBatch) error {
	if f.onApply != nil {
		f.onApply()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.batches = append(f.batches, b)
	if b.Observed != (fakeSnapshot{f.gen}) {
		f.stale++
	}
	if f.fail {
		f.fail = false
		return fmt.Errorf("injected failure")
	}
	if b.Base {
		f.base = true
	}
	for _, n := range b.Networks {
		c := *n
		f.networks[n.ID()] = &c
	}
	for _, n := range b.DropNetworks {
		delete(f.networks, n.ID())
	}
	if b.Rewrite {
		for k, p := range f.ports {
			if p.Project == b.Project {
				delete(f.ports, k)
			}
		}
		for k, l := range f.links {
			if l.Project == b.Project {
				delete(f.links, k)
			}
		}
		for _, p := range b.Ports {
			c := *p
			f.ports[p.Key()] = &c
		}
		for _, l := range b.Links {
			c := *l
			f.links[l.Key()] = &c
		}
	}
	if b.Stray {
		delete(f.stray, "")
		delete(f.stray, b.Project)
	}
	if b.Teardown {
		f.base = false
		clear(f.networks)
		clear(f.ports)
		clear(f.links)
		clear(f.stray)
	}
	for _, s := range b.Sysctls {
		f.sysctls[s.Key] = s.Value
	}
	return nil
}

func newFirewallHarness() (*harness, *fakeFirewall) {
	h := newHarness()
	fw := newFakeFirewall()
	h.r.Firewall, h.r.HostFacts = fw, fw
	return h, fw
}
