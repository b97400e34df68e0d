package reconciler

import (
	"context"
	"net/netip"

	"github.com/netctl/netctl/model"
)

// Links is the kernel's link layer as the reconciler needs it: bridges,
// network namespaces, veth endpoints and routes. Every method is idempotent
// and converges from any partial state (a crash half way through a call is
// repaired by calling it again). Only objects carrying an ownership mark
// (model.Owner) are modified or deleted.
type Links interface {
	// Observe reads every netctl-owned bridge, namespace and endpoint, of
	// every project, plus the host's routes (both families). Container settings the
	// kernel cannot hold (Hostname, Aliases, ...) are left empty. Only the
	// containers in scope are read (nil: all); with a scope, the networks'
	// Foreign ports are not read (they need every host link; the caller
	// keeps what it knew), and host ends left without their container are
	// reported only by a full observation.
	Observe(ctx context.Context, scope model.Scope) (*model.State, error)

	// EnsureBridge creates the bridge or brings it to n: mark, MTU,
	// exactly the gateway address Gateway/Subnet.Bits() (and, dual stack,
	// GatewayV6/SubnetV6.Bits() as its only global IPv6 address), up.
	EnsureBridge(ctx context.Context, n *model.Network) error
	// DeleteBridge deletes the owned bridge; absent is success.
	DeleteBridge(ctx context.Context, n *model.Network) error

	// EnsureNamespace makes c.Netns a network namespace with lo up. For an
	// owned namespace it creates and bind-mounts it, and its UTS namespace
	// with c.Hostname; for an External one it checks the path is a network
	// namespace and records the attachment.
	EnsureNamespace(ctx context.Context, c *model.Container) error
	// DeleteNamespace removes an owned namespace and its UTS namespace
	// (unmount + remove; the
	// kernel then destroys its veths in bulk, asynchronously: Settle waits
	// for that). For an External namespace it
	// deletes netctl's endpoints in it and forgets the attachment, leaving
	// the namespace itself alone.
	DeleteNamespace(ctx context.Context, c *model.Container) error

	// EnsureEndpoint creates the veth pair (peer created directly inside
	// the container's namespace) or repairs it: both ends marked, host end
	// enslaved to bridge and up, container end named ep.IfName with ep.MAC,
	// ep.MTU, exactly the address ep.Addr (and ep.AddrV6 as its only
	// global IPv6 address, nodad, with router advertisements ignored), up.
	EnsureEndpoint(ctx context.Context, c *model.Container, n *model.Network, ep *model.Endpoint) error
	// DeleteEndpoint removes the veth pair; absent is success.
	DeleteEndpoint(ctx context.Context, c *model.Container, ep *model.Endpoint) error

	// Settle returns once the deletions made so far have completed in the
	// kernel (namespace teardown is asynchronous), so that an Observe after
	// it sees them done. The reconciler calls it after each phase.
	Settle(ctx context.Context) error

	// EnsureDefaultRoute makes gw the container's only default route, or
	// removes the default route when gw is invalid.
	EnsureDefaultRoute(ctx context.Context, c *model.Container, gw netip.Addr) error
	// EnsureDefaultRouteV6 does the same for the IPv6 default route.
	EnsureDefaultRouteV6(ctx context.Context, c *model.Container, gw netip.Addr) error
}

// Names is the embedded DNS server: one configuration per project, served
// by one background server per --root that outlives the netctl command.
type Names interface {
	// Observe fills st.DNS with each project's configuration, marking
	// whether the server serves it as it is.
	Observe(ctx context.Context, st *model.State) error
	// EnsureDNS stores the project's configuration and returns once the
	// server serves it (starting the server when it is not running), so
	// that a name resolves as soon as apply returns.
	EnsureDNS(ctx context.Context, cfg *model.DNS) error
	// RemoveDNS forgets the project's configuration and stops the server
	// once no project has one; absent is success.
	RemoveDNS(ctx context.Context, project string) error
}

// Files holds what the kernel cannot: per-container hosts and resolv.conf
// and the settings of networks and containers (labels, hostnames, aliases).
type Files interface {
	// Read reads the settings of the networks and the files of the
	// containers in scope (nil: all); fill puts them into an observed
	// state, adding the objects that exist only as files (network_mode:
	// host, a network whose bridge is gone). Read needs nothing of the kernel's state, so the reconciler runs it
	// alongside the link observation and applies what it returns (fill)
	// to the observed state afterwards: the reading travels as a value,
	// never kept in the actuator between calls.
	Read(ctx context.Context, scope model.Scope) (fill func(st *model.State), err error)
	WriteNetwork(ctx context.Context, n *model.Network) error
	RemoveNetwork(ctx context.Context, n *model.Network) error
	// WriteContainer writes c's settings and its HostsFile and ResolvFile.
	WriteContainer(ctx context.Context, c *model.Container) error
	RemoveContainer(ctx context.Context, c *model.Container) error
}

// Firewall is the packet filter as the reconciler needs it, in terms of
// objects (model.Firewall) so that the backend lays out the rules. It
// keeps nothing between calls: what Apply needs travels in the batch.
type Firewall interface {
	// Observe reads every netctl rule object of every project (marking
	// damaged ones and listing stray rules), with the backend's own reading
	// of them in Snapshot. It needs nothing of the rest of the state, so the
	// reconciler runs it alongside the link observation.
	Observe(ctx context.Context) (*model.Firewall, error)
	// Sysctls reads the current value of each key; a key missing from the
	// result does not exist on the host.
	Sysctls(ctx context.Context, keys []string) (map[string]string, error)
	// Apply carries out a batch: the rules in one transaction relative to
	// b.Observed (the Snapshot the plan was made from), touching only the
	// batch's project's rules, the shared default network's and netctl's
	// fixed part; then it flushes conntrack and sets sysctls.
	Apply(ctx context.Context, b *model.FirewallBatch) error
}

// HostFacts reads what picking a host port depends on.
type HostFacts interface {
	// Ports returns the ports programs of the host have bound and the
	// host's ephemeral port range.
	Ports(ctx context.Context) (model.HostPorts, error)
}
