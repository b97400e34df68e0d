package nlraw

import (
	"errors"
	"net/netip"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// in6AddrGenModeNone is IN6_ADDR_GEN_MODE_NONE (linux/if_link.h).
const in6AddrGenModeNone = 1

// LinkChange changes the link named by Index (or by Name when Index is
// 0): what to change, each only when set.
type LinkChange struct {
	Index int
	Name  string
	Alias string
	Up    bool
	// NoIPv6LinkLocal sets the IPv6 address generation mode to none: the
	// kernel then configures no link-local address, with its duplicate
	// address detection, routes and multicast reports, when the link
	// comes up. Only an IPv4-only link should get it. The kernel refuses
	// it in a creating request (EAFNOSUPPORT), so it goes in the change
	// after, before the link has a carrier.
	NoIPv6LinkLocal bool
	// Hairpin sets the hairpin mode of a bridge port (frames may leave by
	// the port they came in); the link must already be enslaved to a
	// bridge. It goes as the bridge's port data (IFLA_INFO_SLAVE_DATA, as
	// `ip link set ... type bridge_slave hairpin on` sends it), which only
	// an RTM_NEWLINK carries: by name, it costs the kernel no more than
	// the rest of the change.
	Hairpin Hairpin
}

// Hairpin is a change of a bridge port's hairpin mode.
type Hairpin uint8

// Hairpin changes.
const (
	HairpinKeep Hairpin = iota // leave the mode as it is
	HairpinOff
	HairpinOn
)

// HairpinTo is the change that turns the mode on (true) or off.
func HairpinTo(on bool) Hairpin {
	if on {
		return HairpinOn
	}
	return HairpinOff
}

// Request builds the change.
func (l LinkChange) Request() Request {
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(l.Index)
	if l.Up {
		msg.Flags, msg.Change = unix.IFF_UP, unix.IFF_UP
	}
	data := []nl.NetlinkRequestData{msg}
	if l.Index == 0 {
		data = append(data, nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(l.Name)))
	}
	if l.Alias != "" {
		data = append(data, nl.NewRtAttr(unix.IFLA_IFALIAS, []byte(l.Alias)))
	}
	if l.NoIPv6LinkLocal {
		spec := nl.NewRtAttr(unix.IFLA_AF_SPEC, nil)
		spec.AddRtAttr(unix.AF_INET6, nil).AddRtAttr(unix.IFLA_INET6_ADDR_GEN_MODE, []byte{in6AddrGenModeNone})
		data = append(data, spec)
	}
	if l.Hairpin == HairpinKeep {
		return Request{Type: unix.RTM_SETLINK, Data: data}
	}
	info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	info.AddRtAttr(unix.IFLA_INFO_SLAVE_KIND, nl.ZeroTerminated("bridge"))
	mode := byte(0)
	if l.Hairpin == HairpinOn {
		mode = 1
	}
	info.AddRtAttr(unix.IFLA_INFO_SLAVE_DATA, nil).AddRtAttr(unix.IFLA_BRPORT_MODE, []byte{mode})
	// RTM_NEWLINK without NLM_F_CREATE changes an existing link only.
	return Request{Type: unix.RTM_NEWLINK, Data: append(data, info)}
}

// AddAddr adds the IPv4 address p to the link with ifindex index, with
// its broadcast address, as `ip addr add ... brd +` does; an address the
// link already has is EEXIST.
func AddAddr(index int, p netip.Prefix) Request {
	msg := nl.NewIfAddrmsg(unix.AF_INET)
	msg.Index, msg.Prefixlen = uint32(index), uint8(p.Bits())
	ip := p.Addr().AsSlice()
	data := []nl.NetlinkRequestData{msg,
		nl.NewRtAttr(unix.IFA_LOCAL, ip),
		nl.NewRtAttr(unix.IFA_ADDRESS, ip)}
	if p.Bits() < 31 {
		b := p.Addr().As4()
		host := ^uint32(0) >> p.Bits()
		for i := range b {
			b[i] |= byte(host >> (8 * (3 - i)))
		}
		data = append(data, nl.NewRtAttr(unix.IFA_BROADCAST, b[:]))
	}
	return Request{Type: unix.RTM_NEWADDR, Flags: unix.NLM_F_CREATE | unix.NLM_F_EXCL, Data: data}
}

// ReplaceDefaultRoute makes gw the main table's default route of its
// family, of the kernel's default metric (0 for IPv4, 1024 for IPv6); a
// default route of another metric or type stays.
func ReplaceDefaultRoute(gw netip.Addr) Request {
	msg := make(raw, unix.SizeofRtMsg)
	msg[0] = unix.AF_INET
	if gw.Is6() {
		msg[0] = unix.AF_INET6
	}
	msg[4] = unix.RT_TABLE_MAIN
	msg[5] = unix.RTPROT_BOOT
	msg[6] = unix.RT_SCOPE_UNIVERSE
	msg[7] = unix.RTN_UNICAST
	return Request{Type: unix.RTM_NEWROUTE, Flags: unix.NLM_F_CREATE | unix.NLM_F_REPLACE, Data: []nl.NetlinkRequestData{
		msg, nl.NewRtAttr(unix.RTA_GATEWAY, gw.AsSlice()),
	}}
}

// ErrNoLink is LinkByName's answer for a name no link has.
var ErrNoLink = errors.New("no such link")

// LinkByName reads one link by name (ErrNoLink when there is none).
func (c *Conn) LinkByName(name string) (Link, error) {
	return c.getLink(nl.NewIfInfomsg(unix.AF_UNSPEC), nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(name)))
}

func (c *Conn) getLink(data ...nl.NetlinkRequestData) (Link, error) {
	var l Link
	data = append(data, nl.NewRtAttr(unix.IFLA_EXT_MASK, nl.Uint32Attr(rtextFilterSkipStats)))
	err := c.Get(Request{Type: unix.RTM_GETLINK, Data: data}, unix.RTM_NEWLINK, func(m []byte) error {
		var err error
		l, err = ParseLink(m)
		return err
	})
	if errors.Is(err, unix.ENODEV) {
		return Link{}, ErrNoLink
	}
	return l, err
}
