package reconciler

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/netctl/netctl/model"
)

// desireFiles renders every container's hosts file, resolv.conf and env
// file, once, from the finished desired state: it runs after addresses
// are allocated and the project's names are known, so nothing rendered here
// is patched afterwards.
//
// A hosts file is rendered into one reused buffer, and the container's
// observed file is kept when it has the same text: a no-op plan then
// allocates no hosts file at all, and the diff compares identical strings.
// Resolv.conf files are the same for every container with the same inputs,
// so each is rendered once.
func desireFiles(d, observed *model.State, hr hostResolv) {
	var buf []byte
	resolv := map[resolvKey]string{}
	for id, c := range d.Containers {
		buf = renderHosts(buf[:0], c, d)
		if o := observed.Containers[id]; o != nil && o.HostsFile == string(buf) {
			c.HostsFile = o.HostsFile
		} else {
			c.HostsFile = string(buf)
		}
		c.ResolvFile = cachedResolv(resolv, c, d, hr)
		c.EnvFile = renderEnv(c, d)
	}
}

// resolvKey is everything a resolv.conf depends on besides the host's
// file, for a container without dns servers of its own.
type resolvKey struct {
	embedded bool       // it asks the embedded server
	server   netip.Addr // which listens here
	host     bool       // it shares the host's namespace
}

func cachedResolv(cache map[resolvKey]string, c *model.Container, d *model.State, hr hostResolv) string {
	server, embedded := dnsServerFor(c, d)
	if !embedded && len(c.DNS) > 0 {
		return renderResolv(c, d, hr)
	}
	k := resolvKey{embedded: embedded, server: server, host: !embedded && c.Mode == model.ModeHost}
	s, ok := cache[k]
	if !ok {
		s = renderResolv(c, d, hr)
		cache[k] = s
	}
	return s
}

// hostResolv is what containers take from the host's resolv.conf. Desired
// parses it once and hands the value to whoever needs it.
type hostResolv struct {
	// nameservers are every parsable server in file order, loopback and
	// zoned ones included ("fe80::1%eth0").
	nameservers []netip.Addr
	// lines are the search, domain and options lines in file order, with
	// their whitespace normalised.
	lines []string
	// ndots is whether an options line sets ndots.
	ndots bool
}

func parseHostResolv(data []byte) hostResolv {
	var hr hostResolv
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "nameserver":
			if len(f) > 1 {
				if a, err := netip.ParseAddr(f[1]); err == nil {
					hr.nameservers = append(hr.nameservers, a)
				}
			}
		case "search", "domain", "options":
			hr.lines = append(hr.lines, strings.Join(f, " "))
			if f[0] == "options" && slices.ContainsFunc(f[1:], func(o string) bool { return strings.HasPrefix(o, "ndots:") }) {
				hr.ndots = true
			}
		}
	}
	return hr
}

// upstreams are the host's resolvers as the embedded server asks them,
// loopback ones included: it runs in the host's namespace, where they
// answer.
func (hr hostResolv) upstreams() []netip.AddrPort {
	var out []netip.AddrPort
	for _, a := range hr.nameservers {
		out = append(out, netip.AddrPortFrom(a, dnsPort))
	}
	return out
}

// renderHosts writes the container's /etc/hosts the way Docker does:
// localhost lines, the container's own addresses with its hostname,
// extra_hosts, then one line per link.
func renderHosts(b []byte, c *model.Container, d *model.State) []byte {
	b = append(b, "127.0.0.1\tlocalhost\n"+
		"::1\tlocalhost ip6-localhost ip6-loopback\n"+
		"fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"...)
	for _, ep := range c.Endpoints {
		for _, p := range [...]netip.Prefix{ep.Addr, ep.AddrV6} {
			if !p.IsValid() {
				continue
			}
			b = appendAddr(b, p.Addr())
			b = append(b, '\t')
			b = append(b, c.Hostname...)
			if c.Name != c.Hostname {
				b = append(b, ' ')
				b = append(b, c.Name...)
			}
			b = append(b, '\n')
		}
	}
	for _, h := range c.ExtraHosts {
		b = appendHostsLine(b, h.IP, h.Names)
	}
	// A link is "IP alias name hostname" (repeats left out), as Docker
	// writes it, and a second line with the IPv6 address on a dual-stack
	// network. The address comes from the desired state, so the line
	// follows the target when it moves.
	for _, l := range c.Links {
		target, ip, v6, ok := linkTarget(c, l, d)
		if !ok {
			continue
		}
		names := []string{l.Alias}
		for _, n := range []string{target.Name, target.Hostname} {
			if n != "" && !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
		b = appendHostsLine(b, ip, names)
		if v6.IsValid() {
			b = appendHostsLine(b, v6, names)
		}
	}
	return b
}

// appendHostsLine appends "IP\tname name...\n".
func appendHostsLine(b []byte, ip netip.Addr, names []string) []byte {
	b = appendAddr(b, ip)
	b = append(b, '\t')
	for i, n := range names {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, n...)
	}
	return append(b, '\n')
}

// appendAddr appends a as fmt's %s writes it ("invalid IP" included).
func appendAddr(b []byte, a netip.Addr) []byte {
	if !a.IsValid() {
		return append(b, a.String()...)
	}
	return a.AppendTo(b)
}

// renderResolv writes the container's resolv.conf, with the host's search
// and options lines. A container on a user-defined network asks the
// embedded server only, with ndots:0 (as Docker writes it) unless the host
// sets ndots. Any other asks its `dns` servers, else the host's; loopback
// ones are left out unless it shares the host's namespace, since they do
// not answer from a container's.
func renderResolv(c *model.Container, d *model.State, hr hostResolv) string {
	var b strings.Builder
	if server, ok := dnsServerFor(c, d); ok {
		fmt.Fprintf(&b, "nameserver %s\n", server)
		for _, l := range hr.lines {
			b.WriteString(l + "\n")
		}
		if !hr.ndots {
			b.WriteString("options ndots:0\n")
		}
		return b.String()
	}
	servers := c.DNS
	if len(servers) == 0 {
		for _, a := range hr.nameservers {
			if !a.IsLoopback() || c.Mode == model.ModeHost {
				servers = append(servers, a)
			}
		}
	}
	for _, a := range servers {
		fmt.Fprintf(&b, "nameserver %s\n", a)
	}
	for _, l := range hr.lines {
		b.WriteString(l + "\n")
	}
	return b.String()
}

// renderEnv writes the env vars netctl exec sets in a container, sorted,
// one NAME=value a line: its legacy links' and its own env:, which wins
// over a link var of the same name (Docker's precedence).
func renderEnv(c *model.Container, d *model.State) string {
	if len(c.Links) == 0 && len(c.Env) == 0 {
		return ""
	}
	vars := map[string]string{}
	for _, line := range renderLinkEnv(c, d) {
		k, v, _ := strings.Cut(line, "=")
		vars[k] = v
	}
	maps.Copy(vars, c.Env)
	if len(vars) == 0 {
		return ""
	}
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		fmt.Fprintf(&b, "%s=%s\n", k, vars[k])
	}
	return b.String()
}

// renderLinkEnv lists the env vars of a container's legacy links, exactly
// as Docker names them:
//
//	WEBDB_NAME=/web/webdb
//	WEBDB_PORT=tcp://172.17.0.2:5432            (lowest port, tcp first)
//	WEBDB_PORT_5432_TCP=tcp://172.17.0.2:5432   (every exposed or published port)
//	WEBDB_PORT_5432_TCP_ADDR=172.17.0.2
//	WEBDB_PORT_5432_TCP_PORT=5432
//	WEBDB_PORT_5432_TCP_PROTO=tcp
//	WEBDB_ENV_POSTGRES_DB=shop                  (the target's env)
func renderLinkEnv(c *model.Container, d *model.State) []string {
	var lines []string
	for _, l := range c.Links {
		target, ip, _, ok := linkTarget(c, l, d)
		if !ok {
			continue
		}
		prefix := envPrefix(l.Alias)
		lines = append(lines, fmt.Sprintf("%s_NAME=/%s/%s", prefix, c.Name, l.Alias))
		ports := linkedPorts(target)
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
	return lines
}

// envPrefix is a link alias as an env var prefix (Docker: upper case, '-'
// becomes '_').
func envPrefix(alias string) string {
	return strings.ReplaceAll(strings.ToUpper(alias), "-", "_")
}

// linkTarget is a link's target container and the address the linking
// container sees it at: the one on the first network they share, in the
// linking container's interface order. v6 is its IPv6 address there, when
// that network is dual stack.
func linkTarget(c *model.Container, l model.Link, d *model.State) (target *model.Container, ip, v6 netip.Addr, ok bool) {
	target = d.Containers[model.ContainerID(c.Project, l.Container)]
	if target == nil {
		return nil, netip.Addr{}, netip.Addr{}, false
	}
	for _, ep := range c.Endpoints {
		if tep := target.Endpoint(ep.Network); tep != nil {
			return target, tep.Addr.Addr(), tep.AddrV6.Addr(), true
		}
	}
	return target, netip.Addr{}, netip.Addr{}, false
}

// linkedPorts are the ports a link to c shows and opens, as Docker's links
// do: c's exposed ports and the container side of its published ones
// (desirePorts has expanded every `ports` entry into c.Ports by then),
// without repeats, sorted by number with tcp before udp before sctp on the
// same number. The link env vars and the firewall's link openings both use
// this list, so they cannot disagree.
func linkedPorts(c *model.Container) []model.PortProto {
	seen := map[model.PortProto]bool{}
	var out []model.PortProto
	add := func(p model.PortProto) {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, e := range c.Expose {
		add(e)
	}
	for _, p := range c.Ports {
		add(model.PortProto{Port: p.ContainerPort, Proto: p.Proto})
	}
	protoRank := func(p string) int {
		switch p {
		case model.ProtoTCP:
			return 0
		case model.ProtoUDP:
			return 1
		}
		return 2
	}
	slices.SortFunc(out, func(a, b model.PortProto) int {
		if a.Port != b.Port {
			return int(a.Port) - int(b.Port)
		}
		return protoRank(a.Proto) - protoRank(b.Proto)
	})
	return out
}
