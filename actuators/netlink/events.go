package netlink

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/internal/nlraw"
	"github.com/netctl/netctl/model"
)

// eventBufSize is the subscription socket's kernel receive buffer. A cold
// apply of a thousand containers announces tens of thousands of changes in
// a few seconds; a bigger buffer makes an overflow (ENOBUFS, handled as
// "something changed" anyway) rarer.
const eventBufSize = 4 << 20

// eventGroups are the multicast groups subscribers join: links, and the
// addresses and routes of both families.
const eventGroups = uint32(1<<(unix.RTNLGRP_LINK-1) | 1<<(unix.RTNLGRP_IPV4_IFADDR-1) | 1<<(unix.RTNLGRP_IPV4_ROUTE-1) |
	1<<(unix.RTNLGRP_IPV6_IFADDR-1) | 1<<(unix.RTNLGRP_IPV6_ROUTE-1))

// Subscribe reports changes to netctl's objects as the kernel announces
// them, each as the set of containers it concerns (model.Scope): in the
// host namespace, a link carrying this instance's ownership mark created,
// changed or deleted (a bridge, the host end of a veth), a link enslaved
// to one of them, an IPv4 address or route or a global IPv6 address added
// to or removed from one of them, or netctl's own link-local address (an
// overlay bridge's fe80::<node>); in a container's namespace (announced to
// the host's socket through the namespace id the kernel gives it when a
// veth links it to the host), a link, a default route of either family
// or an address other than the kernel's own IPv6 link-local ones changed.
// A change to a network and no container (a bridge, its address) comes as
// an empty scope; a nil scope
// means "anything may have changed": the socket overflowed and
// announcements were lost.
//
// The socket is opened in the host namespace given to New, whichever
// namespace the calling thread is in. The channel is closed when ctx is
// done or the socket fails; an overflow is reported as a nil scope, never
// as an end.
func (l *Links) Subscribe(ctx context.Context) (<-chan model.Scope, error) {
	fd, err := l.eventSocket()
	if err != nil {
		return nil, fmt.Errorf("subscribe to netlink events: %w", err)
	}
	f := os.NewFile(uintptr(fd), "netlink-events")
	s := &subscription{links: l, file: f, owned: map[int32]owned{}, nsids: map[int32]string{},
		out: make(chan model.Scope, 64)}
	// Seed the owned set after subscribing, so that no link created in
	// between goes unnoticed.
	if err := s.seed(); err != nil {
		f.Close()
		return nil, fmt.Errorf("subscribe to netlink events: %w", err)
	}
	var once sync.Once
	stop := func() { once.Do(func() { f.Close() }) }
	go func() {
		<-ctx.Done()
		stop()
	}()
	go func() {
		defer close(s.out)
		defer stop()
		s.run(ctx)
	}()
	return s.out, nil
}

// eventSocket opens a non-blocking NETLINK_ROUTE socket in the host
// namespace, bound to the link, address and route groups of both
// families, that also hears the namespaces the host has an id for when
// the kernel lets it: only a holder of CAP_NET_BROADCAST may, and a watch
// confined without it still hears the host (drift inside a container
// waits for its resync).
func (l *Links) eventSocket() (int, error) {
	// The host namespace handle given to New is not kept; the dump socket
	// opened from it is, and gives back its namespace.
	nsfd, err := l.hostDump.Namespace()
	if err != nil {
		return -1, err
	}
	host := netns.NsHandle(nsfd)
	defer host.Close()
	fd, err := nlraw.ListenAt(host, eventGroups, eventBufSize)
	if err != nil {
		return -1, err
	}
	if err := listenAllNSID(fd); err != nil {
		if !errors.Is(err, unix.EPERM) {
			unix.Close(fd)
			return -1, err
		}
		l.log.Warn().Msg("netlink events: without CAP_NET_BROADCAST only the host's announcements are heard: drift inside a container is found at the next resync")
	}
	return fd, nil
}

// eventSocketIn is eventSocket for the journal, which is nothing without
// the containers' namespaces.
func eventSocketIn(host netns.NsHandle) (int, error) {
	fd, err := nlraw.ListenAt(host, eventGroups, eventBufSize)
	if err != nil {
		return -1, err
	}
	if err := listenAllNSID(fd); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// listenAllNSID makes the socket hear the namespaces the host has an id
// for (EPERM without CAP_NET_BROADCAST).
func listenAllNSID(fd int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_LISTEN_ALL_NSID, 1); err != nil {
		return fmt.Errorf("listen to every namespace: %w", err)
	}
	return nil
}

// owned is what a host link of netctl's is: a container's end (Container
// set) or a bridge.
type owned struct {
	container string
	hairpin   bool // a host end's hairpin mode, as last announced
}

// subscription filters the announcements down to netctl's objects.
type subscription struct {
	links *Links
	file  *os.File
	// owned are the host's links that carry a netctl mark (or netctl's
	// creation group), by ifindex: addresses and routes matter only on
	// them, and a link matters when it is one or is enslaved to one.
	owned map[int32]owned
	// nsids are the containers' namespaces by the id the host knows them
	// by, learnt from the host ends (their IFLA_LINK_NETNSID) and from
	// marked links announced in the namespaces themselves. Announcements
	// from a namespace not in it are someone else's.
	nsids map[int32]string
	// learnt, when not nil, collects the containers whose namespace id
	// was learnt or changed: announcements from that namespace before
	// then were not heard as theirs (the Journal counts the learning as a
	// change of the container).
	learnt []string
	out    chan model.Scope
}

// learn records that the namespace nsid is the container id's.
func (s *subscription) learn(nsid int32, id string) {
	if prev, ok := s.nsids[nsid]; ok && prev == id {
		return
	}
	s.nsids[nsid] = id
	if s.learnt != nil {
		s.learnt = append(s.learnt, id)
	}
}

// seed fills the owned set and the namespace ids from a dump of the
// host's links.
func (s *subscription) seed() error {
	links, err := s.links.hostLinks()
	if err != nil {
		return err
	}
	clear(s.owned)
	for _, k := range links {
		if o, ok := s.links.owner(k.Alias); ok {
			s.own(k, o)
		}
	}
	return nil
}

// own records a marked host link.
func (s *subscription) own(k nlraw.Link, o model.Owner) {
	id := s.ownerID(o)
	if id != "" && k.LinkNSID >= 0 {
		s.learn(int32(k.LinkNSID), id)
	}
	s.owned[int32(k.Index)] = owned{container: id, hairpin: k.Hairpin}
}

func (s *subscription) run(ctx context.Context) {
	raw, err := s.file.SyscallConn()
	if err != nil {
		s.links.log.Error().Err(err).Msg("netlink events: socket")
		return
	}
	buf := make([]byte, 64<<10)
	oob := make([]byte, unix.CmsgSpace(4))
	for {
		var n, oobn int
		var rerr error
		err := raw.Read(func(fd uintptr) bool {
			n, oobn, _, _, rerr = unix.Recvmsg(int(fd), buf, oob, 0)
			return rerr != unix.EAGAIN
		})
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = rerr
		}
		var scope model.Scope
		switch {
		case errors.Is(err, unix.ENOBUFS):
			// The kernel dropped announcements: assume the worst, and
			// relearn which links are ours.
			s.links.log.Debug().Msg("netlink events: socket overflowed; treating as a change to anything")
			if err := s.seed(); err != nil {
				s.links.log.Warn().Err(err).Msg("netlink events: relearning owned links")
			}
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			s.links.log.Error().Err(err).Msg("netlink events: receive failed; no more events")
			return
		default:
			var hit bool
			if scope, hit = s.relevant(buf[:n], nsidOf(oob[:oobn])); !hit {
				continue
			}
		}
		select {
		case s.out <- scope:
		case <-ctx.Done():
			return
		}
	}
}

// nsidOf reads the namespace id a datagram came from (NETLINK_LISTEN_ALL_NSID
// ancillary data); -1 for the socket's own namespace.
func nsidOf(oob []byte) int32 {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return -1
	}
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_NETLINK && m.Header.Type == unix.NETLINK_LISTEN_ALL_NSID && len(m.Data) >= 4 {
			return int32(binary.NativeEndian.Uint32(m.Data))
		}
	}
	return -1
}

// relevant walks one datagram of announcements from the namespace nsid
// (-1: the host), keeps the owned set and the namespace ids up to date,
// and reports the containers concerned and whether any of netctl's
// objects are. A malformed datagram concerns anything (nil scope).
func (s *subscription) relevant(b []byte, nsid int32) (model.Scope, bool) {
	scope := model.Scope{}
	hit := false
	touch := func(container string) {
		hit = true
		if container != "" {
			scope[container] = true
		}
	}
	err := nlraw.Messages(b, func(h nlraw.Header, m []byte) error {
		if nsid >= 0 {
			s.containerEvent(h.Type, m, nsid, touch)
			return nil
		}
		switch h.Type {
		case unix.RTM_NEWLINK, unix.RTM_DELLINK:
			s.linkEvent(h.Type, m, touch)
		case unix.RTM_NEWADDR, unix.RTM_DELADDR:
			if len(m) >= unix.SizeofIfAddrmsg && !kernelAddr(m) {
				if o, ok := s.owned[int32(binary.NativeEndian.Uint32(m[4:8]))]; ok {
					touch(o.container)
				}
			}
		case unix.RTM_NEWROUTE, unix.RTM_DELROUTE:
			if r, ok, _ := nlraw.ParseRoute(m); ok && r.Dst.Addr().Is4() && r.OIF != 0 {
				if o, ok := s.owned[int32(r.OIF)]; ok {
					touch(o.container)
				}
			}
		case unix.NLMSG_ERROR, unix.NLMSG_OVERRUN:
			hit = true
		}
		return nil
	})
	if err != nil {
		return nil, true // malformed: be safe
	}
	return scope, hit
}

func (s *subscription) linkEvent(typ uint16, m []byte, touch func(string)) {
	if len(m) > 0 && m[0] == unix.AF_BRIDGE {
		s.portEvent(typ, m, touch)
		return
	}
	k, err := nlraw.ParseLink(m)
	if err != nil {
		touch("")
		return
	}
	idx := int32(k.Index)
	o, marked := s.links.owner(k.Alias)
	creating := !marked && k.Alias == "" && k.Group == creationGroup
	was, had := s.owned[idx]
	master, onOurs := s.owned[int32(k.Master)]
	switch {
	case typ == unix.RTM_DELLINK:
		delete(s.owned, idx)
	case marked:
		s.own(k, o)
	case creating:
		s.owned[idx] = owned{} // ours, before its mark names its container
	default:
		// A mark removed by hand: the link is no longer ours to watch,
		// but this change is.
		delete(s.owned, idx)
	}
	if marked {
		touch(s.ownerID(o))
	}
	if creating {
		touch("")
	}
	if had {
		touch(was.container)
	}
	if onOurs {
		touch(master.container) // a port on one of our bridges: the network
	}
}

// portEvent handles a bridge's own notification about one of its ports.
// Most are about the port's STP state (every port leaves the listening
// state some seconds after it was added) and carry no alias; enslaving
// and releasing a port come as ordinary link messages. What netctl
// manages there is an endpoint's hairpin mode, which `bridge link set`
// announces only this way: a change of it concerns the container.
func (s *subscription) portEvent(typ uint16, m []byte, touch func(string)) {
	if typ != unix.RTM_NEWLINK {
		return
	}
	k, err := nlraw.ParseLink(m)
	if err != nil {
		return
	}
	o, ok := s.owned[int32(k.Index)]
	if !ok || o.container == "" || o.hairpin == k.Hairpin {
		return
	}
	o.hairpin = k.Hairpin
	s.owned[int32(k.Index)] = o
	touch(o.container)
}

// ownerID is the container a mark names ("" for a network's).
func (s *subscription) ownerID(o model.Owner) string {
	if o.Container == "" {
		return ""
	}
	return model.ContainerID(o.Project, o.Container)
}

// containerEvent handles an announcement from the namespace nsid: a
// change in a container's namespace concerns that container. A marked link
// names the container, so that a namespace netctl has just wired is known
// from its first announcements on.
func (s *subscription) containerEvent(typ uint16, m []byte, nsid int32, touch func(string)) {
	if typ == unix.RTM_NEWLINK || typ == unix.RTM_DELLINK {
		if len(m) > 0 && m[0] == unix.AF_BRIDGE {
			return
		}
		if k, err := nlraw.ParseLink(m); err == nil {
			if o, ok := s.links.owner(k.Alias); ok && o.Container != "" {
				s.learn(nsid, s.ownerID(o))
			}
		}
	}
	switch typ {
	case unix.RTM_NEWADDR, unix.RTM_DELADDR:
		if kernelAddr(m) {
			return
		}
	case unix.RTM_NEWROUTE, unix.RTM_DELROUTE:
		// Of a container's routes only the main table's defaults are
		// observed (defaultGateway); the kernel's own (a subnet's,
		// fe80::/64, multicast) come and go with the links and addresses,
		// which announce themselves. A route that does not parse counts.
		if r, ok, err := nlraw.ParseRoute(m); err == nil && (!ok || r.Table != unix.RT_TABLE_MAIN || r.Dst.Bits() != 0) {
			return
		}
	case unix.RTM_NEWLINK, unix.RTM_DELLINK:
	default:
		return
	}
	if id, ok := s.nsids[nsid]; ok {
		touch(id)
	}
}

// kernelAddr reports whether an address message is about an IPv6
// link-local address of the kernel's own, which changes state by itself
// (its duplicate address detection ends a second or two after a veth
// comes up). The kernel adds those with DAD; the one netctl keeps, an
// overlay bridge's fe80::<node>, is nodad, and a change to it is drift.
func kernelAddr(m []byte) bool {
	a, ok, err := nlraw.ParseAddr(m)
	return ok && err == nil && a.Prefix.Addr().IsLinkLocalUnicast() && a.Flags&unix.IFA_F_NODAD == 0
}
