// Package firewall is netctl's packet-filter actuator: the backend-neutral
// layer between the reconciler and one firewall backend.
//
// The reconciler speaks in objects (model.Firewall): per-network isolation
// and NAT (model.NetworkRules), published ports (model.PortRule), the
// openings legacy links make (model.LinkRule), and netctl's fixed part
// every project shares. A backend lays those objects out in its own
// representation (actuators/firewall/iptables: chains of netctl's own;
// actuators/firewall/nftables: a table of netctl's own) and is the only
// code that knows it.
// This package holds what every backend shares:
//
//   - the choice of the backend (New, Config.Backend; select.go) and the
//     move of netctl's rules from the other backend when it holds some
//     (switch.go);
//   - the sysctls the rules depend on (ip_forward, bridge-nf-call-iptables,
//     route_localnet, and IPv6's all.forwarding and
//     bridge-nf-call-ip6tables), read and written under /proc/sys;
//   - the conntrack flush after a connectionless port changes target.
//
// # Adding a backend
//
// A backend is a package beside iptables that implements Backend in terms
// of model types only (so this package can import it to choose it) and
// gets a case in openBackend (select.go). The reconciler does not change: it sees one
// Firewall whichever backend is behind it. What a backend must do:
//
//   - Observe reads all of netctl's rules of every project in one pass and
//     returns them as objects: Networks, Ports and Links rebuilt from the
//     marks on the rules (the persisted encodings of model/rulecomment.go:
//     the host port picked for an ephemeral mapping is read back from
//     there, so a backend must store and decode them exactly), each
//     Damaged when some of its rules are missing; Stray, the rules in
//     netctl's own chains or tables that belong to no object; BaseMissing,
//     what is wrong with the fixed part; Installed, whether a teardown
//     would remove anything; and Snapshot, the backend's own reading.
//     Sysctls and HostPorts are left empty (the reconciler adds the
//     sysctls and the host facts of actuators/hostfacts; hairpin mode, which
//     published ports need too, is a property of the endpoint the netlink
//     actuator keeps).
//   - Apply carries out the rule part of a batch (Base, Networks,
//     DropNetworks, Rewrite with the project's complete Ports and Links,
//     Stray, Teardown) in one transaction, relative to batch.Observed (the
//     Snapshot of its own Observe that the plan was made from; when it is
//     nil or another backend's, Apply reads the rules first). It touches
//     only the batch's project's objects, the shared default network's and
//     the fixed part; a project's apply never rewrites another's rules.
//     Flush and Sysctls are this layer's.
//   - Neither keeps state between calls: everything Apply needs is in the
//     batch. (The iptables backend may take a reading from the one it saved
//     under --root, only while the nf_tables generation proves the ruleset
//     unchanged since: iptables/savecache.go.)
//   - Optionally, Subscribe (EventSource) reports other processes' changes
//     to netctl's rules, so that watch repairs them at once.
//   - Both families: a dual-stack network (SubnetV6 set) gets the same
//     rules for IPv6, its egress masqueraded only with MasqueradeV6, and
//     neighbour discovery let through within the bridge when icc is off;
//     ports and links are of the family of their addresses (a port on
//     every IPv6 address has HostIP [::]); a [::1] destination is never
//     DNATed. Observed, a network's IPv6 half sets SubnetV6/MasqueradeV6 on
//     the same object (model.EncodeNetworkCommentV6 marks it). The
//     iptables backend does this in ip6tables (family.go there), the
//     nftables backend in IPv6 sets of its table (layout.go there).
package firewall
