package reconciler

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"

	"github.com/netctl/netctl/model"
)

// fakeHost is an in-memory kernel and file store: the reconciler's tests
// run against it with no root and no kernel.
type fakeHost struct {
	mu    sync.Mutex
	st    *model.State
	calls []string
	// fail makes the named call fail once ("EnsureEndpoint shop/db").
	fail map[string]bool
	// scopes records the scope of every Observe (nil: everything).
	scopes []model.Scope
	// settle, when set, is what Settle does (the kernel's teardown).
	settle func()
	// onCall, when set, runs at the start of every recorded call.
	onCall func(call string)
}

func newFakeHost() *fakeHost { return &fakeHost{st: model.NewState(), fail: map[string]bool{}} }

func (f *fakeHost) record(call string) error {
	if f.onCall != nil {
		f.onCall(call)
	}
	f.calls = append(f.calls, call)
	if f.fail[call] {
		delete(f.fail, call)
		return fmt.Errorf("%s: injected failure", call)
	}
	return nil
}

func (f *fakeHost) Observe(_ context.Context, scope model.Scope) (*model.State, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.scopes = append(f.scopes, scope)
	st := cloneState(f.st, false)
	for id := range st.Containers {
		if !scope.Has(id) {
			delete(st.Containers, id)
		}
	}
	return st, nil
}

func (f *fakeHost) EnsureBridge(_ context.Context, n *model.Network) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("EnsureBridge " + n.ID()); err != nil {
		return err
	}
	c := *n
	c.Up = true
	if old := f.st.Networks[n.ID()]; old != nil {
		c.Foreign = old.Foreign
	}
	// Settings live in files, not in the kernel.
	c.Internal, c.ICC, c.IPRange, c.Labels, c.Driver = false, false, netip.Prefix{}, nil, "bridge"
	if n.Overlay != nil {
		// The kernel holds the VXLAN device, not the node's name or block.
		c.Overlay = &model.Overlay{VNI: n.Overlay.VNI, VXLAN: n.Overlay.VXLAN, Local: n.Overlay.Local,
			Port: n.Overlay.Port, Peers: slices.Clone(n.Overlay.Peers), DeviceOK: true}
	}
	c.MasqueradeV6 = false
	f.st.Networks[n.ID()] = &c
	return nil
}

func (f *fakeHost) DeleteBridge(_ context.Context, n *model.Network) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("DeleteBridge " + n.ID()); err != nil {
		return err
	}
	delete(f.st.Networks, n.ID())
	return nil
}

func (f *fakeHost) EnsureNamespace(_ context.Context, c *model.Container) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("EnsureNamespace " + c.ID()); err != nil {
		return err
	}
	o := f.st.Containers[c.ID()]
	if o == nil {
		o = &model.Container{Project: c.Project, Name: c.Name, Mode: model.ModeBridge, IfNames: []string{"lo"}}
		f.st.Containers[c.ID()] = o
	}
	o.Netns, o.External, o.NetnsOK, o.LoUp = c.Netns, c.External, true, true
	if !c.External {
		o.UTSHostname = c.Hostname
	}
	return nil
}

func (f *fakeHost) DeleteNamespace(_ context.Context, c *model.Container) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("DeleteNamespace " + c.ID()); err != nil {
		return err
	}
	delete(f.st.Containers, c.ID())
	return nil
}

func (f *fakeHost) EnsureEndpoint(_ context.Context, c *model.Container, n *model.Network, ep *model.Endpoint) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("EnsureEndpoint " + c.ID() + "@" + n.ID()); err != nil {
		return err
	}
	o := f.st.Containers[c.ID()]
	if o == nil || !o.NetnsOK {
		return fmt.Errorf("container %s: no namespace", c.ID())
	}
	if f.st.Networks[n.ID()] == nil {
		return fmt.Errorf("bridge %s: no such device", n.Bridge)
	}
	e := *ep
	e.Aliases = nil
	e.HostOK, e.PeerOK = true, true
	o.Endpoints = slices.DeleteFunc(o.Endpoints, func(x *model.Endpoint) bool { return x.Network == ep.Network })
	o.Endpoints = append(o.Endpoints, &e)
	sortEndpoints(o.Endpoints)
	if !slices.Contains(o.IfNames, ep.IfName) {
		o.IfNames = append(o.IfNames, ep.IfName)
	}
	return nil
}

func (f *fakeHost) DeleteEndpoint(_ context.Context, c *model.Container, ep *model.Endpoint) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("DeleteEndpoint " + c.ID() + "@" + ep.Network); err != nil {
		return err
	}
	if o := f.st.Containers[c.ID()]; o != nil {
		o.Endpoints = slices.DeleteFunc(o.Endpoints, func(x *model.Endpoint) bool { return x.Network == ep.Network })
		o.IfNames = slices.DeleteFunc(o.IfNames, func(x string) bool { return x == ep.IfName })
	}
	return nil
}

func (f *fakeHost) Settle(context.Context) error {
	if f.settle != nil {
		f.settle()
	}
	return nil
}

func (f *fakeHost) EnsureDefaultRoute(_ context.Context, c *model.Container, gw netip.Addr) error {
	return f.setRoute("EnsureDefaultRoute", c, func(o *model.Container) { o.DefaultGateway = gw })
}

func (f *fakeHost) EnsureDefaultRouteV6(_ context.Context, c *model.Container, gw netip.Addr) error {
	return f.setRoute("EnsureDefaultRouteV6", c, func(o *model.Container) { o.DefaultGatewayV6 = gw })
}

func (f *fakeHost) setRoute(call string, c *model.Container, set func(*model.Container)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record(call + " " + c.ID()); err != nil {
		return err
	}
	if o := f.st.Containers[c.ID()]; o != nil {
		set(o)
	}
	return nil
}

// fakeFiles is an in-memory files actuator.
type fakeFiles struct {
	mu         sync.Mutex
	networks   map[string]*model.Network
	containers map[string]*model.Container
}

func newFakeFiles() *fakeFiles {
	return &fakeFiles{networks: map[string]*model.Network{}, containers: map[string]*model.Container{}}
}

func (f *fakeFiles) Read(_ context.Context, scope model.Scope) (func(*model.State), error) {
	return func(st *model.State) { f.fill(st, scope) }, nil
}

func (f *fakeFiles) fill(st *model.State, scope model.Scope) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, s := range f.networks {
		n := st.Networks[id]
		if n == nil {
			n = &model.Network{Project: s.Project, Name: s.Name}
			st.Networks[id] = n
		}
		n.Driver, n.Internal, n.ICC, n.IPRange, n.Labels = s.Driver, s.Internal, s.ICC, s.IPRange, s.Labels
		n.MasqueradeV6 = s.MasqueradeV6
	}
	for id, s := range f.containers {
		if !scope.Has(id) {
			continue
		}
		c := st.Containers[id]
		if c == nil {
			c = &model.Container{Project: s.Project, Name: s.Name, Netns: s.Netns, External: s.External}
			st.Containers[id] = c
		}
		c.Hostname, c.Mode, c.ExtraHosts, c.DNS, c.HostsFile, c.ResolvFile = s.Hostname, s.Mode, s.ExtraHosts, s.DNS, s.HostsFile, s.ResolvFile
		c.EnvFile, c.Node, c.PublishAll = s.EnvFile, s.Node, s.PublishAll
		for _, ep := range c.Endpoints {
			if sep := s.Endpoint(ep.Network); sep != nil {
				ep.Aliases = sep.Aliases
			}
		}
	}
}

func (f *fakeFiles) WriteNetwork(_ context.Context, n *model.Network) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := *n
	f.networks[n.ID()] = &c
	return nil
}

func (f *fakeFiles) RemoveNetwork(_ context.Context, n *model.Network) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.networks, n.ID())
	return nil
}

func (f *fakeFiles) WriteContainer(_ context.Context, c *model.Container) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.containers[c.ID()] = cloneContainer(c)
	return nil
}

func (f *fakeFiles) RemoveContainer(_ context.Context, c *model.Container) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.containers, c.ID())
	return nil
}

func cloneState(s *model.State, _ bool) *model.State {
	out := model.NewState()
	for id, n := range s.Networks {
		c := *n
		c.Foreign = slices.Clone(n.Foreign)
		out.Networks[id] = &c
	}
	for id, c := range s.Containers {
		out.Containers[id] = cloneContainer(c)
	}
	out.HostRoutes = slices.Clone(s.HostRoutes)
	return out
}

func cloneContainer(c *model.Container) *model.Container {
	o := *c
	o.IfNames = slices.Clone(c.IfNames)
	o.Endpoints = nil
	for _, ep := range c.Endpoints {
		e := *ep
		o.Endpoints = append(o.Endpoints, &e)
	}
	return &o
}
