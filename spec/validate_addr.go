package spec

import (
	"fmt"
	"net/netip"
)

// The address arithmetic the cross-value rules share: a network's subnet
// and gateway as the file gives or implies them, and what makes an address
// unusable as a host address.

// subnetOf is the subnet a network's addresses come from as far as the
// file can tell: explicit, or implied for the default network. explicit
// tells the two apart; ok is false when there is none (or it was invalid).
func subnetOf(n *Network) (subnet netip.Prefix, explicit, ok bool) {
	if _, has := n.FieldPos["subnet"]; has {
		return n.Subnet, true, n.Subnet.IsValid()
	}
	if n.Name == NetworkBridge {
		return netip.MustParsePrefix(DefaultBridgeSubnet), false, true
	}
	return netip.Prefix{}, false, false
}

// gatewayOf is the network's gateway: explicit, else the first host
// address, which is what the reconciler assigns.
func gatewayOf(n *Network, subnet netip.Prefix) netip.Addr {
	if n.Gateway.IsValid() {
		return n.Gateway
	}
	return subnet.Addr().Next()
}

func broadcast4(p netip.Prefix) netip.Addr {
	a := p.Addr().As4()
	for i := p.Bits(); i < 32; i++ {
		a[i/8] |= 1 << (7 - i%8)
	}
	return netip.AddrFrom4(a)
}

// hostAddrProblem says why a is not usable as a host address in p, or "".
func hostAddrProblem(p netip.Prefix, a netip.Addr) string {
	switch {
	case !p.Contains(a):
		return fmt.Sprintf("is outside the subnet %s", p)
	case a == p.Addr():
		return fmt.Sprintf("is the network address of %s", p)
	case a.Is4() && a == broadcast4(p):
		return fmt.Sprintf("is the broadcast address of %s", p)
	}
	return ""
}

// subnetKey names the subnet key a static address key is checked against.
func subnetKey(addrKey string) string {
	if addrKey == "ipv6_address" {
		return "subnet_v6"
	}
	return "subnet"
}

// subnetV6Of is subnetOf for IPv6: only an explicit subnet_v6 is known
// before the reconciler draws one from the ULA pool.
func subnetV6Of(n *Network) (subnet netip.Prefix, explicit, ok bool) {
	if _, has := n.FieldPos["subnet_v6"]; has {
		return n.SubnetV6, true, n.SubnetV6.IsValid()
	}
	return netip.Prefix{}, false, false
}

// gatewayV6Of is the network's IPv6 gateway: explicit, else the first
// address after the subnet's own (which is the subnet-router anycast).
func gatewayV6Of(n *Network, subnet netip.Prefix) netip.Addr {
	if n.GatewayV6.IsValid() {
		return n.GatewayV6
	}
	return subnet.Addr().Next()
}
