package reconciler

import (
	"encoding/json"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/netctl/netctl/model"
)

// PlanFormatVersion versions the JSON plan. A consumer checks it; any
// change that is not a pure addition of keys bumps it.
const PlanFormatVersion = "1"

// Fields is an object's state as the JSON plan shows it: field name to
// value, values that marshal to JSON scalars, lists or objects.
type Fields map[string]any

// describe records each action's object as observed (before) and as the
// file wants it (after), from the states the plan was computed from: an
// action that creates has no before, one that deletes no after. It runs
// when the plan is made, since apply's later rounds observe anew.
func (p *Plan) describe(desired, observed *model.State) {
	for _, a := range p.Actions {
		d, o := fieldsOf(a, desired, true), fieldsOf(a, observed, false)
		switch a.Op {
		case OpCreate:
			o = nil
		case OpDelete:
			d = nil
		}
		a.before, a.after = o, d
	}
}

// fieldsOf finds the action's object in st and returns its fields, nil
// when st does not hold it. wanted marks the desired state, where the
// observed-only facts (up, loopback up, rules complete...) are what they
// should be.
func fieldsOf(a *Action, st *model.State, wanted bool) Fields {
	if st == nil {
		return nil
	}
	switch a.Kind {
	case KindNetwork:
		if n := st.Networks[a.network.ID()]; n != nil {
			return networkFields(n, wanted, a.network.Overlay != nil)
		}
	case KindContainer, KindRoute, KindFiles, KindEndpoint:
		c := st.Containers[a.container.ID()]
		if c == nil {
			return nil
		}
		switch a.Kind {
		case KindContainer:
			hostname := c.UTSHostname
			if wanted && ownsUTS(c) {
				hostname = c.Hostname
			}
			return Fields{"namespace": c.Netns, "external": c.External, "mode": string(c.Mode),
				"loopback_up": wanted || c.LoUp, "uts_hostname": hostname}
		case KindRoute:
			// An action is about one family's default route.
			if a.ipv6 {
				return Fields{"family": "ipv6", "default_gateway": prefixString(c.DefaultGatewayV6)}
			}
			return Fields{"family": "ipv4", "default_gateway": prefixString(c.DefaultGateway)}
		case KindFiles:
			aliases := map[string][]string{}
			for _, ep := range c.Endpoints {
				aliases[model.IDName(ep.Network)] = orEmpty(ep.Aliases)
			}
			return Fields{"hostname": c.Hostname, "mode": string(c.Mode), "aliases": aliases,
				"hosts": c.HostsFile, "resolv_conf": c.ResolvFile, "env": c.EnvFile}
		}
		if ep := c.Endpoint(a.endpoint.Network); ep != nil {
			return endpointFields(ep, wanted, a.endpoint.AddrV6.IsValid())
		}
	case KindDNS:
		if cfg := st.DNS[a.Project]; cfg != nil {
			return Fields{"networks": orEmpty(cfg.Networks), "clients": orEmpty(cfg.Clients), "serving": wanted || cfg.Serving}
		}
	case KindFirewall, KindSysctl:
		if st.Firewall != nil {
			return firewallFields(a, st.Firewall, wanted)
		}
	}
	return nil
}

func networkFields(n *model.Network, wanted, overlay bool) Fields {
	labels := n.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	f := Fields{"bridge": n.Bridge, "subnet": prefixString(n.Subnet), "gateway": prefixString(n.Gateway),
		"ip_range": prefixString(n.IPRange), "mtu": n.MTU, "internal": n.Internal, "icc": n.ICC,
		"labels": labels, "up": wanted || n.Up, "enable_ipv6": n.EnableIPv6, "subnet_v6": prefixString(n.SubnetV6),
		"gateway_v6": prefixString(n.GatewayV6), "masquerade_v6": n.EnableIPv6 && n.MasqueradeV6}
	// Only an overlay's bridge has netctl's link-local address; a bridge
	// network's are the kernel's (as in the text plan).
	if overlay {
		f["link_local"] = prefixString(n.LinkLocal)
	}
	return f
}

// endpointFields are an endpoint's; dual (the file's endpoint is dual
// stack) adds accept_ra, which the plan turns off only there.
func endpointFields(ep *model.Endpoint, wanted, dual bool) Fields {
	f := Fields{"network": model.IDName(ep.Network), "interface": ep.IfName, "address": prefixString(ep.Addr),
		"address_v6": prefixString(ep.AddrV6), "mac": ep.MAC.String(), "mtu": ep.MTU, "veth": ep.HostIf,
		"hairpin": ep.Hairpin, "host_side_ok": wanted || ep.HostOK, "container_side_ok": wanted || ep.PeerOK}
	if dual {
		f["accept_ra"] = !wanted && ep.AcceptRA
	}
	return f
}

func firewallFields(a *Action, fw *model.Firewall, wanted bool) Fields {
	switch obj := a.fwObject.(type) {
	case *model.NetworkRules:
		if n := fw.Networks[obj.ID()]; n != nil {
			return Fields{"bridge": n.Bridge, "subnet": prefixString(n.Subnet), "internal": n.Internal, "icc": n.ICC,
				"rules_complete": wanted || !n.Damaged}
		}
	case *model.PortRule:
		if p := fw.Ports[obj.Key()]; p != nil {
			return Fields{"container": p.Container, "host_ip": p.HostIPString(), "host_port": p.HostPort,
				"container_port": p.ContainerPort, "proto": p.Proto, "target": prefixString(p.Target),
				"rules_complete": wanted || !p.Damaged}
		}
	case *model.LinkRule:
		if l := fw.Links[obj.Key()]; l != nil {
			return Fields{"container": l.Container, "target": l.Target, "bridge": l.Bridge, "src": prefixString(l.Src),
				"dst": prefixString(l.Dst), "port": l.Port, "proto": l.Proto, "rules_complete": wanted || !l.Damaged}
		}
	case model.Sysctl:
		if v, ok := fw.Sysctls[obj.Key]; ok {
			return Fields{"key": obj.Key, "value": v}
		}
	case fwBase:
		if wanted {
			return Fields{"missing": []string{}}
		}
		return Fields{"missing": orEmpty(fw.BaseMissing)}
	case fwStray:
		if !wanted {
			return Fields{"rules": orEmpty(a.Details)}
		}
	case fwTeardown:
		if !wanted {
			return Fields{"chains": "present"}
		}
	}
	return nil
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// The JSON plan (format_version 1).
type (
	jsonPlan struct {
		FormatVersion string         `json:"format_version"`
		Project       string         `json:"project"`
		Actions       []jsonAction   `json:"actions"`
		Blocked       []jsonBlocked  `json:"blocked"`
		Summary       map[Op]int     `json:"summary"`
		Changes       int            `json:"changes"`
		Apply         *jsonApplyInfo `json:"apply,omitempty"`
		Error         *JSONError     `json:"error,omitempty"`
	}
	jsonObject struct {
		Kind    Kind   `json:"kind"`
		Project string `json:"project"`
		Name    string `json:"name"`
		// ID is the object's ID as ps, ls and inspect show it (networks,
		// containers and their parts); none for firewall, sysctl, dns.
		ID string `json:"id,omitempty"`
	}
	jsonAction struct {
		Object    jsonObject `json:"object"`
		Operation Op         `json:"operation"`
		Reason    string     `json:"reason"`
		Before    Fields     `json:"before"`
		After     Fields     `json:"after"`
		// Changed lists the fields an update changes, sorted; empty for
		// create and delete.
		Changed []string `json:"changed"`
	}
	jsonBlocked struct {
		Object jsonObject `json:"object"`
		Reason string     `json:"reason"`
	}
	jsonApplyInfo struct {
		Rounds    int     `json:"rounds"`
		ElapsedMS float64 `json:"elapsed_ms"`
		Converged bool    `json:"converged"`
	}
)

// JSONError is the error object of a JSON document: a message and, for
// problems found in a file, each problem with its position.
type JSONError struct {
	Message  string        `json:"message"`
	Problems []JSONProblem `json:"problems"`
}

// JSONProblem is one problem of a file, at line:column (1-based).
type JSONProblem struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Message string `json:"message"`
}

// ApplyInfo is what an apply adds to its JSON plan of the actions it
// carried out.
type ApplyInfo struct {
	Rounds  int
	Elapsed time.Duration
	Err     *JSONError // nil when the apply converged
}

func (p *Plan) jsonPlan() jsonPlan {
	out := jsonPlan{FormatVersion: PlanFormatVersion, Project: p.Project, Actions: []jsonAction{},
		Blocked: []jsonBlocked{}, Summary: map[Op]int{OpCreate: 0, OpUpdate: 0, OpDelete: 0}, Changes: len(p.Actions)}
	for _, a := range p.Actions {
		out.Summary[a.Op]++
		out.Actions = append(out.Actions, jsonAction{Object: a.object(), Operation: a.Op, Reason: a.Reason,
			Before: a.before, After: a.after, Changed: changedFields(a.before, a.after)})
	}
	for _, b := range p.Blocked {
		out.Blocked = append(out.Blocked, jsonBlocked{Object: jsonObject{Kind: b.Kind, Project: p.Project, Name: b.Name}, Reason: b.Reason})
	}
	return out
}

// object names the action's object, with its user-visible ID.
func (a *Action) object() jsonObject {
	o := jsonObject{Kind: a.Kind, Project: a.Project, Name: a.Name}
	switch {
	case a.Kind == KindEndpoint:
		o.ID = model.EndpointObjectID(a.container.ID(), a.endpoint.Network)
	case a.container != nil:
		o.ID = model.ContainerObjectID(a.container.Project, a.container.Name)
	case a.network != nil:
		o.ID = model.NetworkObjectID(a.network.Project, a.network.Name)
	}
	return o
}

// changedFields lists the fields whose JSON differs between the two sides
// of an update; none when one side is absent (create, delete).
func changedFields(before, after Fields) []string {
	if before == nil || after == nil {
		return []string{}
	}
	keys := map[string]bool{}
	for k := range before {
		keys[k] = true
	}
	for k := range after {
		keys[k] = true
	}
	out := []string{}
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		b, _ := json.Marshal(before[k])
		a, _ := json.Marshal(after[k])
		_, inB := before[k]
		_, inA := after[k]
		if inB != inA || string(a) != string(b) {
			out = append(out, k)
		}
	}
	return out
}

// WriteJSON renders the plan in the stable machine-readable schema.
func (p *Plan) WriteJSON(w io.Writer) error {
	return writeIndented(w, p.jsonPlan())
}

// WriteApplyJSON renders the actions an apply carried out (this plan) with
// how the apply went.
func (p *Plan) WriteApplyJSON(w io.Writer, info ApplyInfo) error {
	out := p.jsonPlan()
	out.Apply = &jsonApplyInfo{Rounds: info.Rounds, ElapsedMS: float64(info.Elapsed.Microseconds()) / 1000,
		Converged: info.Err == nil}
	out.Error = info.Err
	return writeIndented(w, out)
}

// WriteJSONError renders a command's failure as a JSON document of its
// own, for commands that fail before they have a plan to show.
func WriteJSONError(w io.Writer, e *JSONError) error {
	return writeIndented(w, struct {
		FormatVersion string     `json:"format_version"`
		Error         *JSONError `json:"error"`
	}{PlanFormatVersion, e})
}

func writeIndented(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
