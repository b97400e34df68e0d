package reconciler

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/netctl/netctl/model"
	"github.com/netctl/netctl/spec"
)

// dnsPort is where the embedded server listens and where upstreams are
// asked: resolv.conf has no way to name another port.
const dnsPort = 53

// desireNames adds the project's DNS configuration to a desired state. It
// runs after addresses are allocated; the files that point containers at
// the embedded server are rendered afterwards, by desireFiles.
func desireNames(t *spec.Topology, self *spec.Node, d *model.State, hr hostResolv) {
	cfg := desireDNS(t, d, hr)
	addOverlayNames(t, self, d, cfg)
	if cfg == nil {
		return
	}
	if d.DNS == nil {
		d.DNS = map[string]*model.DNS{}
	}
	d.DNS[t.Name] = cfg
}

// hasNames reports whether names resolve on the network: every network but
// the default one, as in Docker.
func hasNames(n *model.Network) bool { return n != nil && n.Name != model.DefaultNetwork }

// dnsServerFor is the address a container's resolv.conf names: the gateway
// of its first user-defined network (interface order), where the server
// listens. Containers only on the default network use the upstreams directly.
func dnsServerFor(c *model.Container, d *model.State) (netip.Addr, bool) {
	for _, ep := range c.Endpoints {
		if n := d.Networks[ep.Network]; hasNames(n) {
			return n.Gateway, true
		}
	}
	return netip.Addr{}, false
}

// desireDNS builds the project's DNS configuration, or nil when no
// container of the project is on a user-defined network.
func desireDNS(t *spec.Topology, d *model.State, hr hostResolv) *model.DNS {
	cfg := &model.DNS{Project: t.Name}
	byNet := map[string]*model.DNSNetwork{}
	hostUp := hr.upstreams()
	// The clients' address and network lists are cut from shared arrays,
	// each with its capacity capped so that no append reaches a neighbour:
	// two allocations for all the clients instead of two per client. A
	// network's records are sized for its endpoints.
	endpoints, perNet := 0, map[string]int{}
	for _, c := range d.Containers {
		endpoints += len(c.Endpoints)
		for _, ep := range c.Endpoints {
			perNet[ep.Network]++
		}
	}
	addrBuf := make([]netip.Addr, 0, endpoints)
	netBuf := make([]string, 0, endpoints)
	cfg.Clients = make([]model.DNSClient, 0, len(d.Containers))
	for _, id := range d.SortedContainerIDs() {
		c := d.Containers[id]
		if c.Project != t.Name {
			continue
		}
		cl := model.DNSClient{Container: c.Name}
		addrStart, netStart := len(addrBuf), len(netBuf)
		external := false // a route out through a network that is not internal
		for _, ep := range c.Endpoints {
			n := d.Networks[ep.Network]
			if n == nil {
				continue
			}
			if !n.Internal {
				external = true
			}
			if !hasNames(n) {
				continue
			}
			// ep.Network is the network's ID: the map's key, shared
			// rather than built again per endpoint.
			dn := byNet[ep.Network]
			if dn == nil {
				dn = &model.DNSNetwork{ID: ep.Network, Bridge: n.Bridge, Subnet: n.Subnet, SubnetV6: n.SubnetV6, Gateway: n.Gateway, Internal: n.Internal}
				byNet[ep.Network] = dn
			}
			// One record per address: A and AAAA answers, and both PTRs.
			for _, p := range [...]netip.Prefix{ep.Addr, ep.AddrV6} {
				if !p.IsValid() {
					continue
				}
				if dn.Records == nil {
					dn.Records = make([]model.DNSRecord, 0, perNet[ep.Network])
				}
				dn.Records = append(dn.Records, model.DNSRecord{Container: c.Name, Addr: p.Addr(), Names: recordNames(c, ep)})
				addrBuf = append(addrBuf, p.Addr())
			}
			netBuf = append(netBuf, ep.Network)
		}
		if len(netBuf) == netStart {
			continue
		}
		if len(addrBuf) > addrStart {
			cl.Addrs = addrBuf[addrStart:len(addrBuf):len(addrBuf)]
		}
		cl.Networks = netBuf[netStart:len(netBuf):len(netBuf)]
		cl.Links = linkRecords(c, d)
		if external {
			cl.Upstreams = hostUp
			if len(c.DNS) > 0 {
				cl.Upstreams = nil
				for _, a := range c.DNS {
					cl.Upstreams = append(cl.Upstreams, netip.AddrPortFrom(a, dnsPort))
				}
			}
		}
		slices.SortFunc(cl.Addrs, netip.Addr.Compare)
		slices.Sort(cl.Networks)
		cfg.Clients = append(cfg.Clients, cl)
	}
	if len(cfg.Clients) == 0 {
		return nil
	}
	for _, id := range sortedMapKeys(byNet) {
		dn := byNet[id]
		slices.SortStableFunc(dn.Records, func(a, b model.DNSRecord) int {
			if a.Container != b.Container {
				return strings.Compare(a.Container, b.Container)
			}
			return a.Addr.Compare(b.Addr)
		})
		cfg.Networks = append(cfg.Networks, *dn)
	}
	// The clients were appended in ID order, which within the project is
	// name order: already sorted.
	return cfg
}

// recordNames are the names a container answers to on a network: its
// name, its hostname and its aliases there, lower case, without repeats.
func recordNames(c *model.Container, ep *model.Endpoint) []string {
	names := []string{strings.ToLower(c.Name)}
	add := func(s string) {
		s = strings.ToLower(strings.TrimSuffix(s, "."))
		if s != "" && !slices.Contains(names, s) {
			names = append(names, s)
		}
	}
	add(c.Hostname)
	for _, a := range ep.Aliases {
		add(a)
	}
	return names
}

// linkRecords turns a container's legacy links into DNS aliases only it
// sees: on a user-defined network a link works as an alias (Docker does the
// same), pointing at the target's addresses on the networks both share.
func linkRecords(c *model.Container, d *model.State) []model.DNSRecord {
	var out []model.DNSRecord
	for _, l := range c.Links {
		target := d.Containers[model.ContainerID(c.Project, l.Container)]
		if target == nil {
			continue
		}
		for _, ep := range c.Endpoints {
			if !hasNames(d.Networks[ep.Network]) {
				continue
			}
			if tep := target.Endpoint(ep.Network); tep != nil {
				for _, addr := range tep.Addrs() {
					out = append(out, model.DNSRecord{Container: target.Name, Addr: addr, Names: []string{strings.ToLower(l.Alias)}})
				}
			}
		}
	}
	return out
}
