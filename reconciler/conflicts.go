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

// conflicts checks t against the host; netnsTaken may be nil (no host).
func conflicts(t *spec.Topology, observed *model.State, netnsTaken func(string) (string, error)) error {
	var errs spec.Errors
	errs = append(errs, takenNetnsPaths(t, netnsTaken)...)
	errs = append(errs, subnetClashes(t, observed)...)
	errs = append(errs, portClashes(t, observed)...)
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
// on the host (subnet, or subnet_v6 for IPv6) and the host's routes other
// than those networks' own prefix routes.
func holders(observed *model.State, v6 bool) []holder {
	var out []holder
	own := map[netip.Prefix]bool{}
	for _, id := range observed.SortedNetworkIDs() {
		n := observed.Networks[id]
		p := n.Subnet
		if v6 {
			p = n.SubnetV6
		}
		if p.IsValid() && p.Addr().Is6() == v6 {
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

// subnetClashes reports every subnet (and subnet_v6 of a dual-stack
// network) the file sets that overlaps another network on the host
// (another project's, another instance's bridge, or anybody's route), as
// Docker refuses a pool that "overlaps with other one on this address
// space". A network keeps its own subnet: its observed
// self and its prefix route are no clash.
func subnetClashes(t *spec.Topology, observed *model.State) spec.Errors {
	var errs spec.Errors
	for _, v6 := range []bool{false, true} {
		key := "subnet"
		if v6 {
			key = "subnet_v6"
		}
		var held []holder
		for _, n := range t.Networks {
			pos, explicit := n.FieldPos[key]
			subnet := n.Subnet
			if v6 {
				subnet = n.SubnetV6
			}
			if !explicit || !subnet.IsValid() || (v6 && !n.EnableIPv6) {
				continue
			}
			if held == nil {
				held = holders(observed, v6)
			}
			id := model.NetworkID(t.Name, n.Name)
			for _, h := range held {
				if h.network != id && h.prefix.Overlaps(subnet) {
					errs = append(errs, &spec.Error{File: t.File, Pos: pos,
						Msg: fmt.Sprintf("network %q: %s %s overlaps %s: pool overlaps with other one on this address space", n.Name, key, subnet, h.what)})
				}
			}
		}
	}
	return errs
}

// ownDNS lists the addresses netctl's DNS server listens on (dnsPort): its
// networks' gateways, and an overlay node's underlay address.
func ownDNS(observed *model.State) map[netip.Addr]bool {
	own := map[netip.Addr]bool{}
	for _, n := range observed.Networks {
		if n.Gateway.IsValid() {
			own[n.Gateway] = true
		}
	}
	for _, d := range observed.DNS {
		if d.Peers != nil && d.Peers.Listen.IsValid() {
			own[d.Peers.Listen] = true
		}
	}
	return own
}

// portClashes reports every fixed host port the file publishes that a
// program of the host already listens on, where the mapping would take
// its traffic (every address, or the program's own): as Docker refuses
// it with "address already in use", rather than let the DNAT silently
// shadow the program. A port the project already publishes is kept (the
// program came after it), and netctl's own DNS listeners are no program.
func portClashes(t *spec.Topology, observed *model.State) spec.Errors {
	fw := observed.Firewall
	if fw == nil || len(fw.Listening) == 0 {
		return nil
	}
	published := map[string]bool{}
	for _, p := range fw.Ports {
		if p.Project == t.Name {
			published[p.Port.HostString()+"/"+p.Proto] = true
		}
	}
	own := ownDNS(observed)
	var errs spec.Errors
	for _, c := range t.Containers {
		for _, pm := range c.Ports {
			hostN := int(pm.HostPortEnd) - int(pm.HostPortStart)
			if pm.HostPortStart == 0 || hostN != int(pm.ContainerPortEnd)-int(pm.ContainerPortStart) {
				continue // an ephemeral port or a pick from a range: picks skip bound ports
			}
			for port := int(pm.HostPortStart); port <= int(pm.HostPortEnd); port++ {
				side := model.Port{HostIP: pm.HostIP, HostPort: uint16(port), Proto: pm.Proto}
				if published[side.HostString()+"/"+pm.Proto] {
					continue
				}
				pp := model.PortProto{Port: uint16(port), Proto: pm.Proto}
				for _, a := range fw.Listening[pp] {
					if port == dnsPort && own[a] {
						continue
					}
					if pm.HostIP.IsValid() && !a.IsUnspecified() && a != pm.HostIP {
						continue
					}
					errs = append(errs, &spec.Error{File: t.File, Pos: pm.Pos, Msg: fmt.Sprintf(
						"container %q: ports %q: host port %d/%s is in use by a program listening on %s: address already in use",
						c.Name, pm.Raw, port, pm.Proto, netip.AddrPortFrom(a, uint16(port)))})
					break
				}
			}
		}
	}
	return errs
}

// takenNetnsPaths reports every netns_path that names a namespace netctl
// already uses (taken, see Options.NetnsTaken). A path that cannot be read
// is left to the apply (a container's process may come and go), which
// reports it on that container alone.
func takenNetnsPaths(t *spec.Topology, taken func(string) (string, error)) spec.Errors {
	if taken == nil {
		return nil
	}
	var errs spec.Errors
	for _, c := range t.Containers {
		if c.NetnsPath == "" {
			continue
		}
		if what, err := taken(c.NetnsPath); err == nil && what != "" {
			errs = append(errs, &spec.Error{File: t.File, Pos: c.FieldPos["netns_path"], Msg: fmt.Sprintf(
				"container %q: netns_path %s is %s: a container needs a namespace of its own", c.Name, c.NetnsPath, what)})
		}
	}
	return errs
}
