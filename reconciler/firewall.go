package reconciler

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sync"

	"github.com/netctl/netctl/model"
)

// desireFirewall derives the firewall a desired state needs: rules for
// every network (the project's and the shared default network it uses),
// every published port, and the openings links make on icc=false networks;
// plus the sysctls forwarding depends on.
func desireFirewall(d *model.State) *model.Firewall {
	fw := model.NewFirewall()
	ports := 0
	for _, c := range d.Containers {
		ports += len(c.Ports)
	}
	fw.Ports = make(map[string]*model.PortRule, ports)
	for _, n := range d.Networks {
		nr := &model.NetworkRules{
			Project: n.Project, Name: n.Name, Bridge: n.Bridge, Subnet: n.Subnet,
			Internal: n.Internal, ICC: n.ICC, VXLAN: vxlanFilter(n.Overlay),
			PeerDNS: peerDNS(n.Overlay),
		}
		fw.Networks[n.ID()] = nr
		if !n.Internal {
			fw.Sysctls[model.SysctlIPForward] = "1"
		}
		if !n.ICC {
			// Traffic between two ports of a bridge only meets iptables
			// when br_netfilter hands bridged frames to it.
			fw.Sysctls[model.SysctlBridgeNFCallV4] = "1"
		}
		if n.EnableIPv6 {
			nr.SubnetV6, nr.MasqueradeV6 = n.SubnetV6, n.MasqueradeV6
			if !n.Internal {
				fw.Sysctls[model.SysctlIPv6Forward] = "1"
			}
			if !n.ICC {
				fw.Sysctls[model.SysctlBridgeNFCallV6] = "1"
			}
		}
	}
	// One sysctl key per bridge, not one built per published port.
	localnet := map[*model.Network]bool{}
	for _, c := range d.Containers {
		for _, p := range c.Ports {
			ep, n := publishingEndpoint(d, c, p.IPv6())
			if ep == nil {
				continue
			}
			target := ep.Addr.Addr()
			if p.IPv6() {
				target = ep.AddrV6.Addr()
			}
			pr := &model.PortRule{Project: c.Project, Container: c.Name, Port: p, Target: target}
			fw.Ports[pr.Key()] = pr
			if (!p.HostIP.IsValid() || p.HostIP.IsLoopback()) && !localnet[n] {
				localnet[n] = true
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
					// One opening per family both ends have.
					for _, pair := range [][2]netip.Prefix{{ep.Addr, tep.Addr}, {ep.AddrV6, tep.AddrV6}} {
						if !pair[0].IsValid() || !pair[1].IsValid() {
							continue
						}
						lr := &model.LinkRule{
							Project: c.Project, Container: c.Name, Target: target.Name, Bridge: n.Bridge,
							Src: pair[0].Addr(), Dst: pair[1].Addr(), Port: pp.Port, Proto: pp.Proto,
						}
						fw.Links[lr.Key()] = lr
					}
				}
			}
		}
	}
	return fw
}

// publishingEndpoint is where a container's published ports of a family
// lead: its endpoint on the first network that is not internal and has an
// address of that family (the one its default route of that family goes
// through), as Docker publishes on the gateway endpoints.
func publishingEndpoint(d *model.State, c *model.Container, v6 bool) (*model.Endpoint, *model.Network) {
	for _, ep := range c.Endpoints {
		addr := ep.Addr
		if v6 {
			addr = ep.AddrV6
		}
		if n := d.Networks[ep.Network]; n != nil && !n.Internal && addr.IsValid() {
			return ep, n
		}
	}
	return nil, nil
}

func sortedMapKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// fwReading is the part of the firewall's observation that needs nothing
// of the rest of the state: started before the links are read, finished
// (finishFirewall) once they are.
type fwReading struct {
	fw       *model.Firewall
	ports    model.HostPorts
	err      error // the rules'
	portsErr error // the host's ports', read alongside
}

// rulesReading is a reading of the rules started ahead of the observation
// that takes it: the firewall phase starts one as soon as its batch is
// done, so that the read-back (iptables-save of the whole ruleset, the
// larger part of a verification at thousands of ports) runs while the
// other phases do. Nothing but the firewall phase changes rules, so the
// reading is as current as one the verification would start.
type rulesReading struct {
	done chan struct{}
	fw   *model.Firewall
	err  error
	// written: fw is the batch's objects as written, not a reading
	// (firewall_handoff.go).
	written bool
}

// readRules starts reading the rules in the background.
func (r *Reconciler) readRules(ctx context.Context) *rulesReading {
	rr := &rulesReading{done: make(chan struct{})}
	go func() {
		defer close(rr.done)
		rr.fw, rr.err = r.Firewall.Observe(ctx)
	}()
	return rr
}

// readFirewall starts reading the rules (or waiting for ahead, a reading
// already under way) and the host's port facts on wg; nil when there is
// no firewall backend. The host's ports are read afresh either way: the
// phases may have bound some (the DNS server on a new gateway).
func (r *Reconciler) readFirewall(ctx context.Context, wg *sync.WaitGroup, ahead *rulesReading) *fwReading {
	if r.Firewall == nil {
		return nil
	}
	rd := &fwReading{}
	if ahead != nil {
		wg.Go(func() {
			select {
			case <-ahead.done:
				rd.fw, rd.err = ahead.fw, ahead.err
			case <-ctx.Done():
				rd.err = ctx.Err()
			}
		})
	} else {
		wg.Go(func() { rd.fw, rd.err = r.Firewall.Observe(ctx) })
	}
	if r.HostFacts != nil {
		wg.Go(func() {
			if rd.ports, rd.portsErr = r.HostFacts.Ports(ctx); rd.portsErr != nil {
				rd.portsErr = fmt.Errorf("host ports: %w", rd.portsErr)
			}
		})
	}
	return rd
}

// finishFirewall completes a reading with what depends on the observed
// links (the sysctls of their bridges) and puts it in st.Firewall, each
// observed published port also in its container's Ports.
func (r *Reconciler) finishFirewall(ctx context.Context, st *model.State, rd *fwReading) error {
	if rd == nil {
		return nil
	}
	if err := errors.Join(rd.err, rd.portsErr); err != nil {
		return err
	}
	fw := rd.fw
	keys := []string{model.SysctlIPForward, model.SysctlBridgeNFCallV4, model.SysctlIPv6Forward, model.SysctlBridgeNFCallV6}
	for _, id := range st.SortedNetworkIDs() {
		if br := st.Networks[id].Bridge; model.IsIfname(br) {
			keys = append(keys, model.SysctlRouteLocalnet(br))
		}
	}
	values, err := r.Firewall.Sysctls(ctx, keys)
	if err != nil {
		return err
	}
	if fw.Sysctls == nil {
		fw.Sysctls = map[string]string{}
	}
	maps.Copy(fw.Sysctls, values)
	fw.HostPorts = rd.ports
	if fw.Bound == nil {
		fw.Bound = map[model.PortProto]bool{}
	}
	for _, p := range fw.Ports {
		if c := st.Containers[model.ContainerID(p.Project, p.Container)]; c != nil {
			c.Ports = append(c.Ports, p.Port)
		}
	}
	for _, c := range st.Containers {
		model.SortPorts(c.Ports)
	}
	st.Firewall = fw
	return nil
}
