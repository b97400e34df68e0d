package reconciler

import (
	"fmt"
	"net/netip"

	"github.com/netctl/netctl/model"
	"github.com/netctl/netctl/spec"
)

// What a file cannot know by itself: whether what it asks for clashes with
// what others hold on this host. Found against the observed state before
// anything changes, every clash reported at once with the file position
// of what asks for it; the file's own clashes are spec's business.

// conflicts checks t against the host.
func conflicts(t *spec.Topology, observed *model.State) error {
	var errs spec.Errors
	errs = append(errs, subnetClashes(t, observed)...)
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// holder is an address range something other than the project's network
// holds.
type holder struct {
	prefix  netip.Prefix
	what    string // "network blog/web (172.26.0.0/16)", "the host route 10.1.0.0/16"
	network string // the holding network's ID; "" for a route
}

// holders lists, of one family, the subnets of every network netctl has
// on the host and the host's routes other than those networks' own
// prefix routes.
func holders(observed *model.State, v6 bool) []holder {
	var out []holder
	own := map[netip.Prefix]bool{}
	for _, id := range observed.SortedNetworkIDs() {
		n := observed.Networks[id]
		if p := n.Subnet; p.IsValid() && p.Addr().Is6() == v6 {
			own[p.Masked()] = true
			out = append(out, holder{prefix: p, what: fmt.Sprintf("network %s (%s)", id, p), network: id})
		}
	}
	for _, r := range observed.HostRoutes {
		if r.Addr().Is6() == v6 && !own[r.Masked()] {
			out = append(out, holder{prefix: r, what: "the host route " + r.String()})
		}
	}
	return out
}

// subnetClashes reports every subnet the file sets that overlaps another
// network on the host (another project's, another instance's bridge, or
// anybody's route), as Docker refuses a pool that "overlaps with other one
// on this address space". A network keeps its own subnet: its observed
// self and its prefix route are no clash.
func subnetClashes(t *spec.Topology, observed *model.State) spec.Errors {
	var errs spec.Errors
	var held []holder
	for _, n := range t.Networks {
		pos, explicit := n.FieldPos["subnet"]
		if !explicit || !n.Subnet.IsValid() {
			continue
		}
		if held == nil {
			held = holders(observed, false)
		}
		id := model.NetworkID(t.Name, n.Name)
		for _, h := range held {
			if h.network != id && h.prefix.Overlaps(n.Subnet) {
				errs = append(errs, &spec.Error{File: t.File, Pos: pos,
					Msg: fmt.Sprintf("network %q: subnet %s overlaps %s: pool overlaps with other one on this address space", n.Name, n.Subnet, h.what)})
			}
		}
	}
	return errs
}
