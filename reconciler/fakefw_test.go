package reconciler

import (
	"context"
	"fmt"
	"maps"
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
}

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

func (f *fakeFirewall) Observe(_ context.Context, st *model.State) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	fw := model.NewFirewall()
	if !f.base {
		fw.BaseMissing = []string{"none of netctl's chains and jumps exist"}
	}
	for k, n := range f.networks {
		c := *n
		fw.Networks[k] = &c
	}
	for k, p := range f.ports {
		c := *p
		fw.Ports[k] = &c
		if ct := st.Containers[model.ContainerID(p.Project, p.Container)]; ct != nil {
			ct.Ports = append(ct.Ports, p.Port)
		}
	}
	for k, l := range f.links {
		c := *l
		fw.Links[k] = &c
	}
	for _, n := range st.Networks {
		if n.Bridge != "" {
			if _, ok := f.sysctls[model.SysctlRouteLocalnet(n.Bridge)]; !ok {
				f.sysctls[model.SysctlRouteLocalnet(n.Bridge)] = "0"
			}
		}
	}
	maps.Copy(fw.Sysctls, f.sysctls)
	for k, v := range f.stray {
		fw.Stray[k] = append([]string(nil), v...)
	}
	maps.Copy(fw.Bound, f.bound)
	fw.EphemeralLow, fw.EphemeralHigh = f.lo, f.hi
	st.Firewall = fw
	return nil
}

func (f *fakeFirewall) Apply(_ context.Context, b *model.FirewallBatch) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.batches = append(f.batches, b)
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
	for _, s := range b.Sysctls {
		f.sysctls[s.Key] = s.Value
	}
	return nil
}

func newFirewallHarness() (*harness, *fakeFirewall) {
	h := newHarness()
	fw := newFakeFirewall()
	h.r.Firewall = fw
	return h, fw
}
