package spec

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/netctl/netctl/model"
	"github.com/netctl/netctl/spec/internal/yamlwalk"
	"gopkg.in/yaml.v3"
)

// containers reads the `containers:` section: one Container per key, in
// file order.
func (p *parser) containers(t *Topology, n *yaml.Node) {
	fs, ok := p.Fields(n, "containers", "container")
	if !ok {
		p.info.brokenContainers = true
	}
	for _, f := range fs {
		p.checkName(f.Key, f.KeyPos, "container name")
		t.Containers = append(t.Containers, p.container(f.Key, f.KeyPos, f.Value))
	}
}

var containerKeys = []string{"hostname", "networks", "network_mode", "expose", "env", "ports", "publish_all", "dns", "extra_hosts", "links", "netns_path", "node"}

// composeHint points Compose users at what netctl calls the same thing.
func composeHint(key string) string {
	switch key {
	case "environment":
		return `; netctl calls it "env"`
	case "image":
		return "; netctl wires network namespaces and does not run images"
	case "command":
		return "; netctl wires network namespaces and does not run commands"
	}
	return ""
}

func (p *parser) container(name string, pos Pos, n *yaml.Node) *Container {
	c := &Container{Name: name, Pos: pos, FieldPos: map[string]Pos{}}
	ctx := fmt.Sprintf("container %q", name)
	fs, _ := p.Fields(n, ctx, "key")
	for _, f := range fs {
		what := ctx + ": " + f.Key
		switch f.Key {
		case "hostname":
			if s, ok := p.Str(f.Value, what); ok {
				if isDNSName(s) {
					c.Hostname = s
				} else {
					p.Addf(yamlwalk.ValPos(f.Value), "%s: %s is not a DNS name (dot-separated labels: %s)", what, yamlwalk.Quote(s), labelRule)
				}
			}
		case "networks":
			c.Networks = p.attachments(f.Value, name, what)
		case "network_mode":
			if s, ok := p.Str(f.Value, what); ok {
				if s == NetworkHost || s == NetworkNone {
					c.NetworkMode = s
				} else {
					p.Addf(yamlwalk.ValPos(f.Value), "%s: %s is not supported (host or none; bridge networks go under networks)", what, yamlwalk.Quote(s))
				}
			}
		case "expose":
			c.Expose = p.expose(f.Value, what)
		case "env":
			c.Env = p.env(f.Value, what)
		case "ports":
			c.Ports = p.ports(f.Value, what)
		case "publish_all":
			c.PublishAll, _ = p.Boolean(f.Value, what)
		case "dns":
			for _, item := range p.ScalarOrSeq(f.Value, what) {
				if a, ok := p.ipAny(item, what); ok {
					c.DNS = append(c.DNS, a)
				}
			}
		case "extra_hosts":
			c.ExtraHosts = p.extraHosts(f.Value, what)
		case "links":
			c.Links = p.links(f.Value, what)
		case "netns_path":
			if s, ok := p.Str(f.Value, what); ok {
				if filepath.IsAbs(s) && filepath.Clean(s) == s && s != "/" && !hasControl(s) {
					c.NetnsPath = s
				} else {
					p.Addf(yamlwalk.ValPos(f.Value), "%s: %s is not an absolute, clean path like /proc/<pid>/ns/net", what, yamlwalk.Quote(s))
				}
			}
		case "node":
			if s, ok := p.Str(f.Value, what); ok {
				if isLabel(s) {
					c.Node = s
				} else {
					p.Addf(yamlwalk.ValPos(f.Value), "%s: %s is not a node name", what, yamlwalk.Quote(s))
				}
			}
		default:
			if hint := composeHint(f.Key); hint != "" {
				p.Addf(f.KeyPos, "unknown key %q in %s%s", f.Key, ctx, hint)
			} else {
				p.UnknownKey(f, "in "+ctx, containerKeys)
			}
			continue
		}
		c.FieldPos[f.Key] = f.KeyPos
	}
	return c
}

var attachmentKeys = []string{"ipv4_address", "ipv6_address", "aliases"}

// attachments reads a container's networks in list form ([a, b]) or map
// form ({a: {ipv4_address: ..., aliases: [...]}}).
func (p *parser) attachments(n *yaml.Node, ctr, what string) []*Attachment {
	var out []*Attachment
	if t := yamlwalk.Target(n); t != nil && t.Kind == yaml.SequenceNode {
		items, _ := p.Seq(n, what)
		for _, item := range items {
			if s, ok := p.Str(item, what); ok {
				out = append(out, &Attachment{Network: s, Pos: yamlwalk.ValPos(item), FieldPos: map[string]Pos{}})
			}
		}
		if len(items) == 0 {
			p.emptyNetworks(n, what)
		}
		return out
	}
	fs, ok := p.Fields(n, what, "network")
	if ok && len(fs) == 0 {
		p.emptyNetworks(n, what)
	}
	for _, f := range fs {
		a := &Attachment{Network: f.Key, Pos: f.KeyPos, FieldPos: map[string]Pos{}}
		ctx := fmt.Sprintf("container %q: network %q", ctr, f.Key)
		sub, _ := p.Fields(f.Value, ctx, "key")
		for _, g := range sub {
			what := ctx + ": " + g.Key
			switch g.Key {
			case "ipv4_address":
				a.IPv4Address = p.addr(g.Value, what, false)
			case "ipv6_address":
				a.IPv6Address = p.addr(g.Value, what, true)
			case "aliases":
				items, _ := p.Seq(g.Value, what)
				seen := map[string]bool{}
				for _, item := range items {
					s, ok := p.Str(item, what)
					switch {
					case !ok:
					case !isDNSName(s):
						p.Addf(yamlwalk.ValPos(item), "%s: %s is not a DNS name (dot-separated labels: %s)", what, yamlwalk.Quote(s), labelRule)
					case !seen[s]:
						seen[s] = true
						a.Aliases = append(a.Aliases, s)
					}
				}
			default:
				p.UnknownKey(g, fmt.Sprintf("in network %q of container %q", f.Key, ctr), attachmentKeys)
				continue
			}
			a.FieldPos[g.Key] = g.KeyPos
		}
		out = append(out, a)
	}
	return out
}

// emptyNetworks rejects `networks: []`: it would silently mean either the
// default network or no network at all.
func (p *parser) emptyNetworks(n *yaml.Node, what string) {
	p.Addf(yamlwalk.ValPos(n), "%s: empty; leave it out to join the default network bridge, or use network_mode: none", what)
}

// portText accepts a port entry written as a string or as a YAML integer
// ("5003" or 5003).
func (p *parser) portText(n *yaml.Node, what string) (string, bool) {
	s := p.Scalar(n, what, "a port as a string or number")
	if s == nil {
		return "", false
	}
	switch s.ShortTag() {
	case "!!str":
		return s.Value, true
	case "!!int":
		var v int64
		if s.Decode(&v) == nil {
			return strconv.FormatInt(v, 10), true
		}
	}
	p.Addf(yamlwalk.PosOf(s), "%s: expected a port as a string or number, got %s", what, yamlwalk.Describe(s))
	return "", false
}

func (p *parser) expose(n *yaml.Node, what string) []PortProto {
	items, _ := p.Seq(n, what)
	var out []PortProto
	seen := map[PortProto]bool{}
	for _, item := range items {
		s, ok := p.portText(item, what)
		if !ok {
			continue
		}
		pp, why := parsePortProto(s)
		switch {
		case why != "":
			p.Addf(yamlwalk.ValPos(item), "%s: %s: %s", what, yamlwalk.Quote(s), why)
		case !seen[pp]:
			seen[pp] = true
			out = append(out, pp)
		}
	}
	return out
}

func (p *parser) ports(n *yaml.Node, what string) []*PortMapping {
	items, _ := p.Seq(n, what)
	var out []*PortMapping
	for _, item := range items {
		s, ok := p.portText(item, what)
		if !ok {
			continue
		}
		m, why := parsePortMapping(s)
		if why != "" {
			p.Addf(yamlwalk.ValPos(item), "%s: %s: %s", what, yamlwalk.Quote(s), why)
			continue
		}
		m.Pos = yamlwalk.ValPos(item)
		out = append(out, m)
	}
	return out
}

func (p *parser) env(n *yaml.Node, what string) map[string]string {
	fs, _ := p.Fields(n, what, "variable")
	if len(fs) == 0 {
		return nil
	}
	m := make(map[string]string, len(fs))
	for _, f := range fs {
		if !model.IsEnvName(f.Key) {
			p.Addf(f.KeyPos, "%s: %s is not a variable name ([A-Za-z_][A-Za-z0-9_]*)", what, yamlwalk.Quote(f.Key))
			continue
		}
		if t := yamlwalk.Target(f.Value); t != nil && yamlwalk.IsNull(t) {
			// Compose would copy the variable from the shell; netctl
			// has no shell to copy from.
			p.Addf(yamlwalk.ValPos(f.Value), "%s: %s has no value (write %s: \"\" for an empty one)", what, f.Key, f.Key)
			continue
		}
		v, ok := p.Str(f.Value, what+"."+f.Key)
		if !ok {
			continue
		}
		if hasControl(v) {
			p.Addf(yamlwalk.ValPos(f.Value), "%s: %s: value holds a newline or NUL", what, f.Key)
			continue
		}
		m[f.Key] = v
	}
	return m
}

func (p *parser) extraHosts(n *yaml.Node, what string) []*ExtraHost {
	var out []*ExtraHost
	for _, item := range p.Strings(n, what) {
		s, pos := item.Value, item.Pos
		// Split at the first colon: the address may be IPv6.
		name, ip, found := strings.Cut(s, ":")
		if !found {
			p.Addf(pos, "%s: %s is not \"name:ip\"", what, yamlwalk.Quote(s))
			continue
		}
		if !isDNSName(name) {
			p.Addf(pos, "%s: %s is not a DNS name (dot-separated labels: %s)", what, yamlwalk.Quote(name), labelRule)
			continue
		}
		if strings.HasPrefix(ip, "[") && strings.HasSuffix(ip, "]") {
			ip = ip[1 : len(ip)-1]
		}
		a, err := netip.ParseAddr(ip)
		if err != nil || a.Zone() != "" {
			p.Addf(pos, "%s: %s is not an IP address", what, yamlwalk.Quote(ip))
			continue
		}
		out = append(out, &ExtraHost{Name: name, IP: a, Pos: pos})
	}
	return out
}

func (p *parser) links(n *yaml.Node, what string) []*Link {
	var out []*Link
	for _, item := range p.Strings(n, what) {
		s, pos := item.Value, item.Pos
		ctr, alias, hasAlias := strings.Cut(s, ":")
		if !hasAlias {
			alias = ctr
		}
		if ctr == "" {
			p.Addf(pos, "%s: %s has no container name (<container>[:<alias>])", what, yamlwalk.Quote(s))
			continue
		}
		// The alias becomes a hosts-file name and an env var prefix,
		// so it is a single label.
		if !isLabel(alias) {
			p.Addf(pos, "%s: alias %s is not a DNS label (%s)", what, yamlwalk.Quote(alias), labelRule)
			continue
		}
		out = append(out, &Link{Container: ctr, Alias: alias, Pos: pos})
	}
	return out
}
