package reconciler

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/netctl/netctl/model"
	"github.com/netctl/netctl/spec"
)

// dnsPort is where the embedded server listens and where upstreams are
// asked: resolv.conf has no way to name another port.
const dnsPort = 53

// desireNames adds what names need to a desired state: the project's DNS
// configuration, each container's resolv.conf pointing at the embedded
// server when it is on a user-defined network, the hosts lines and env vars
// of legacy links. It runs after addresses are allocated.
func desireNames(t *spec.Topology, d *model.State, opt Options) {
	cfg := desireDNS(t, d, opt)
	if cfg != nil {
		if d.DNS == nil {
			d.DNS = map[string]*model.DNS{}
		}
		d.DNS[t.Name] = cfg
	}
	for _, c := range d.Containers {
		if c.Project != t.Name {
			continue
		}
		if gw, ok := dnsServerFor(c, d); ok {
			c.ResolvFile = renderResolvEmbedded(gw, opt.HostResolv)
		}
		c.HostsFile += renderLinkHosts(c, d)
		c.EnvFile = renderLinkEnv(t, c, d)
	}
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
func desireDNS(t *spec.Topology, d *model.State, opt Options) *model.DNS {
	cfg := &model.DNS{Project: t.Name}
	byNet := map[string]*model.DNSNetwork{}
	hostUp := hostUpstreams(opt.HostResolv)
	for _, id := range d.SortedContainerIDs() {
		c := d.Containers[id]
		if c.Project != t.Name {
			continue
		}
		cl := model.DNSClient{Container: c.Name}
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
			dn := byNet[n.ID()]
			if dn == nil {
				dn = &model.DNSNetwork{ID: n.ID(), Bridge: n.Bridge, Subnet: n.Subnet, Gateway: n.Gateway, Internal: n.Internal}
				byNet[n.ID()] = dn
			}
			addr := ep.Addr.Addr()
			dn.Records = append(dn.Records, model.DNSRecord{Container: c.Name, Addr: addr, Names: recordNames(c, ep)})
			cl.Addrs = append(cl.Addrs, addr)
			cl.Networks = append(cl.Networks, n.ID())
		}
		if len(cl.Networks) == 0 {
			continue
		}
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
		sort.Slice(cl.Addrs, func(i, j int) bool { return cl.Addrs[i].Less(cl.Addrs[j]) })
		sort.Strings(cl.Networks)
		cfg.Clients = append(cfg.Clients, cl)
	}
	if len(cfg.Clients) == 0 {
		return nil
	}
	for _, id := range sortedMapKeys(byNet) {
		dn := byNet[id]
		sort.Slice(dn.Records, func(i, j int) bool {
			a, b := dn.Records[i], dn.Records[j]
			if a.Container != b.Container {
				return a.Container < b.Container
			}
			return a.Addr.Less(b.Addr)
		})
		cfg.Networks = append(cfg.Networks, *dn)
	}
	sort.Slice(cfg.Clients, func(i, j int) bool { return cfg.Clients[i].Container < cfg.Clients[j].Container })
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
				out = append(out, model.DNSRecord{Container: target.Name, Addr: tep.Addr.Addr(), Names: []string{strings.ToLower(l.Alias)}})
			}
		}
	}
	return out
}

// linkTarget is a link's target container and the address the linking
// container sees it at: the one on the first network they share, in the
// linking container's interface order.
func linkTarget(c *model.Container, l model.Link, d *model.State) (*model.Container, netip.Addr, bool) {
	target := d.Containers[model.ContainerID(c.Project, l.Container)]
	if target == nil {
		return nil, netip.Addr{}, false
	}
	for _, ep := range c.Endpoints {
		if tep := target.Endpoint(ep.Network); tep != nil {
			return target, tep.Addr.Addr(), true
		}
	}
	return target, netip.Addr{}, false
}

// renderLinkHosts writes one hosts line per link, as Docker does:
// "IP alias name hostname" (repeats left out). The address is rendered from
// the desired state, so the line follows the target when it moves.
func renderLinkHosts(c *model.Container, d *model.State) string {
	var b strings.Builder
	for _, l := range c.Links {
		target, ip, ok := linkTarget(c, l, d)
		if !ok {
			continue
		}
		names := []string{l.Alias}
		for _, n := range []string{target.Name, target.Hostname} {
			if n != "" && !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
		fmt.Fprintf(&b, "%s\t%s\n", ip, strings.Join(names, " "))
	}
	return b.String()
}

// renderLinkEnv writes the env vars of a container's legacy links, sorted,
// one NAME=value a line, exactly as Docker names them:
//
//	WEBDB_NAME=/web/webdb
//	WEBDB_PORT=tcp://172.17.0.2:5432            (lowest port, tcp first)
//	WEBDB_PORT_5432_TCP=tcp://172.17.0.2:5432   (every exposed or published port)
//	WEBDB_PORT_5432_TCP_ADDR=172.17.0.2
//	WEBDB_PORT_5432_TCP_PORT=5432
//	WEBDB_PORT_5432_TCP_PROTO=tcp
//	WEBDB_ENV_POSTGRES_DB=shop                  (the target's env)
func renderLinkEnv(t *spec.Topology, c *model.Container, d *model.State) string {
	var lines []string
	for _, l := range c.Links {
		target, ip, ok := linkTarget(c, l, d)
		if !ok {
			continue
		}
		prefix := envPrefix(l.Alias)
		lines = append(lines, fmt.Sprintf("%s_NAME=/%s/%s", prefix, c.Name, l.Alias))
		ports := linkPorts(t.Container(target.Name), target)
		if len(ports) > 0 {
			p := ports[0]
			lines = append(lines, fmt.Sprintf("%s_PORT=%s://%s:%d", prefix, p.Proto, ip, p.Port))
		}
		for _, p := range ports {
			v := fmt.Sprintf("%s_PORT_%d_%s", prefix, p.Port, strings.ToUpper(p.Proto))
			lines = append(lines,
				fmt.Sprintf("%s=%s://%s:%d", v, p.Proto, ip, p.Port),
				fmt.Sprintf("%s_ADDR=%s", v, ip),
				fmt.Sprintf("%s_PORT=%d", v, p.Port),
				fmt.Sprintf("%s_PROTO=%s", v, p.Proto),
			)
		}
		for name, val := range target.Env {
			lines = append(lines, fmt.Sprintf("%s_ENV_%s=%s", prefix, name, val))
		}
	}
	if len(lines) == 0 {
		return ""
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n") + "\n"
}

// envPrefix is a link alias as an env var prefix (Docker: upper case, '-'
// becomes '_').
func envPrefix(alias string) string {
	return strings.ReplaceAll(strings.ToUpper(alias), "-", "_")
}

// linkPorts are the ports a link shows: the target's exposed ports and the
// container side of its published ports, sorted by number with tcp before
// udp (and udp before sctp) on the same number, without repeats.
func linkPorts(sc *spec.Container, target *model.Container) []model.PortProto {
	seen := map[model.PortProto]bool{}
	var out []model.PortProto
	add := func(p model.PortProto) {
		if p.Port != 0 && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, e := range target.Expose {
		add(e)
	}
	for _, p := range target.Ports {
		add(model.PortProto{Port: p.ContainerPort, Proto: p.Proto})
	}
	if sc != nil {
		for _, m := range sc.Ports {
			for port := uint32(m.ContainerPortStart); port <= uint32(m.ContainerPortEnd); port++ {
				add(model.PortProto{Port: uint16(port), Proto: m.Proto})
			}
		}
	}
	protoRank := func(p string) int {
		switch p {
		case "tcp":
			return 0
		case "udp":
			return 1
		}
		return 2
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Port != out[j].Port {
			return out[i].Port < out[j].Port
		}
		return protoRank(out[i].Proto) < protoRank(out[j].Proto)
	})
	return out
}

// hostUpstreams are the host's resolvers, loopback ones included: the
// embedded server runs in the host's namespace, where they answer.
func hostUpstreams(hostResolv []byte) []netip.AddrPort {
	var out []netip.AddrPort
	for _, line := range strings.Split(string(hostResolv), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "nameserver" {
			continue
		}
		// A zone ("fe80::1%eth0") is kept by ParseAddr.
		if a, err := netip.ParseAddr(f[1]); err == nil {
			out = append(out, netip.AddrPortFrom(a, dnsPort))
		}
	}
	return out
}

// renderResolvEmbedded is the resolv.conf of a container on a user-defined
// network: the embedded server only, the host's search and options, and
// ndots:0 (as Docker writes it) unless the host sets ndots.
func renderResolvEmbedded(server netip.Addr, hostResolv []byte) string {
	var b strings.Builder
	fmt.Fprintf(&b, "nameserver %s\n", server)
	ndots := false
	for _, line := range strings.Split(string(hostResolv), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "search", "domain":
			b.WriteString(strings.Join(f, " ") + "\n")
		case "options":
			for _, o := range f[1:] {
				if strings.HasPrefix(o, "ndots:") {
					ndots = true
				}
			}
			b.WriteString(strings.Join(f, " ") + "\n")
		}
	}
	if !ndots {
		b.WriteString("options ndots:0\n")
	}
	return b.String()
}
