package nlraw

import (
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// Veth describes a veth pair to create in one request: the host end
// enslaved to Master and up, in link group Group; the peer created
// directly in the namespace PeerNs (a file descriptor), with its MAC.
type Veth struct {
	Name     string
	MTU      int
	Master   int
	Group    uint32
	PeerName string
	PeerMAC  []byte
	PeerNs   int
}

// CreateVeth creates the pair (NLM_F_EXCL: an existing name is EEXIST).
// The kernel ignores IFLA_IFALIAS on creation, which is why a creation
// group exists at all: it marks the new link until an alias can be set.
func (c *Conn) CreateVeth(v Veth) error {
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Flags, msg.Change = unix.IFF_UP, unix.IFF_UP
	data := []nl.NetlinkRequestData{msg, nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(v.Name))}
	if v.MTU > 0 {
		data = append(data, nl.NewRtAttr(unix.IFLA_MTU, nl.Uint32Attr(uint32(v.MTU))))
	}
	data = append(data,
		nl.NewRtAttr(unix.IFLA_MASTER, nl.Uint32Attr(uint32(v.Master))),
		nl.NewRtAttr(unix.IFLA_GROUP, nl.Uint32Attr(v.Group)))
	info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated("veth"))
	peer := info.AddRtAttr(nl.IFLA_INFO_DATA, nil).AddRtAttr(nl.VETH_INFO_PEER, nil)
	// The peer cannot be created up: the kernel opens it before the two
	// ends are linked, and veth_open refuses that (ENOTCONN).
	nl.NewIfInfomsgChild(peer, unix.AF_UNSPEC)
	peer.AddRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(v.PeerName))
	peer.AddRtAttr(unix.IFLA_ADDRESS, v.PeerMAC)
	if v.MTU > 0 {
		peer.AddRtAttr(unix.IFLA_MTU, nl.Uint32Attr(uint32(v.MTU)))
	}
	peer.AddRtAttr(unix.IFLA_NET_NS_FD, nl.Uint32Attr(uint32(v.PeerNs)))
	data = append(data, info)
	return c.Do(Request{Type: unix.RTM_NEWLINK, Flags: unix.NLM_F_CREATE | unix.NLM_F_EXCL, Data: data})
}

// SetAlias sets the alias of the link called name.
func (c *Conn) SetAlias(name, alias string) error {
	return c.Do(Request{Type: unix.RTM_SETLINK, Data: setAliasData(name, alias)})
}

func setAliasData(name, alias string) []nl.NetlinkRequestData {
	return []nl.NetlinkRequestData{
		nl.NewIfInfomsg(unix.AF_UNSPEC),
		nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(name)),
		nl.NewRtAttr(unix.IFLA_IFALIAS, []byte(alias)),
	}
}

// SetGroup moves the link with ifindex index into link group group.
func (c *Conn) SetGroup(index int, group uint32) error {
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(index)
	return c.Do(Request{Type: unix.RTM_SETLINK, Data: []nl.NetlinkRequestData{
		msg, nl.NewRtAttr(unix.IFLA_GROUP, nl.Uint32Attr(group)),
	}})
}

// DeleteLink deletes the link with ifindex index.
func (c *Conn) DeleteLink(index int) error {
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(index)
	return c.Do(Request{Type: unix.RTM_DELLINK, Data: []nl.NetlinkRequestData{msg}})
}

// DeleteGroup deletes every link of link group group, in one request and
// one batched unregistration in the kernel.
func (c *Conn) DeleteGroup(group uint32) error {
	return c.Do(Request{Type: unix.RTM_DELLINK, Data: []nl.NetlinkRequestData{
		nl.NewIfInfomsg(unix.AF_UNSPEC), nl.NewRtAttr(unix.IFLA_GROUP, nl.Uint32Attr(group)),
	}})
}
