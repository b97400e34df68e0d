package reconciler

import (
	"fmt"
	"net/netip"

	"github.com/netctl/netctl/model"
)

// defaultBridgeSubnet is what the default network gets, as docker0 does,
// unless the file sets one or something else already routes it.
var defaultBridgeSubnet = netip.MustParsePrefix(model.DefaultBridgeSubnet)

// subnetPool lists candidate subnets in Docker's order: 172.18-31.0.0/16,
// then 192.168.0.0/16 in /20 steps.
func subnetPool() []netip.Prefix {
	var pool []netip.Prefix
	for b := 18; b <= 31; b++ {
		pool = append(pool, netip.PrefixFrom(netip.AddrFrom4([4]byte{172, byte(b), 0, 0}), 16))
	}
	for c := 0; c < 256; c += 16 {
		pool = append(pool, netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 168, byte(c), 0}), 20))
	}
	return pool
}

// subnetTaken tracks prefixes that a new subnet must not overlap.
type subnetTaken []netip.Prefix

func (s subnetTaken) overlaps(p netip.Prefix) bool {
	for _, q := range s {
		if q.Overlaps(p) {
			return true
		}
	}
	return false
}

// pickSubnet returns the first pool entry overlapping nothing taken.
func pickSubnet(taken subnetTaken) (netip.Prefix, error) {
	for _, p := range subnetPool() {
		if !taken.overlaps(p) {
			return p, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("address pool exhausted: every subnet of 172.18.0.0/16-172.31.0.0/16 and 192.168.0.0/16 overlaps a route or another network; set `subnet`")
}

// keepSubnet makes a network whose file names no subnet keep the one it
// has (have, with gateway haveGW), of either family: addresses are sticky.
// Its gateway comes along unless the file names one.
func keepSubnet(subnet *netip.Prefix, gw *netip.Addr, have netip.Prefix, haveGW netip.Addr) {
	if subnet.IsValid() || !have.IsValid() {
		return
	}
	*subnet = have
	if !gw.IsValid() {
		*gw = haveGW
	}
}

// firstHost is the first usable address of p (Docker's default gateway).
func firstHost(p netip.Prefix) netip.Addr { return p.Masked().Addr().Next() }

// lastAddr is the last address of a prefix: the broadcast address of an
// IPv4 subnet, the last of the reserved subnet anycast addresses (RFC 2526)
// of an IPv6 one. Neither is handed out.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 1 << (7 - i%8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// addrPool hands out the addresses of one network, of either family.
type addrPool struct {
	subnet netip.Prefix
	rng    netip.Prefix // where dynamic addresses come from
	used   map[netip.Addr]bool
	next   netip.Addr // lowest address that may still be free
}

// newAddrPool makes a pool; hint is how many addresses it will likely
// hold.
func newAddrPool(subnet, ipRange netip.Prefix, gateway netip.Addr, hint int) *addrPool {
	rng := subnet
	if ipRange.IsValid() {
		rng = ipRange
	}
	p := &addrPool{subnet: subnet, rng: rng.Masked(), used: make(map[netip.Addr]bool, hint)}
	p.used[subnet.Masked().Addr()] = true
	p.used[lastAddr(subnet)] = true
	p.used[gateway] = true
	p.next = p.rng.Addr()
	return p
}

// claim marks a reports whether it was free and in the subnet.
func (p *addrPool) claim(a netip.Addr) bool {
	if !p.subnet.Contains(a) || p.used[a] {
		return false
	}
	p.used[a] = true
	return true
}

// allocate returns the lowest free address of the range.
func (p *addrPool) allocate() (netip.Addr, bool) {
	last := lastAddr(p.rng)
	for a := p.next; a.IsValid() && p.rng.Contains(a); a = a.Next() {
		if !p.used[a] {
			p.used[a] = true
			p.next = a.Next()
			return a, true
		}
		if a == last {
			break
		}
	}
	return netip.Addr{}, false
}
