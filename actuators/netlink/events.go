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
)

// eventBufSize is the subscription socket's kernel receive buffer. A cold
// apply of a thousand containers announces tens of thousands of changes in
// a few seconds; a bigger buffer makes an overflow (ENOBUFS, handled as
// "something changed" anyway) rarer.
const eventBufSize = 4 << 20

// Subscribe reports changes to netctl's objects in the host namespace: a
// link carrying an ownership mark created, changed or deleted (a bridge, the
// host end of a veth), a link enslaved to one of them, an IPv4 address or
// route added to or removed from one of them, a global IPv6 address likewise. Each change, and every burst
// of changes, sends one value on the returned channel (it holds at most one:
// the receiver learns that something changed, not what; a reconcile finds
// out). Changes inside container namespaces are not reported: they need a
// periodic resync.
//
// The socket is opened in the host namespace given to New, whichever
// namespace the calling thread is in. The channel is closed when ctx is
// done or the socket fails; an overflow of the socket is reported as a
// change, never as an end.
func (l *Links) Subscribe(ctx context.Context) (<-chan struct{}, error) {
	fd, err := l.eventSocket()
	if err != nil {
		return nil, fmt.Errorf("subscribe to host netlink events: %w", err)
	}
	f := os.NewFile(uintptr(fd), "netlink-events")
	s := &subscription{links: l, file: f, owned: map[int32]bool{}, out: make(chan struct{}, 1)}
	// Seed the owned set after subscribing, so that no link created in
	// between goes unnoticed.
	if err := s.seed(); err != nil {
		f.Close()
		return nil, fmt.Errorf("subscribe to host netlink events: %w", err)
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
// namespace, bound to the link, IPv4 and IPv6 address and IPv4 route
// groups.
func (l *Links) eventSocket() (int, error) {
	// The host namespace handle given to New is not kept; the dump socket
	// opened from it is, and gives back its namespace.
	nsfd, err := l.hostDump.Namespace()
	if err != nil {
		return -1, err
	}
	host := netns.NsHandle(nsfd)
	defer host.Close()
	groups := uint32(1<<(unix.RTNLGRP_LINK-1) | 1<<(unix.RTNLGRP_IPV4_IFADDR-1) | 1<<(unix.RTNLGRP_IPV4_ROUTE-1) |
		1<<(unix.RTNLGRP_IPV6_IFADDR-1))
	return nlraw.ListenAt(host, groups, eventBufSize)
}

// subscription filters the host's announcements down to netctl's objects.
type subscription struct {
	links *Links
	file  *os.File
	// owned are the ifindexes of the host's links that carry a netctl mark
	// (or netctl's creation group): addresses and routes matter only on
	// them, and a link matters when it is one or is enslaved to one.
	owned map[int32]bool
	out   chan struct{}
}

func (s *subscription) signal() {
	select {
	case s.out <- struct{}{}:
	default:
	}
}

// seed fills the owned set from a dump of the host's links.
func (s *subscription) seed() error {
	links, err := s.links.hostLinks()
	if err != nil {
		return err
	}
	clear(s.owned)
	for _, k := range links {
		if _, ok := s.links.owner(k.Alias); ok {
			s.owned[int32(k.Index)] = true
		}
	}
	return nil
}

func (s *subscription) run(ctx context.Context) {
	raw, err := s.file.SyscallConn()
	if err != nil {
		s.links.log.Error().Err(err).Msg("netlink events: socket")
		return
	}
	buf := make([]byte, 64<<10)
	for {
		var n int
		var rerr error
		err := raw.Read(func(fd uintptr) bool {
			n, _, rerr = unix.Recvfrom(int(fd), buf, 0)
			return rerr != unix.EAGAIN
		})
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = rerr
		}
		switch {
		case errors.Is(err, unix.ENOBUFS):
			// The kernel dropped announcements: assume the worst, and
			// relearn which links are ours.
			s.links.log.Debug().Msg("netlink events: socket overflowed; treating as a change")
			if err := s.seed(); err != nil {
				s.links.log.Warn().Err(err).Msg("netlink events: relearning owned links")
			}
			s.signal()
			continue
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			s.links.log.Error().Err(err).Msg("netlink events: receive failed; no more host events")
			return
		}
		if s.relevant(buf[:n]) {
			s.signal()
		}
	}
}

// relevant walks one datagram of announcements, keeps the owned set up to
// date, and reports whether any concerns netctl's objects.
func (s *subscription) relevant(b []byte) bool {
	hit := false
	err := nlraw.Messages(b, func(h nlraw.Header, m []byte) error {
		switch h.Type {
		case unix.RTM_NEWLINK, unix.RTM_DELLINK:
			if s.linkEvent(h.Type, m) {
				hit = true
			}
		case unix.RTM_NEWADDR, unix.RTM_DELADDR:
			if len(m) >= unix.SizeofIfAddrmsg && s.owned[int32(binary.NativeEndian.Uint32(m[4:8]))] && !kernelAddr(m) {
				hit = true
			}
		case unix.RTM_NEWROUTE, unix.RTM_DELROUTE:
			if r, ok, _ := nlraw.ParseRoute(m); ok && r.Dst.Addr().Is4() && r.OIF != 0 && s.owned[int32(r.OIF)] {
				hit = true
			}
		case unix.NLMSG_ERROR, unix.NLMSG_OVERRUN:
			hit = true
		}
		return nil
	})
	return hit || err != nil // malformed: be safe
}

func (s *subscription) linkEvent(typ uint16, m []byte) bool {
	if len(m) > 0 && m[0] == unix.AF_BRIDGE {
		// The bridge's own notifications about its ports (STP state,
		// port flags: a port leaving the listening state some seconds
		// after it was added, on every port). They carry no alias, and
		// nothing netctl manages: enslaving and releasing a port come as
		// ordinary link messages.
		return false
	}
	k, err := nlraw.ParseLink(m)
	if err != nil {
		return true
	}
	idx := int32(k.Index)
	_, marked := s.links.owner(k.Alias)
	if !marked && k.Alias == "" {
		marked = k.Group == creationGroup
	}
	hit := marked || s.owned[idx] || s.owned[int32(k.Master)]
	switch {
	case typ == unix.RTM_DELLINK:
		delete(s.owned, idx)
	case marked:
		s.owned[idx] = true
	default:
		// A mark removed by hand: the link is no longer ours to watch,
		// but this change is.
		delete(s.owned, idx)
	}
	return hit
}

// kernelAddr reports whether an address message is about an IPv6
// link-local address: the kernel's own, which changes state by itself (its
// duplicate address detection ends a second or two after a veth comes up).
func kernelAddr(m []byte) bool {
	a, ok, err := nlraw.ParseAddr(m)
	return ok && err == nil && a.Prefix.Addr().IsLinkLocalUnicast()
}
