package reconciler

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/netctl/netctl/model"
)

// diffNames plans the project's DNS configuration: written (and the server
// reloaded) when it differs from what the server serves, forgotten when the
// project no longer needs names. It runs after the other diffs: a network
// (re)created by this plan gets a new bridge, whose gateway the server must
// bind again even when the names stay the same.
func diffNames(p *Plan, project string, desired, observed *model.State) {
	d, o := desired.DNS[project], observed.DNS[project]
	switch {
	case d == nil && o == nil:
	case d == nil:
		p.add(dnsAction(OpDelete, project, "no container on a user-defined network", []string{
			fmt.Sprintf("names of %d containers on %d networks", len(o.Clients), len(o.Networks))}, o))
	case o == nil:
		p.add(dnsAction(OpCreate, project, "not present", dnsLines(d), d))
	default:
		var details []string
		if !d.Equal(o) {
			details = lineDiff(dnsLines(o), dnsLines(d))
		}
		if !o.Serving {
			details = append(details, "server: "+orNone(o.Problem))
		}
		for _, a := range p.Actions {
			if a.Kind == KindNetwork && a.Op == OpCreate && servesNetwork(d, a.network.ID()) {
				details = append(details, "network "+a.network.Name+": new bridge, listen again")
			}
		}
		if len(details) > 0 {
			p.add(dnsAction(OpUpdate, project, "differs from the file", details, d))
		}
	}
}

func dnsAction(op Op, project, reason string, details []string, cfg *model.DNS) *Action {
	return &Action{Op: op, Kind: KindDNS, Project: project, Name: project, Reason: reason, Details: details,
		phase: phaseNames, group: "dns " + project, dns: cfg}
}

func servesNetwork(cfg *model.DNS, id string) bool {
	for _, n := range cfg.Networks {
		if n.ID == id {
			return true
		}
	}
	return false
}

// dnsLines renders a configuration for people, one fact a line, in a
// stable order: listeners, names per network, link aliases, upstreams.
func dnsLines(cfg *model.DNS) []string {
	var out []string
	for _, n := range cfg.Networks {
		out = append(out, fmt.Sprintf("listen %s:%d on %s", n.Gateway, dnsPort, n.Bridge))
	}
	for _, n := range cfg.Networks {
		for _, r := range n.Records {
			out = append(out, fmt.Sprintf("%s: %s %s", model.IDName(n.ID), r.Addr, strings.Join(r.Names, " ")))
		}
	}
	upstreams := map[string][]string{}
	var order []string
	for _, c := range cfg.Clients {
		for _, l := range c.Links {
			out = append(out, fmt.Sprintf("%s: link %s -> %s %s", c.Container, strings.Join(l.Names, " "), l.Container, l.Addr))
		}
		var ups []string
		for _, u := range c.Upstreams {
			ups = append(ups, u.String())
		}
		key := strings.Join(ups, " ")
		if _, ok := upstreams[key]; !ok {
			order = append(order, key)
		}
		upstreams[key] = append(upstreams[key], c.Container)
	}
	for _, key := range order {
		if key == "" {
			out = append(out, "no upstream: "+strings.Join(upstreams[key], ", "))
			continue
		}
		out = append(out, "upstreams "+key+": "+strings.Join(upstreams[key], ", "))
	}
	return out
}

// lineDiff lists the lines only in old ("- ") then those only in new ("+ ").
func lineDiff(old, new []string) []string {
	inOld, inNew := map[string]bool{}, map[string]bool{}
	for _, l := range old {
		inOld[l] = true
	}
	for _, l := range new {
		inNew[l] = true
	}
	var out []string
	for _, l := range old {
		if !inNew[l] {
			out = append(out, "- "+l)
		}
	}
	for _, l := range new {
		if !inOld[l] {
			out = append(out, "+ "+l)
		}
	}
	if len(out) == 0 {
		// Same facts, different encoding (an order the text does not
		// show): still a change for the server.
		out = append(out, "configuration rewritten")
	}
	return out
}

// runDNS carries out a KindDNS action.
func (r *Reconciler) runDNS(ctx context.Context, a *Action) error {
	if r.Names == nil {
		return errors.New("no DNS actuator configured")
	}
	if a.Op == OpDelete {
		return r.Names.RemoveDNS(ctx, a.Project)
	}
	return r.Names.EnsureDNS(ctx, a.dns)
}
