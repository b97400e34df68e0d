package reconciler

import (
	"maps"
	"slices"

	"github.com/netctl/netctl/model"
)

// desireFirewall derives the firewall a desired state needs: rules for
// every network (the project's and the shared default network it uses),
// every published port, and the openings links make on icc=false networks;
// plus the sysctls forwarding depends on.
func desireFirewall(d *model.State) *model.Firewall {
	fw := model.NewFirewall()
	for _, n := range d.Networks {
		fw.Networks[n.ID()] = &model.NetworkRules{
			Project: n.Project, Name: n.Name, Bridge: n.Bridge, Subnet: n.Subnet,
			Internal: n.Internal, ICC: n.ICC,
		}
		if !n.Internal {
			fw.Sysctls[model.SysctlIPForward] = "1"
		}
		if !n.ICC {
			// Traffic between two ports of a bridge only meets iptables
			// when br_netfilter hands bridged frames to it.
			fw.Sysctls[model.SysctlBridgeNFCallV4] = "1"
		}
	}
	for _, c := range d.Containers {
		ep, n := publishingEndpoint(d, c)
		if ep == nil {
			continue
		}
		if len(c.Ports) > 0 {
			fw.Sysctls[model.SysctlHairpin(ep.HostIf)] = "1"
		}
		for _, p := range c.Ports {
			pr := &model.PortRule{Project: c.Project, Container: c.Name, Port: p, Target: ep.Addr.Addr()}
			fw.Ports[pr.Key()] = pr
			if !p.HostIP.IsValid() || p.HostIP.IsLoopback() {
				fw.Sysctls[model.SysctlRouteLocalnet(n.Bridge)] = "1"
			}
		}
	}
	for _, c := range d.Containers {
		for _, l := range c.Links {
			target := d.Containers[model.ContainerID(c.Project, l.Container)]
			if target == nil {
				continue
			}
			for _, ep := range c.Endpoints {
				n := d.Networks[ep.Network]
				tep := target.Endpoint(ep.Network)
				if n == nil || n.ICC || tep == nil {
					continue
				}
				for _, pp := range linkedPorts(target) {
					lr := &model.LinkRule{
						Project: c.Project, Container: c.Name, Target: target.Name, Bridge: n.Bridge,
						Src: ep.Addr.Addr(), Dst: tep.Addr.Addr(), Port: pp.Port, Proto: pp.Proto,
					}
					fw.Links[lr.Key()] = lr
				}
			}
		}
	}
	return fw
}

// publishingEndpoint is where a container's published ports lead: its
// endpoint on the first network that is not internal (the one its default
// route goes through), as Docker publishes on the gateway endpoint.
func publishingEndpoint(d *model.State, c *model.Container) (*model.Endpoint, *model.Network) {
	for _, ep := range c.Endpoints {
		if n := d.Networks[ep.Network]; n != nil && !n.Internal && ep.Addr.IsValid() {
			return ep, n
		}
	}
	return nil, nil
}

func sortedMapKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
