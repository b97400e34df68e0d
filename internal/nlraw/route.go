package nlraw

import (
	"encoding/binary"
	"errors"
	"net/netip"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// Route is what netctl reads of a route.
type Route struct {
	Table uint32
	Type  uint8
	Dst   netip.Prefix
	GW    netip.Addr
	OIF   int // output interface; 0 for a multipath or blackhole route
}

// Routes dumps the routes of both families in table (all tables for
// RT_TABLE_UNSPEC). The kernel filters by table only on a socket with
// strict checking on (Linux 4.20); elsewhere the caller gets every table.
func (c *Conn) Routes(table uint8) ([]Route, error) {
	msg := make(raw, unix.SizeofRtMsg)
	msg[0] = unix.AF_UNSPEC
	msg[4] = table
	req := Request{Type: unix.RTM_GETROUTE, Data: []nl.NetlinkRequestData{msg}}
	routes, err := dumpAll(c, req, unix.RTM_NEWROUTE, func(m []byte, out []Route) ([]Route, error) {
		r, ok, err := ParseRoute(m)
		if ok {
			out = append(out, r)
		}
		return out, err
	})
	if errors.Is(err, unix.ENOENT) {
		// A strict dump of a table the namespace does not have yet (a
		// fresh namespace with lo down has no routes at all): no routes,
		// not a failure.
		return nil, nil
	}
	return routes, err
}

// ParseRoute decodes a route message; ok is false for one that is
// neither IPv4 nor IPv6, or is a cached clone.
func ParseRoute(m []byte) (Route, bool, error) {
	if len(m) < unix.SizeofRtMsg {
		return Route{}, false, errors.New("short route message")
	}
	family := m[0]
	if (family != unix.AF_INET && family != unix.AF_INET6) || binary.NativeEndian.Uint32(m[8:])&unix.RTM_F_CLONED != 0 {
		return Route{}, false, nil
	}
	bits := int(m[1])
	unspec := netip.IPv4Unspecified()
	if family == unix.AF_INET6 {
		unspec = netip.IPv6Unspecified()
	}
	r := Route{Table: uint32(m[4]), Type: m[7], Dst: netip.PrefixFrom(unspec, bits)}
	err := Attrs(m[unix.SizeofRtMsg:], func(typ uint16, v []byte) {
		switch typ {
		case unix.RTA_TABLE:
			r.Table = U32(v)
		case unix.RTA_DST:
			if ip, ok := netip.AddrFromSlice(v); ok {
				r.Dst = netip.PrefixFrom(ip, bits)
			}
		case unix.RTA_GATEWAY:
			if ip, ok := netip.AddrFromSlice(v); ok {
				r.GW = ip
			}
		case unix.RTA_OIF:
			r.OIF = int(U32(v))
		}
	})
	return r, r.Dst.IsValid(), err
}
