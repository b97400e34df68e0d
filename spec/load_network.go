package spec

import (
	"fmt"
	"net/netip"

	"github.com/netctl/netctl/model"
	"github.com/netctl/netctl/spec/internal/yamlwalk"
	"gopkg.in/yaml.v3"
)

// networks reads the `networks:` section: one Network per key, in file
// order.
func (p *parser) networks(t *Topology, n *yaml.Node) {
	fs, ok := p.Fields(n, "networks", "network")
	if !ok {
		p.info.brokenNetworks = true
	}
	for _, f := range fs {
		if f.Key == NetworkHost || f.Key == NetworkNone {
			p.Addf(f.KeyPos, "network %q is built in and cannot be declared; containers join it with network_mode: %s", f.Key, f.Key)
			continue
		}
		p.checkName(f.Key, f.KeyPos, "network name")
		t.Networks = append(t.Networks, p.network(f.Key, f.KeyPos, f.Value))
	}
}

var networkKeys = []string{"driver", "subnet", "gateway", "ip_range", "internal", "icc", "mtu", "bridge_name", "enable_ipv6", "subnet_v6", "gateway_v6", "masquerade_v6", "labels", "vni"}

func (p *parser) network(name string, pos Pos, n *yaml.Node) *Network {
	nw := &Network{
		Name:     name,
		Pos:      pos,
		Driver:   DriverBridge,
		ICC:      true,
		MTU:      DefaultMTU,
		FieldPos: map[string]Pos{},

		MasqueradeV6: true,
	}
	ctx := fmt.Sprintf("network %q", name)
	fs, _ := p.Fields(n, ctx, "key")
	for _, f := range fs {
		what := ctx + ": " + f.Key
		switch f.Key {
		case "driver":
			if s, ok := p.Str(f.Value, what); ok {
				if s == DriverBridge || s == DriverOverlay {
					nw.Driver = s
				} else {
					p.Addf(yamlwalk.ValPos(f.Value), "%s: unknown driver %s (bridge or overlay)", what, yamlwalk.Quote(s))
				}
			}
		case "subnet":
			nw.Subnet = p.prefix(f.Value, what, false, 30)
		case "gateway":
			nw.Gateway = p.addr(f.Value, what, false)
		case "ip_range":
			nw.IPRange = p.prefix(f.Value, what, false, 32)
		case "internal":
			nw.Internal, _ = p.Boolean(f.Value, what)
		case "icc":
			if v, ok := p.Boolean(f.Value, what); ok {
				nw.ICC = v
			}
		case "mtu":
			if v, ok := p.Integer(f.Value, what); ok {
				if v < 68 || v > 65535 {
					p.Addf(yamlwalk.ValPos(f.Value), "%s: %d is out of range 68-65535", what, v)
				} else {
					nw.MTU = int(v)
				}
			}
		case "bridge_name":
			if s, ok := p.Str(f.Value, what); ok {
				if isIfname(s) {
					nw.BridgeName = s
				} else {
					p.Addf(yamlwalk.ValPos(f.Value), "%s: %s is not a kernel interface name (at most %d letters, digits, '-', '_' or '.')", what, yamlwalk.Quote(s), maxIfname)
				}
			}
		case "enable_ipv6":
			nw.EnableIPv6, _ = p.Boolean(f.Value, what)
		case "subnet_v6":
			nw.SubnetV6 = p.prefix(f.Value, what, true, 126)
		case "gateway_v6":
			nw.GatewayV6 = p.addr(f.Value, what, true)
		case "masquerade_v6":
			if v, ok := p.Boolean(f.Value, what); ok {
				nw.MasqueradeV6 = v
			}
		case "labels":
			nw.Labels = p.labels(f.Value, what)
		case "vni":
			if v, ok := p.Integer(f.Value, what); ok {
				if v < 1 || v > model.MaxVNI {
					p.Addf(yamlwalk.ValPos(f.Value), "%s: %d is out of range 1-%d", what, v, model.MaxVNI)
				} else {
					nw.VNI = uint32(v)
				}
			}
		default:
			p.UnknownKey(f, "in "+ctx, networkKeys)
			continue
		}
		nw.FieldPos[f.Key] = f.KeyPos
	}
	return nw
}

// reservedV4 are ranges no network may overlap: they are not unicast
// host addresses (this host, loopback, multicast, reserved, broadcast).
var reservedV4 = []string{"0.0.0.0/8", "127.0.0.0/8", "224.0.0.0/3"}

// reservedV6 are their IPv6 twins: unspecified and loopback, IPv4-mapped,
// link-local (every interface has its own fe80::/64) and multicast.
var reservedV6 = []string{"::/127", "::ffff:0:0/96", "fe80::/10", "ff00::/8"}

// prefix parses a subnet in CIDR notation, at most maxBits long (room for
// a gateway and a container in a subnet, a single address in an ip_range). Host bits must be zero:
// "172.18.0.5/16" is an error rather than silently 172.18.0.0/16, because
// it is usually a typo for another prefix length (Docker rejects it too).
func (p *parser) prefix(n *yaml.Node, what string, v6 bool, maxBits int) netip.Prefix {
	s, ok := p.Str(n, what)
	if !ok {
		return netip.Prefix{}
	}
	pos := yamlwalk.ValPos(n)
	pf, err := netip.ParsePrefix(s)
	if err != nil {
		p.Addf(pos, "%s: %s is not a CIDR prefix like 172.18.0.0/16", what, yamlwalk.Quote(s))
		return netip.Prefix{}
	}
	a := pf.Addr()
	switch {
	case !v6 && !a.Is4():
		p.Addf(pos, "%s: %s is not an IPv4 prefix (IPv6 goes in subnet_v6, with enable_ipv6)", what, yamlwalk.Quote(s))
	case v6 && (!a.Is6() || a.Is4In6()):
		p.Addf(pos, "%s: %s is not an IPv6 prefix", what, yamlwalk.Quote(s))
	case pf != pf.Masked():
		p.Addf(pos, "%s: %s has host bits set; did you mean %s?", what, s, pf.Masked())
	case pf.Bits() > maxBits:
		p.Addf(pos, "%s: %s is too small for a gateway and a container", what, s)
	case pf.Bits() == 0:
		p.Addf(pos, "%s: %s covers every address", what, s)
	default:
		reserved := reservedV4
		if v6 {
			reserved = reservedV6
		}
		for _, r := range reserved {
			if rp := netip.MustParsePrefix(r); rp.Overlaps(pf) {
				p.Addf(pos, "%s: %s overlaps %s, which is not for hosts", what, s, rp)
				return netip.Prefix{}
			}
		}
		return pf
	}
	return netip.Prefix{}
}

func (p *parser) labels(n *yaml.Node, what string) map[string]string {
	fs, _ := p.Fields(n, what, "label")
	if len(fs) == 0 {
		return nil
	}
	m := make(map[string]string, len(fs))
	for _, f := range fs {
		if f.Key == "" || hasControl(f.Key) {
			p.Addf(f.KeyPos, "%s: label key %s is empty or holds a newline or NUL", what, yamlwalk.Quote(f.Key))
			continue
		}
		// A null label value is the empty string, as in Compose.
		v := ""
		if t := yamlwalk.Target(f.Value); t == nil || !yamlwalk.IsNull(t) {
			s, ok := p.Str(f.Value, what+"."+f.Key)
			if !ok {
				continue
			}
			v = s
		}
		if hasControl(v) {
			p.Addf(yamlwalk.ValPos(f.Value), "%s: label %q: value holds a newline or NUL", what, f.Key)
			continue
		}
		m[f.Key] = v
	}
	return m
}
