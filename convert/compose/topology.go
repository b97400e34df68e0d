package compose

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/netctl/netctl/model"
)

// Docker's bridge driver options that netctl has a key for.
const (
	optBridgeName = "com.docker.network.bridge.name"
	optICC        = "com.docker.network.bridge.enable_icc"
	optMTU        = "com.docker.network.driver.mtu"
)

// topology maps the loaded project.
func (c *converter) topology(p *types.Project, order map[string][]string) *topology {
	t := &topology{Name: c.label("name", p.Name)}
	c.networks = map[string]string{}
	c.services = map[string]string{}
	for _, name := range ordered(p.Networks, order["networks"]) {
		c.networks[name] = c.label("networks."+name, name)
	}
	for _, name := range ordered(p.Services, order["services"]) {
		c.services[name] = c.label("services."+name, name)
	}
	for _, name := range ordered(p.Networks, order["networks"]) {
		t.Networks = append(t.Networks, named[*network]{c.networks[name], c.network("networks."+name, p.Networks[name])})
	}
	for _, name := range ordered(p.Services, order["services"]) {
		t.Containers = append(t.Containers, named[*container]{c.services[name], c.container("services."+name, p.Services[name])})
	}
	return t
}

func (c *converter) network(path string, n types.NetworkConfig) *network {
	out := &network{}
	switch n.Driver {
	case "", "bridge":
	case "overlay":
		// netctl's overlay needs the hosts (nodes:) and each container's
		// node:, which a Compose file does not say (Swarm decides).
		c.note(path+".driver", "overlay: netctl's overlay needs the file's nodes: and each container's node:, which Compose does not say: converted as a bridge network (add driver: overlay, nodes: and node: by hand)")
	default:
		c.note(path+".driver", fmt.Sprintf("%q has no netctl equivalent: converted as a bridge network", n.Driver))
	}
	opts := make([]string, 0, len(n.DriverOpts))
	for k := range n.DriverOpts {
		opts = append(opts, k)
	}
	sort.Strings(opts)
	for _, k := range opts {
		v, p := n.DriverOpts[k], path+".driver_opts."+k
		switch k {
		case optBridgeName:
			if model.IsIfname(v) {
				out.BridgeName = v
			} else {
				c.note(p, fmt.Sprintf("%q is not a kernel interface name: left out", v))
			}
		case optICC:
			b, err := strconv.ParseBool(v)
			if err != nil {
				c.note(p, fmt.Sprintf("%q is not true or false: left out", v))
				continue
			}
			if !b {
				out.ICC = &b
			}
		case optMTU:
			if mtu, err := strconv.Atoi(v); err == nil && mtu >= 68 && mtu <= 65535 {
				out.MTU = mtu
			} else {
				c.note(p, fmt.Sprintf("%q is not an MTU (68-65535): left out", v))
			}
		default:
			c.note(p, "not converted (netctl knows "+optBridgeName+", "+optICC+" and "+optMTU+")")
		}
	}
	var v4 bool
	for i, pool := range n.Ipam.Config {
		p := fmt.Sprintf("%s.ipam.config[%d]", path, i)
		pf, err := netip.ParsePrefix(pool.Subnet)
		switch {
		case pool.Subnet == "":
			c.note(p, "a pool without subnet: left out")
		case err != nil:
			c.note(p+".subnet", fmt.Sprintf("%q is not a CIDR prefix: left out", pool.Subnet))
		case pf.Addr().Is4() && !v4:
			v4 = true
			out.Subnet, out.Gateway, out.IPRange = pool.Subnet, pool.Gateway, pool.IPRange
		case pf.Addr().Is6() && out.SubnetV6 == "":
			out.SubnetV6, out.GatewayV6 = pool.Subnet, pool.Gateway
			out.EnableIPv6 = true
			if pool.IPRange != "" {
				c.note(p+".ip_range", "netctl has no IPv6 ip_range: left out")
			}
		default:
			c.note(p, "netctl takes one IPv4 and one IPv6 subnet per network: left out")
		}
	}
	if n.EnableIPv6 != nil {
		out.EnableIPv6 = *n.EnableIPv6
		if !out.EnableIPv6 && out.SubnetV6 != "" {
			c.note(path+".enable_ipv6", "false: the IPv6 subnet is left out")
			out.SubnetV6, out.GatewayV6 = "", ""
		}
	}
	if n.EnableIPv4 != nil && !*n.EnableIPv4 {
		c.note(path+".enable_ipv4", "false has no netctl equivalent (networks always have IPv4)")
	}
	out.Internal = n.Internal
	if len(n.Labels) > 0 {
		out.Labels = map[string]string{}
		for k, v := range n.Labels {
			if strings.ContainsAny(k+v, "\x00\n\r") {
				c.note(path+".labels."+k, "holds a newline: left out")
				continue
			}
			out.Labels[k] = v
		}
	}
	return out
}

func (c *converter) container(path string, s types.ServiceConfig) *container {
	out := &container{}
	if s.Hostname != "" {
		h := s.Hostname
		if s.DomainName != "" {
			h += "." + s.DomainName
		}
		out.Hostname = h
	}
	switch mode := s.NetworkMode; {
	case mode == "":
		out.Networks = c.attachments(path, s)
	case mode == "host" || mode == "none":
		out.NetworkMode = mode
	case mode == "bridge" || mode == "default":
		out.Networks = &attachments{names: []string{model.DefaultNetwork}}
	default:
		c.note(path+".network_mode", fmt.Sprintf("%q (sharing another container's namespace) has no netctl equivalent: the container joins the default network bridge", mode))
	}
	if s.ContainerName != "" && s.ContainerName != s.Name && out.Networks != nil {
		// Compose resolves the container name too: an alias on each
		// network keeps it resolving.
		alias := s.ContainerName
		if !isDNSName(alias) {
			c.note(path+".container_name", fmt.Sprintf("%q is not a DNS name: left out", alias))
		} else {
			out.Networks.alias(alias)
		}
	}
	out.Ports = c.ports(path+".ports", s.Ports)
	out.Expose = c.expose(path+".expose", s.Expose)
	out.Links = c.links(path+".links", s.Links)
	out.ExtraHosts = c.extraHosts(path+".extra_hosts", s.ExtraHosts)
	for _, d := range s.DNS {
		if a, err := netip.ParseAddr(d); err == nil && a.Zone() == "" {
			out.DNS = append(out.DNS, d)
		} else {
			c.note(path+".dns", fmt.Sprintf("%q is not an IP address: left out", d))
		}
	}
	out.Env = c.env(path+".environment", s.Environment)
	if out.NetworkMode != "" && len(out.Ports)+len(out.DNS)+len(out.Links) > 0 {
		// netctl configures no networking for host or none mode (Docker
		// ignores these there too); extra_hosts still goes to the hosts
		// file.
		c.note(path+".network_mode", out.NetworkMode+": its ports, dns and links are left out (netctl allows none of them in this mode)")
		out.Ports, out.DNS, out.Links = nil, nil, nil
	}
	return out
}

// attachments are the service's networks in Compose's connection order
// (priority, then name): the first is eth0 and holds the default route.
func (c *converter) attachments(path string, s types.ServiceConfig) *attachments {
	if len(s.Networks) == 0 {
		return nil
	}
	out := &attachments{}
	for _, name := range s.NetworksByPriority() {
		cfg := s.Networks[name]
		a := &attachment{}
		p := path + ".networks." + name
		if cfg != nil {
			if cfg.Ipv4Address != "" {
				if ip, err := netip.ParseAddr(cfg.Ipv4Address); err == nil && ip.Is4() {
					a.IPv4Address = cfg.Ipv4Address
				} else {
					c.note(p+".ipv4_address", fmt.Sprintf("%q is not an IPv4 address: left out", cfg.Ipv4Address))
				}
			}
			if cfg.Ipv6Address != "" {
				if ip, err := netip.ParseAddr(cfg.Ipv6Address); err == nil && ip.Is6() && !ip.Is4In6() && ip.Zone() == "" {
					a.IPv6Address = ip.String()
				} else {
					c.note(p+".ipv6_address", fmt.Sprintf("%q is not an IPv6 address: left out", cfg.Ipv6Address))
				}
			}
			for _, al := range cfg.Aliases {
				if isDNSName(al) {
					a.Aliases = append(a.Aliases, al)
				} else {
					c.note(p+".aliases", fmt.Sprintf("%q is not a DNS name: left out", al))
				}
			}
		}
		net := c.networks[name]
		if net == "" {
			net = name // an undeclared network: spec reports it
		}
		out.names = append(out.names, net)
		out.settings = append(out.settings, a)
	}
	return out
}

// ports renders Compose's long syntax (every short form is loaded into
// it) as Docker's -p strings.
func (c *converter) ports(path string, ports []types.ServicePortConfig) []quoted {
	var out []quoted
	for i, p := range ports {
		proto := p.Protocol
		if proto == "" {
			proto = "tcp"
		}
		if !model.IsProto(proto) {
			c.note(fmt.Sprintf("%s[%d]", path, i), fmt.Sprintf("protocol %q: left out (tcp, udp or sctp)", proto))
			continue
		}
		var b strings.Builder
		if p.HostIP != "" {
			ip, err := netip.ParseAddr(p.HostIP)
			switch {
			case err != nil || ip.Zone() != "" || ip.Is4In6():
				c.note(fmt.Sprintf("%s[%d]", path, i), fmt.Sprintf("host address %q is not an IP address: left out", p.HostIP))
				continue
			case ip.Is6() && (ip.IsLoopback() || ip.IsLinkLocalUnicast()):
				c.note(fmt.Sprintf("%s[%d]", path, i), fmt.Sprintf("host address %q: netctl cannot publish on the IPv6 loopback or a link-local address: left out", p.HostIP))
				continue
			case ip.Is6():
				b.WriteString("[" + ip.String() + "]:")
			default:
				b.WriteString(p.HostIP + ":")
			}
		}
		if p.Published != "" || p.HostIP != "" {
			b.WriteString(p.Published + ":")
		}
		b.WriteString(strconv.FormatUint(uint64(p.Target), 10))
		if proto != "tcp" {
			b.WriteString("/" + proto)
		}
		out = append(out, quoted(b.String()))
	}
	return out
}

// maxExposeRange bounds an expose range's expansion into single ports.
const maxExposeRange = 1024

func (c *converter) expose(path string, ports types.StringOrNumberList) []port {
	var out []port
	for _, e := range ports {
		spec, proto, hasProto := strings.Cut(e, "/")
		lo, hi, isRange := strings.Cut(spec, "-")
		if !isRange {
			hi = lo
		}
		a, err1 := strconv.ParseUint(lo, 10, 16)
		b, err2 := strconv.ParseUint(hi, 10, 16)
		switch {
		case err1 != nil || err2 != nil || a == 0 || b < a:
			c.note(path, fmt.Sprintf("%q is not a port or range: left out", e))
			continue
		case b-a >= maxExposeRange:
			c.note(path, fmt.Sprintf("%q: ranges over %d ports are left out", e, maxExposeRange))
			continue
		case hasProto && !model.IsProto(proto):
			c.note(path, fmt.Sprintf("%q: protocol %q: left out", e, proto))
			continue
		}
		suffix := ""
		if hasProto && proto != "tcp" {
			suffix = "/" + proto
		}
		for p := a; p <= b; p++ {
			out = append(out, port(strconv.FormatUint(p, 10)+suffix))
		}
	}
	return out
}

func (c *converter) links(path string, links []string) []quoted {
	var out []quoted
	for _, l := range links {
		svc, alias, hasAlias := strings.Cut(l, ":")
		name := c.services[svc]
		if name == "" {
			name = svc // unknown: spec reports it
		}
		switch {
		case hasAlias:
			out = append(out, quoted(name+":"+alias))
		case name != svc:
			// The renamed service keeps its Compose name as the alias.
			out = append(out, quoted(name+":"+c.label(path, svc)))
		default:
			out = append(out, quoted(name))
		}
	}
	return out
}

func (c *converter) extraHosts(path string, hosts types.HostsList) []quoted {
	names := make([]string, 0, len(hosts))
	for h := range hosts {
		names = append(names, h)
	}
	sort.Strings(names)
	var out []quoted
	for _, h := range names {
		for _, ip := range hosts[h] {
			if a, err := netip.ParseAddr(ip); err != nil || a.Zone() != "" {
				c.note(path, fmt.Sprintf("%s:%s: only IP addresses convert (host-gateway has no netctl equivalent): left out", h, ip))
				continue
			}
			out = append(out, quoted(h+":"+ip))
		}
	}
	return out
}

func (c *converter) env(path string, env types.MappingWithEquals) map[string]string {
	if len(env) == 0 {
		return nil
	}
	out := map[string]string{}
	for k, v := range env {
		p := path + "." + k
		switch {
		case !model.IsEnvName(k):
			c.note(p, "not a variable name netctl accepts ([A-Za-z_][A-Za-z0-9_]*): left out")
		case v == nil:
			c.note(p, "no value (Compose copies it from the shell, which netctl does not have): left out")
		case strings.ContainsAny(*v, "\x00\n\r"):
			c.note(p, "the value holds a newline: left out")
		default:
			out[k] = *v
		}
	}
	return out
}

func isDNSName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if !model.IsLabel(l) {
			return false
		}
	}
	return true
}
