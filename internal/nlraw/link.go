package nlraw

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"slices"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// rtextFilterSkipStats asks the kernel to leave the statistics out of link
// dumps (RTEXT_FILTER_SKIP_STATS, Linux 4.19; older kernels ignore it).
const rtextFilterSkipStats = 1 << 3

// Link is what netctl reads of a link.
type Link struct {
	Index  int
	Peer   int // IFLA_LINK: a veth's partner ifindex
	Master int
	Group  uint32
	MTU    int
	Up     bool
	Name   string
	Alias  string
	Kind   string // "bridge", "veth", ...; "" without IFLA_INFO_KIND
	MAC    net.HardwareAddr
	// Hairpin is a bridge port's hairpin mode (IFLA_BRPORT_MODE in
	// IFLA_INFO_SLAVE_DATA, which the message of a link enslaved to a
	// bridge carries): frames may leave by the port they came in.
	Hairpin bool
	// From the link's IPv6 configuration (IFLA_AF_SPEC), when it has one.
	AcceptRA    bool
	DisableIPv6 bool
	// LinkNSID is IFLA_LINK_NETNSID: the id, in the dumping socket's
	// namespace, of the namespace Peer lives in; -1 when it is the link's
	// own.
	LinkNSID int
}

// raw is a payload already in wire format.
type raw []byte

func (r raw) Len() int          { return len(r) }
func (r raw) Serialize() []byte { return r }

// Links dumps every link of the socket's namespace, without statistics.
func (c *Conn) Links() ([]Link, error) {
	req := Request{Type: unix.RTM_GETLINK, Data: []nl.NetlinkRequestData{
		nl.NewIfInfomsg(unix.AF_UNSPEC),
		nl.NewRtAttr(unix.IFLA_EXT_MASK, nl.Uint32Attr(rtextFilterSkipStats)),
	}}
	return dumpAll(c, req, unix.RTM_NEWLINK, decodeLink)
}

func decodeLink(m []byte, out []Link) ([]Link, error) {
	l, err := ParseLink(m)
	if err != nil {
		return out, err
	}
	return append(out, l), nil
}

// ParseLink decodes the payload of an RTM_NEWLINK or RTM_DELLINK message.
func ParseLink(m []byte) (Link, error) {
	if len(m) < unix.SizeofIfInfomsg {
		return Link{}, errors.New("short link message")
	}
	l := Link{
		Index:    int(int32(binary.NativeEndian.Uint32(m[4:]))),
		Up:       binary.NativeEndian.Uint32(m[8:])&unix.IFF_UP != 0,
		LinkNSID: -1,
	}
	var kindErr, afErr error
	err := Attrs(m[unix.SizeofIfInfomsg:], func(typ uint16, v []byte) {
		switch typ {
		case unix.IFLA_IFNAME:
			l.Name = CString(v)
		case unix.IFLA_IFALIAS:
			l.Alias = CString(v)
		case unix.IFLA_ADDRESS:
			if slices.ContainsFunc(v, func(b byte) bool { return b != 0 }) { // lo has 00:00:...
				l.MAC = net.HardwareAddr(slices.Clone(v))
			}
		case unix.IFLA_MTU:
			l.MTU = int(U32(v))
		case unix.IFLA_LINK:
			l.Peer = int(U32(v))
		case unix.IFLA_MASTER:
			l.Master = int(U32(v))
		case unix.IFLA_GROUP:
			l.Group = U32(v)
		case unix.IFLA_LINK_NETNSID:
			l.LinkNSID = int(int32(U32(v)))
		case unix.IFLA_LINKINFO:
			kindErr = parseLinkInfo(v, &l)
		case unix.IFLA_AF_SPEC:
			afErr = parseAFSpec(v, &l)
		case unix.IFLA_PROTINFO:
			// In a bridge's own message about a port (AF_BRIDGE), as
			// `bridge link set ... hairpin` announces, the same mode;
			// IPv6's messages (AF_INET6) carry other things under it.
			if m[0] == unix.AF_BRIDGE {
				afErr = parsePortFlags(v, &l)
			}
		}
	})
	return l, errors.Join(err, kindErr, afErr)
}

// parsePortFlags reads a bridge port's hairpin mode from IFLA_PROTINFO or
// IFLA_INFO_SLAVE_DATA, which carry the same IFLA_BRPORT_* attributes.
func parsePortFlags(v []byte, l *Link) error {
	return Attrs(v, func(typ uint16, v []byte) {
		if typ == unix.IFLA_BRPORT_MODE && len(v) > 0 {
			l.Hairpin = v[0] != 0
		}
	})
}

// parseLinkInfo reads IFLA_LINKINFO: the link's kind and, for a port of a
// bridge, its hairpin mode.
func parseLinkInfo(v []byte, l *Link) error {
	var slaveKind string
	var slaveData []byte
	err := Attrs(v, func(typ uint16, v []byte) {
		switch typ {
		case unix.IFLA_INFO_KIND:
			l.Kind = kind(v)
		case unix.IFLA_INFO_SLAVE_KIND:
			slaveKind = kind(v)
		case unix.IFLA_INFO_SLAVE_DATA:
			slaveData = v
		}
	})
	if err != nil || slaveKind != "bridge" {
		return err
	}
	return parsePortFlags(slaveData, l)
}

// kind returns an IFLA_INFO_KIND or _SLAVE_KIND string, without allocating
// for the kinds a host has thousands of.
func kind(v []byte) string {
	if i := bytes.IndexByte(v, 0); i >= 0 {
		v = v[:i]
	}
	switch string(v) { // no allocation: a comparison
	case "veth":
		return "veth"
	case "bridge":
		return "bridge"
	case "vxlan":
		return "vxlan"
	}
	return CString(v)
}

// Indices of the IPv6 settings in IFLA_INET6_CONF (DEVCONF_*,
// linux/ipv6.h): an array of s32 in that order.
const (
	devconfAcceptRA    = 3
	devconfDisableIPv6 = 26
)

// parseAFSpec reads the link's IPv6 settings from IFLA_AF_SPEC: what
// dual-stack endpoints need checked, with no sysctl read per interface.
func parseAFSpec(v []byte, l *Link) error {
	return Attrs(v, func(typ uint16, v []byte) {
		if typ != unix.AF_INET6 {
			return
		}
		_ = Attrs(v, func(typ uint16, v []byte) {
			if typ != unix.IFLA_INET6_CONF {
				return
			}
			conf := func(i int) int32 {
				if len(v) < 4*(i+1) {
					return 0
				}
				return int32(binary.NativeEndian.Uint32(v[4*i:]))
			}
			l.AcceptRA = conf(devconfAcceptRA) != 0
			l.DisableIPv6 = conf(devconfDisableIPv6) != 0
		})
	})
}

// LinksOfKind dumps the links of one kind ("bridge"), which the kernel
// filters before filling any message (Linux 4.20, with strict checking;
// an older kernel answers with every link, which the caller must filter).
func (c *Conn) LinksOfKind(kind string) ([]Link, error) {
	info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated(kind))
	req := Request{Type: unix.RTM_GETLINK, Data: []nl.NetlinkRequestData{
		nl.NewIfInfomsg(unix.AF_UNSPEC),
		nl.NewRtAttr(unix.IFLA_EXT_MASK, nl.Uint32Attr(rtextFilterSkipStats)),
		info,
	}}
	return dumpAll(c, req, unix.RTM_NEWLINK, decodeLink)
}

// PortsOf dumps the links enslaved to the link master (a bridge's ports),
// which the kernel filters before filling any message, as LinksOfKind: a
// veth's message costs it a walk over every namespace id, so at thousands
// of containers a dump of every link costs seconds where one bridge's
// ports cost a share of it. An older kernel answers with every link, which
// the caller must filter.
func (c *Conn) PortsOf(master int) ([]Link, error) {
	req := Request{Type: unix.RTM_GETLINK, Data: []nl.NetlinkRequestData{
		nl.NewIfInfomsg(unix.AF_UNSPEC),
		nl.NewRtAttr(unix.IFLA_EXT_MASK, nl.Uint32Attr(rtextFilterSkipStats)),
		nl.NewRtAttr(unix.IFLA_MASTER, nl.Uint32Attr(uint32(master))),
	}}
	return dumpAll(c, req, unix.RTM_NEWLINK, decodeLink)
}

// LinkByIndex reads one link by ifindex (ErrNoLink when there is none).
func (c *Conn) LinkByIndex(index int) (Link, error) {
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(index)
	return c.getLink(msg)
}

// LinkIn reads the link index of the namespace the socket's own knows by
// nsid (IFLA_TARGET_NETNSID, Linux 4.20): no thread enters that namespace.
func (c *Conn) LinkIn(nsid int32, index int) (Link, error) {
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(index)
	return c.getLink(msg, nl.NewRtAttr(unix.IFLA_TARGET_NETNSID, nl.Uint32Attr(uint32(nsid))))
}
