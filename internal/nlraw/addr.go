package nlraw

import (
	"encoding/binary"
	"errors"
	"net/netip"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// Addr is an address with its prefix length, on link Index.
type Addr struct {
	Index  int
	Prefix netip.Prefix
	Flags  uint32 // IFA_F_*
}

// Addrs dumps the addresses, of both families, of the socket's namespace.
func (c *Conn) Addrs() ([]Addr, error) {
	req := Request{Type: unix.RTM_GETADDR, Data: []nl.NetlinkRequestData{nl.NewIfAddrmsg(unix.AF_UNSPEC)}}
	return dumpAll(c, req, unix.RTM_NEWADDR, decodeAddr)
}

func decodeAddr(m []byte, out []Addr) ([]Addr, error) {
	a, ok, err := ParseAddr(m)
	if ok {
		out = append(out, a)
	}
	return out, err
}

// ParseAddr decodes an address message; ok is false for one that is
// neither IPv4 nor IPv6.
func ParseAddr(m []byte) (Addr, bool, error) {
	if len(m) < unix.SizeofIfAddrmsg {
		return Addr{}, false, errors.New("short address message")
	}
	if m[0] != unix.AF_INET && m[0] != unix.AF_INET6 {
		return Addr{}, false, nil
	}
	bits := int(m[1])
	a := Addr{Index: int(binary.NativeEndian.Uint32(m[4:])), Flags: uint32(m[2])}
	var local, address netip.Addr
	err := Attrs(m[unix.SizeofIfAddrmsg:], func(typ uint16, v []byte) {
		if typ == unix.IFA_FLAGS {
			a.Flags = U32(v) // all 32 bits; ifa_flags holds the first 8
			return
		}
		ip, ok := netip.AddrFromSlice(v)
		switch {
		case !ok:
		case typ == unix.IFA_LOCAL:
			local = ip
		case typ == unix.IFA_ADDRESS:
			address = ip
		}
	})
	// IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer's
	// on a point-to-point link and the same as IFA_LOCAL otherwise.
	ip := local
	if !ip.IsValid() {
		ip = address
	}
	if !ip.IsValid() {
		return Addr{}, false, err
	}
	a.Prefix = netip.PrefixFrom(ip, bits)
	return a, a.Prefix.IsValid(), err
}

// AddrsByIndex groups addresses by link.
func AddrsByIndex(addrs []Addr) map[int][]netip.Prefix {
	m := make(map[int][]netip.Prefix, len(addrs))
	for _, a := range addrs {
		m[a.Index] = append(m[a.Index], a.Prefix)
	}
	return m
}
