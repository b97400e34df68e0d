package reconciler

import (
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/netctl/netctl/model"
)

// Op is what an action does to its object.
type Op string

// Ops.
const (
	OpCreate Op = "create"
	OpUpdate Op = "update"
	OpDelete Op = "delete"
)

// Kind is the kind of object an action concerns.
type Kind string

// Kinds, in the order their actions run within a phase.
const (
	KindNetwork   Kind = "network"   // a bridge and its settings
	KindContainer Kind = "container" // a namespace (or, for host mode, settings only)
	KindEndpoint  Kind = "endpoint"  // a veth pair on a network
	KindRoute     Kind = "route"     // a container's default route
	KindFiles     Kind = "files"     // a container's hosts, resolv.conf and settings
	KindDNS       Kind = "dns"       // a project's names in the embedded DNS server
	KindFirewall  Kind = "firewall"  // a network's, port's or link's packet-filter rules
	KindSysctl    Kind = "sysctl"    // a kernel setting of the host namespace
)

// Action is one small idempotent step of a plan. The JSON plan of `diff
// -o json` and `apply -o json` is rendered from it by plan_json.go.
type Action struct {
	Op   Op   `json:"op"`
	Kind Kind `json:"kind"`
	// Project owning the object; "" for the shared default network.
	Project string `json:"project"`
	// Name is the object: "backend" (network), "db" (container, route,
	// files), "db/backend" (endpoint: container/network).
	Name string `json:"name"`
	// Reason says why the action is needed.
	Reason string `json:"reason"`
	// Details describe the object's target state, or field changes as
	// "field: old -> new".
	Details []string `json:"details,omitempty"`

	phase     phase
	group     string // actions of one group run in order, groups in parallel
	network   *model.Network
	container *model.Container
	endpoint  *model.Endpoint
	gateway   netip.Addr
	ipv6      bool       // KindRoute: the IPv6 default route (gateway may be invalid: none)
	dns       *model.DNS // KindDNS: the configuration to serve, or the one to forget
	// namespaceOnly: a container delete that keeps the container's files
	// (it moves to network_mode host).
	namespaceOnly bool
	// fwObject is what a firewall or sysctl action concerns (diff_firewall.go).
	fwObject any
	// before and after are the object's fields as observed and as wanted,
	// for the JSON plan (plan_json.go).
	before, after Fields
}

// Blocked is a change the plan cannot make, with the reason.
type Blocked struct {
	Kind   Kind   `json:"kind"`
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// Plan is the ordered list of actions that takes the observed state to the
// desired one.
type Plan struct {
	Project string `json:"project"`
	// Node is the node of an overlay topology the plan is for.
	Node    string    `json:"node,omitempty"`
	Actions []*Action `json:"actions"`
	// Blocked lists deletions refused because the object holds something
	// netctl does not own; the rest of the plan still applies.
	Blocked []Blocked `json:"blocked,omitempty"`

	// firewall is the project's desired firewall, whose ports and links a
	// rewrite of the project's chains needs in full; fwHave the observed
	// firewall the plan was made from: its batch carries the backend's
	// snapshot back to the backend, and its objects become the
	// verification's when the read-back is handed off (firewall_handoff.go).
	firewall *model.Firewall
	fwHave   *model.Firewall
}

// Empty reports whether the plan changes nothing.
func (p *Plan) Empty() bool { return len(p.Actions) == 0 }

// phase orders actions: everything that removes runs before everything
// that creates, so a name or address freed by one object can be reused by
// another in the same plan.
type phase int

// Bridges are deleted in the same phase as namespaces: each deletion waits
// on its own kernel synchronisation, so running them side by side with the
// namespace teardown saves a bridge-deletion's worth of time per plan. A
// bridge whose ports are still being torn down can be deleted all the same.
const (
	phaseDetach    phase = iota // delete endpoints, containers and bridges
	phaseNetwork                // create or update bridges
	phaseContainer              // namespaces, endpoints, routes, files
	phaseNames                  // the DNS server's configuration, once bridges have their gateways
	phaseFirewall               // rules and sysctls, in one batch; started once the bridges exist, beside the phases before it (execute)
)

// symbol is the one-character marker of an op in the text rendering.
func (o Op) symbol() string {
	switch o {
	case OpCreate:
		return "+"
	case OpDelete:
		return "-"
	default:
		return "~"
	}
}

// WriteText renders the plan for people: one line per action, details
// indented under it, in execution order.
func (p *Plan) WriteText(w io.Writer) error {
	var b strings.Builder
	if p.Node != "" {
		fmt.Fprintf(&b, "node %s:\n", p.Node)
	}
	if p.Empty() && len(p.Blocked) == 0 {
		fmt.Fprintf(&b, "project %s: no changes\n", p.Project)
	}
	for _, a := range p.Actions {
		fmt.Fprintf(&b, "%s %s %s", a.Op.symbol(), a.Kind, a.Name)
		if a.Project == "" {
			b.WriteString(" (shared)")
		}
		fmt.Fprintf(&b, ": %s\n", a.Reason)
		for _, d := range a.Details {
			fmt.Fprintf(&b, "    %s\n", d)
		}
	}
	for _, bl := range p.Blocked {
		fmt.Fprintf(&b, "! %s %s: %s\n", bl.Kind, bl.Name, bl.Reason)
	}
	if !p.Empty() {
		fmt.Fprintf(&b, "project %s: %s\n", p.Project, p.Summary())
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Summary counts the actions by op: "3 to create, 1 to update, 0 to delete".
func (p *Plan) Summary() string {
	n := map[Op]int{}
	for _, a := range p.Actions {
		n[a.Op]++
	}
	return fmt.Sprintf("%d to create, %d to update, %d to delete", n[OpCreate], n[OpUpdate], n[OpDelete])
}
