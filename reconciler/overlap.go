package reconciler

import (
	"fmt"
	"net/netip"

	"github.com/netctl/netctl/model"
	"github.com/netctl/netctl/spec"
)

// What the file cannot know: whether its subnets overlap what others hold on
// this host. Both families go through the same code; the file's own
// overlaps are spec's business.

// subnetHolder is a prefix something other than the project holds.
type subnetHolder struct {
	prefix  netip.Prefix
	what    string // "subnet_v6 fd00:1::/64 of network blog/front"
	network string // the holding network's ID; "" for a route
}

// hostHolders lists what project's network named network must not
// overlap: every other network netctl has on the host, of any project
// (its own networks are compared by spec), and the host's other routes.
func hostHolders(project string, observed *model.State, v6 bool) []subnetHolder {
	var out []subnetHolder
	key := "subnet"
	if v6 {
		key = "subnet_v6"
	}
	for _, id := range observed.SortedNetworkIDs() {
		o := observed.Networks[id]
		if o.Project == project && !o.Shared() {
			continue
		}
		p := o.Subnet
		if v6 {
			p = o.SubnetV6
		}
		if p.IsValid() {
			out = append(out, subnetHolder{p, fmt.Sprintf("%s %s of network %s", key, p, id), id})
		}
	}
	for _, r := range observed.HostRoutes {
		if r.Addr().Is6() == v6 {
			out = append(out, subnetHolder{prefix: r, what: "the host route " + r.String()})
		}
	}
	return out
}

// checkHostOverlaps reports, at the key, every explicit subnet of the file
// (key "subnet" or "subnet_v6") that overlaps another project's network or
// a route of the host: found before anything changes.
func checkHostOverlaps(t *spec.Topology, observed *model.State, key string) error {
	v6 := key == "subnet_v6"
	var holders []subnetHolder
	var errs spec.Errors
	for _, n := range t.Networks {
		pos, explicit := n.FieldPos[key]
		p := n.Subnet
		if v6 {
			p = n.SubnetV6
		}
		if !explicit || !p.IsValid() || (v6 && !n.EnableIPv6) {
			continue
		}
		if holders == nil {
			holders = hostHolders(t.Name, observed, v6)
		}
		for _, h := range holders {
			if h.prefix.Overlaps(p) && h.network != model.NetworkID(t.Name, n.Name) {
				errs = append(errs, &spec.Error{File: t.File, Pos: pos,
					Msg: fmt.Sprintf("network %q: %s %s overlaps %s", n.Name, key, p, h.what)})
			}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}
