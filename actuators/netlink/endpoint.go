package netlink

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/rs/zerolog"
	vnl "github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/internal/nlraw"
	"github.com/netctl/netctl/model"
)

// EnsureEndpoint creates c's veth pair on n, its peer created directly in
// the container's namespace, or repairs it: both ends marked, host end
// enslaved to n's bridge, up, in hairpin mode when ep.Hairpin, container
// end named ep.IfName with ep.MAC, the MTU and exactly ep.Addr, up.
func (l *Links) EnsureEndpoint(ctx context.Context, c *model.Container, n *model.Network, ep *model.Endpoint) error {
	if err := l.ensureEndpoint(ctx, c, n, ep); err != nil {
		return fmt.Errorf("endpoint %s %s: %w", c.ID(), ep.IfName, err)
	}
	return nil
}

// pairSpec is what one endpoint should look like in the kernel.
type pairSpec struct {
	mark   string
	hostIf string
	ifName string
	mac    []byte
	mtu    int
	// noLinkLocal: the network is IPv4-only, so neither end needs an
	// IPv6 link-local address (see noIPv6LinkLocal).
	noLinkLocal bool
	// hairpin is the host end's bridge port mode (model.Endpoint.Hairpin).
	hairpin bool
	log     zerolog.Logger
}

// noIPv6LinkLocal reports whether n's links should come up without an
// IPv6 link-local address. The kernel configures one, with duplicate
// address detection (work under the rtnl lock), routes and multicast
// reports, on every interface that gets a carrier; an IPv4-only network
// has no use for it, and at thousands of containers it is a good part of
// the kernel's cost per container (docs/benchmarks.md). A dual-stack
// network keeps the kernel's default.
func noIPv6LinkLocal(n *model.Network) bool { return !n.EnableIPv6 }

func (l *Links) ensureEndpoint(ctx context.Context, c *model.Container, n *model.Network, ep *model.Endpoint) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkIfName(ep.HostIf); err != nil {
		return err
	}
	if err := checkIfName(ep.IfName); err != nil {
		return err
	}
	if !ep.Addr.Addr().Is4() {
		return fmt.Errorf("address %s is not IPv4", ep.Addr)
	}
	if ep.AddrV6.IsValid() && !ep.AddrV6.Addr().Is6() {
		return fmt.Errorf("address %s is not IPv6", ep.AddrV6)
	}
	if len(ep.MAC) != 6 {
		return fmt.Errorf("invalid MAC %q", ep.MAC)
	}
	spec := pairSpec{
		mark:        l.endpointMark(c, n.Name),
		hostIf:      ep.HostIf,
		ifName:      ep.IfName,
		mac:         ep.MAC,
		mtu:         cmp.Or(ep.MTU, n.MTU),
		noLinkLocal: noIPv6LinkLocal(n),
		hairpin:     ep.Hairpin,
	}
	spec.log = l.log.With().Str("container", c.ID()).Str("network", n.ID()).
		Str("veth", ep.HostIf).Str("ifname", ep.IfName).Logger()

	brIndex, err := l.bridgeIndex(n)
	if err != nil {
		return err
	}
	e, release, err := l.nsEntry(c.Netns, c.External)
	if err != nil {
		return fmt.Errorf("namespace %s: %w", c.Netns, err)
	}
	defer release()

	if created, err := l.createFresh(e, brIndex, n.Bridge, spec, ep.Addr, ep.AddrV6); created || err != nil {
		return err
	}
	ch, err := e.handle()
	if err != nil {
		return fmt.Errorf("namespace %s: %w", c.Netns, err)
	}
	br, err := linkByName(l.host, n.Bridge)
	if err == nil && (br == nil || br.Attrs().Index != brIndex) {
		err = fmt.Errorf("bridge %s: changed meanwhile", n.Bridge)
	}
	if err != nil {
		return err
	}
	host, peer, err := l.ensurePair(ctx, ch, e.ns, spec)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := l.fixHostEnd(host, br, spec); err != nil {
		return fmt.Errorf("host side %s: %w", ep.HostIf, err)
	}
	return fixPeer(ch, e, peer, ep.Addr, ep.AddrV6, spec)
}

// createFresh creates the endpoint in the common case where neither end
// exists yet (a new container), in four round trips where the repairing
// path needs a dozen: one request makes the pair, the host end enslaved
// and up; one marks the host end (and turns its hairpin mode on when
// wanted: a new port's is off); one finds the peer's ifindex in the
// container (a lookup there is cheap; on the host, filling a veth's
// message costs the kernel a walk over every namespace id); and one
// datagram marks the peer, gives it its address and brings it up (a
// dual-stack endpoint's IPv6 settings and address go in between). Each
// end gets its IPv6 mode before the peer comes up, which is when the pair
// gets a carrier and the kernel would configure link-local addresses. It
// reports false, having changed nothing, when a name is taken; the caller
// then takes the repairing path, which checks ownership before touching
// anything.
func (l *Links) createFresh(e *nsEntry, brIndex int, brName string, spec pairSpec, addr, addr6 netip.Prefix) (bool, error) {
	err := l.hostReq.CreateVeth(nlraw.Veth{
		Name:     spec.hostIf,
		MTU:      spec.mtu,
		Master:   brIndex,
		Group:    creationGroup,
		PeerName: spec.ifName,
		PeerMAC:  spec.mac,
		PeerNs:   int(e.ns),
	})
	if errors.Is(err, unix.EEXIST) {
		return false, nil
	}
	if err != nil {
		return true, fmt.Errorf("create veth %s: %w", spec.hostIf, err)
	}
	spec.log.Debug().Str("bridge", brName).Msg("created veth pair, enslaved and up")
	// Only now, the pair being ours: a change sent with the creation would
	// be carried out even if the creation failed, on whatever link holds
	// the name.
	mark := nlraw.LinkChange{Name: spec.hostIf, Alias: spec.mark, NoIPv6LinkLocal: spec.noLinkLocal}
	if spec.hairpin {
		mark.Hairpin = nlraw.HairpinOn
	}
	if err := l.hostReq.Do(mark.Request()); err != nil {
		return true, fmt.Errorf("host side %s: set mark: %w", spec.hostIf, err)
	}
	peer, err := e.conn.LinkByName(spec.ifName)
	if errors.Is(err, nlraw.ErrNoLink) {
		err = errors.New("vanished after creation")
	}
	if err != nil {
		return true, fmt.Errorf("%s: %w", spec.ifName, err)
	}
	// Independent of each other but for order, on a link this call just
	// made: one datagram.
	reqs := []nlraw.Request{
		nlraw.LinkChange{Index: peer.Index, Alias: spec.mark, NoIPv6LinkLocal: spec.noLinkLocal}.Request(),
		nlraw.AddAddr(peer.Index, addr),
	}
	up := nlraw.LinkChange{Index: peer.Index, Up: true}.Request()
	if !addr6.IsValid() {
		reqs = append(reqs, up)
	}
	if err := e.conn.Do(reqs...); err != nil {
		return true, fmt.Errorf("%s: mark, add %s, set up: %w", spec.ifName, addr, err)
	}
	if addr6.IsValid() {
		// Before the link comes up, so that no advertisement gets in.
		if err := ignoreRA(e.ns, spec.ifName); err != nil {
			return true, fmt.Errorf("%s: %w", spec.ifName, err)
		}
		ch, err := e.handle()
		if err != nil {
			return true, err
		}
		link := &vnl.Device{LinkAttrs: vnl.LinkAttrs{Index: peer.Index, Name: spec.ifName}}
		if err := addAddr6(ch, e.ns, link, spec.ifName, nodadAddr(addr6)); err != nil {
			return true, fmt.Errorf("%s: add %s: %w", spec.ifName, addr6, err)
		}
		if err := e.conn.Do(up); err != nil {
			return true, fmt.Errorf("%s: set up: %w", spec.ifName, err)
		}
	}
	spec.log.Debug().Stringer("addr", addr).Msg("marked both sides, added address")
	return true, nil
}

// bridgeIndex returns the ifindex of n's bridge, checked to be netctl's
// bridge for n, looked up once per phase.
func (l *Links) bridgeIndex(n *model.Network) (int, error) {
	l.nsMu.Lock()
	index, ok := l.bridges[n.Bridge]
	l.nsMu.Unlock()
	if ok {
		return index, nil
	}
	br, err := linkByName(l.host, n.Bridge)
	if err != nil {
		return 0, err
	}
	if br == nil || !ownedBy(br, l.bridgeMark(n)) || br.Type() != "bridge" {
		return 0, fmt.Errorf("bridge %s: not found", n.Bridge)
	}
	l.nsMu.Lock()
	defer l.nsMu.Unlock()
	if l.bridges == nil {
		l.bridges = map[string]int{}
	}
	l.bridges[n.Bridge] = br.Attrs().Index
	return br.Attrs().Index, nil
}

// ensurePair returns the two ends of the endpoint's veth pair, creating the
// pair when it does not exist as one: an end without its partner is deleted
// and the pair made anew, which is simpler than reasoning about where the
// partner went.
func (l *Links) ensurePair(ctx context.Context, ch *vnl.Handle, ns netns.NsHandle, spec pairSpec) (host, peer vnl.Link, err error) {
	if host, err = linkByName(l.host, spec.hostIf); err != nil {
		return nil, nil, err
	}
	if host != nil && (!ownedBy(host, spec.mark) || host.Type() != "veth") {
		return nil, nil, fmt.Errorf("host side %s: %w", spec.hostIf, notOwnedError(host))
	}
	if peer, err = linkByName(ch, spec.ifName); err != nil {
		return nil, nil, err
	}
	if host != nil && peer != nil && isPair(host, peer) {
		return host, peer, nil
	}
	// A peer that is not host's partner is ours only if marked: an
	// unmarked one may be the user's (External) or is at least not ours.
	if peer != nil && peer.Attrs().Alias != spec.mark {
		return nil, nil, fmt.Errorf("%s: %w", spec.ifName, notOwnedError(peer))
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if host != nil {
		if err := l.host.LinkDel(host); err != nil && !linkGone(err) {
			return nil, nil, fmt.Errorf("host side %s: delete unpaired: %w", spec.hostIf, err)
		}
		spec.log.Debug().Msg("deleted host side without its peer")
	}
	if peer != nil {
		if err := ch.LinkDel(peer); err != nil && !linkGone(err) {
			return nil, nil, fmt.Errorf("delete unpaired %s: %w", spec.ifName, err)
		}
		spec.log.Debug().Msg("deleted container side without its host side")
	}

	la := vnl.NewLinkAttrs()
	la.Name = spec.hostIf
	la.MTU = spec.mtu
	la.Group = creationGroup // the alias can only be set afterwards
	veth := &vnl.Veth{
		LinkAttrs:        la,
		PeerName:         spec.ifName,
		PeerNamespace:    vnl.NsFd(int(ns)),
		PeerHardwareAddr: spec.mac,
		PeerMTU:          uint32(max(spec.mtu, 0)),
		PeerTxQLen:       -1,
	}
	if err := l.host.LinkAdd(veth); err != nil {
		return nil, nil, fmt.Errorf("create veth %s: %w", spec.hostIf, err)
	}
	spec.log.Debug().Msg("created veth pair")
	if host, err = linkByName(l.host, spec.hostIf); err == nil && host == nil {
		err = fmt.Errorf("host side %s: vanished after creation", spec.hostIf)
	}
	if err != nil {
		return nil, nil, err
	}
	if peer, err = linkByName(ch, spec.ifName); err == nil && peer == nil {
		err = fmt.Errorf("%s: vanished after creation", spec.ifName)
	}
	return host, peer, err
}

// isPair reports whether host and peer are the two ends of one veth. Each
// end's IFLA_LINK is its partner's ifindex; checked both ways, with peer
// found by name in the container's namespace, a coincidence is out.
func isPair(host, peer vnl.Link) bool {
	return host.Type() == "veth" && peer.Type() == "veth" &&
		host.Attrs().ParentIndex == peer.Attrs().Index &&
		peer.Attrs().ParentIndex == host.Attrs().Index
}

// fixHostEnd marks the host end, sets its MTU, enslaves it to br, brings
// it up and sets its hairpin mode. The mark goes first, so that the end
// never sits on the bridge looking like a foreign port.
func (l *Links) fixHostEnd(host, br vnl.Link, spec pairSpec) error {
	a := host.Attrs()
	if a.Alias != spec.mark {
		// With the IPv6 mode, which a pair made by ensurePair needs too.
		change := nlraw.LinkChange{Index: a.Index, Alias: spec.mark, NoIPv6LinkLocal: spec.noLinkLocal}
		if err := l.hostReq.Do(change.Request()); err != nil {
			return fmt.Errorf("set mark: %w", err)
		}
		spec.log.Debug().Msg("marked host side")
	}
	if spec.mtu > 0 && a.MTU != spec.mtu {
		if err := l.host.LinkSetMTU(host, spec.mtu); err != nil {
			return fmt.Errorf("set mtu %d: %w", spec.mtu, err)
		}
		spec.log.Debug().Int("mtu", spec.mtu).Msg("set host side mtu")
	}
	if a.MasterIndex != br.Attrs().Index {
		if err := l.host.LinkSetMasterByIndex(host, br.Attrs().Index); err != nil {
			return fmt.Errorf("attach to bridge %s: %w", br.Attrs().Name, err)
		}
		spec.log.Debug().Str("bridge", br.Attrs().Name).Msg("attached host side to bridge")
	}
	if !isUp(host) {
		if err := l.host.LinkSetUp(host); err != nil {
			return fmt.Errorf("set up: %w", err)
		}
		spec.log.Debug().Msg("set host side up")
	}
	// Set whatever it is: a repair is rare, and the handle's link does not
	// carry the mode.
	if err := l.hostReq.Do(nlraw.LinkChange{Index: a.Index, Hairpin: nlraw.HairpinTo(spec.hairpin)}.Request()); err != nil {
		return fmt.Errorf("set hairpin mode: %w", err)
	}
	return nil
}

// fixPeer brings the container end to spec, with addr as its only IPv4
// address and addr6 (invalid: none) as its only global IPv6 address; e
// is the container's namespace, ch a handle in it.
func fixPeer(ch *vnl.Handle, e *nsEntry, peer vnl.Link, addr, addr6 netip.Prefix, spec pairSpec) error {
	a := peer.Attrs()
	wrap := func(err error) error { return fmt.Errorf("%s: %w", spec.ifName, err) }
	if a.Alias != spec.mark {
		change := nlraw.LinkChange{Index: a.Index, Alias: spec.mark, NoIPv6LinkLocal: spec.noLinkLocal}
		if err := e.conn.Do(change.Request()); err != nil {
			return wrap(fmt.Errorf("set mark: %w", err))
		}
		spec.log.Debug().Msg("marked container side")
	}
	if !bytes.Equal(a.HardwareAddr, spec.mac) {
		if err := ch.LinkSetHardwareAddr(peer, spec.mac); err != nil {
			return wrap(fmt.Errorf("set mac %s: %w", net.HardwareAddr(spec.mac), err))
		}
		spec.log.Debug().Stringer("mac", net.HardwareAddr(spec.mac)).Msg("set container side mac")
	}
	if spec.mtu > 0 && a.MTU != spec.mtu {
		if err := ch.LinkSetMTU(peer, spec.mtu); err != nil {
			return wrap(fmt.Errorf("set mtu %d: %w", spec.mtu, err))
		}
		spec.log.Debug().Int("mtu", spec.mtu).Msg("set container side mtu")
	}
	if err := setOnlyAddr(ch, peer, addr, spec.log); err != nil {
		return wrap(err)
	}
	if addr6.IsValid() {
		if err := ignoreRA(e.ns, spec.ifName); err != nil {
			return wrap(err)
		}
		if err := writeIPv6Conf(e.ns, spec.ifName, "disable_ipv6", "0"); err != nil {
			return wrap(err)
		}
	}
	if err := setOnlyAddr6(ch, peer, addr6, spec.log); err != nil {
		return wrap(err)
	}
	if !isUp(peer) {
		if err := ch.LinkSetUp(peer); err != nil {
			return wrap(fmt.Errorf("set up: %w", err))
		}
		spec.log.Debug().Msg("set container side up")
	}
	return nil
}

// DeleteEndpoint removes c's veth pair for ep; absent is success. Deleting
// either end deletes both, so the host end is enough when it is there.
func (l *Links) DeleteEndpoint(ctx context.Context, c *model.Container, ep *model.Endpoint) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := l.deleteEndpoint(c, ep); err != nil {
		return fmt.Errorf("endpoint %s %s: %w", c.ID(), cmp.Or(ep.IfName, ep.HostIf), err)
	}
	return nil
}

func (l *Links) deleteEndpoint(c *model.Container, ep *model.Endpoint) error {
	mark := l.endpointMark(c, model.IDName(ep.Network))
	log := l.log.With().Str("container", c.ID()).Str("network", ep.Network).Logger()
	if ep.HostIf != "" {
		host, err := linkByName(l.host, ep.HostIf)
		if err != nil {
			return err
		}
		if host != nil {
			if !ownedBy(host, mark) || host.Type() != "veth" {
				return fmt.Errorf("host side %s: %w", ep.HostIf, notOwnedError(host))
			}
			if err := l.queueDelete(host); err != nil {
				return fmt.Errorf("host side %s: delete: %w", ep.HostIf, err)
			}
			log.Debug().Str("veth", ep.HostIf).Msg("queued veth pair for deletion")
			return nil
		}
	}
	if ep.IfName == "" || c.Netns == "" {
		return nil
	}
	ch, _, release, err := l.nsHandle(c.Netns, c.External)
	if noNetns(err) {
		return nil // the namespace, and the peer with it, is gone
	}
	if err != nil {
		return fmt.Errorf("namespace %s: %w", c.Netns, err)
	}
	defer release()
	peer, err := linkByName(ch, ep.IfName)
	if err != nil || peer == nil {
		return err
	}
	if peer.Attrs().Alias != mark {
		return fmt.Errorf("%s: %w", ep.IfName, notOwnedError(peer))
	}
	if err := ch.LinkDel(peer); err != nil && !linkGone(err) {
		return fmt.Errorf("delete %s: %w", ep.IfName, err)
	}
	log.Debug().Str("ifname", ep.IfName).Msg("deleted container side")
	return nil
}
