package netlink

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	vnl "github.com/vishvananda/netlink"

	"github.com/netctl/netctl/internal/nlraw"
	"github.com/netctl/netctl/model"
)

// EnsureBridge creates n's bridge or brings it to n: mark, MTU, exactly the
// address Gateway/Subnet.Bits(), up. A link of that name that is not
// netctl's bridge for n is left alone and reported.
func (l *Links) EnsureBridge(ctx context.Context, n *model.Network) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := l.ensureBridge(n); err != nil {
		return fmt.Errorf("bridge %s: %w", n.Bridge, err)
	}
	return nil
}

func (l *Links) ensureBridge(n *model.Network) error {
	if err := checkIfName(n.Bridge); err != nil {
		return err
	}
	if !n.Gateway.Is4() || !n.Subnet.IsValid() || !n.Subnet.Contains(n.Gateway) {
		return fmt.Errorf("gateway %s is not an IPv4 address in subnet %s", n.Gateway, n.Subnet)
	}
	if n.EnableIPv6 && (!n.GatewayV6.Is6() || !n.SubnetV6.Contains(n.GatewayV6)) {
		return fmt.Errorf("gateway_v6 %s is not an IPv6 address in subnet_v6 %s", n.GatewayV6, n.SubnetV6)
	}
	mark := l.bridgeMark(n)
	log := l.log.With().Str("bridge", n.Bridge).Str("network", n.ID()).Logger()

	br, err := linkByName(l.host, n.Bridge)
	if err != nil {
		return err
	}
	if br == nil {
		if br, err = l.createBridge(n); err != nil {
			return err
		}
		log.Debug().Msg("created bridge")
		// The mark, and on an IPv4-only network or an overlay no IPv6
		// link-local address, before the bridge comes up (see
		// noBridgeLinkLocal).
		change := nlraw.LinkChange{Index: br.Attrs().Index, Alias: mark, NoIPv6LinkLocal: noBridgeLinkLocal(n)}
		if err := l.hostReq.Do(change.Request()); err != nil {
			return fmt.Errorf("set mark: %w", err)
		}
		br.Attrs().Alias = mark
		log.Debug().Str("mark", mark).Msg("marked bridge")
	} else if !ownedBy(br, mark) || br.Type() != "bridge" {
		return errNotOwned
	}

	if br.Attrs().Alias != mark {
		if err := l.host.LinkSetAlias(br, mark); err != nil {
			return fmt.Errorf("set mark: %w", err)
		}
		log.Debug().Str("mark", mark).Msg("marked bridge")
	}
	if n.MTU > 0 && br.Attrs().MTU != n.MTU {
		if err := l.host.LinkSetMTU(br, n.MTU); err != nil {
			return fmt.Errorf("set mtu %d: %w", n.MTU, err)
		}
		log.Debug().Int("mtu", n.MTU).Msg("set bridge mtu")
	}
	want := netip.PrefixFrom(n.Gateway, n.Subnet.Bits())
	if err := setOnlyAddr(l.host, br, want, log); err != nil {
		return err
	}
	if err := setOnlyAddr6(l.host, br, gatewayV6(n), log); err != nil {
		return err
	}
	if err := ensureOverlayLinkLocal(l.host, br, n, log); err != nil {
		return err
	}
	if !isUp(br) {
		if err := l.host.LinkSetUp(br); err != nil {
			return fmt.Errorf("set up: %w", err)
		}
		log.Debug().Msg("set bridge up")
	}
	return l.ensureOverlay(n, br)
}

func (l *Links) createBridge(n *model.Network) (vnl.Link, error) {
	la := vnl.NewLinkAttrs()
	la.Name = n.Bridge
	la.MTU = n.MTU
	la.Group = creationGroup
	// A bridge without an address of its own takes the lowest MAC among
	// its ports and changes it as ports come and go, which leaves stale
	// gateway entries in the containers' ARP caches. Fix it, derived from
	// the gateway like the containers' MACs.
	la.HardwareAddr = model.MACFor(n.Gateway)
	// No Alias here: the kernel ignores IFLA_IFALIAS on creation; the
	// group marks the bridge as ours until the alias is set.
	if err := l.host.LinkAdd(&vnl.Bridge{LinkAttrs: la}); err != nil {
		return nil, fmt.Errorf("create: %w", err)
	}
	br, err := linkByName(l.host, n.Bridge)
	if err == nil && br == nil {
		err = errors.New("vanished after creation")
	}
	return br, err
}

// DeleteBridge deletes n's bridge; absent is success. It refuses while a
// port that is not one of n's endpoints is attached: deleting the bridge
// would cut off somebody else's interface.
func (l *Links) DeleteBridge(ctx context.Context, n *model.Network) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := l.deleteBridge(n); err != nil {
		return fmt.Errorf("bridge %s: %w", n.Bridge, err)
	}
	return nil
}

func (l *Links) deleteBridge(n *model.Network) error {
	br, err := linkByName(l.host, n.Bridge)
	if err != nil || br == nil {
		return err
	}
	if !ownedBy(br, l.bridgeMark(n)) || br.Type() != "bridge" {
		return errNotOwned
	}
	ports, err := l.hostDump.PortsOf(br.Attrs().Index)
	if err != nil {
		return fmt.Errorf("list ports: %w", err)
	}
	if foreign := l.foreignPorts(ports, br.Attrs().Index, n.ID()); len(foreign) > 0 {
		return fmt.Errorf("has ports netctl does not own: %s", strings.Join(foreign, ", "))
	}
	if err := l.deleteVXLAN(n); err != nil {
		return err
	}
	if err := l.queueDelete(br); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	l.log.Debug().Str("bridge", n.Bridge).Str("network", n.ID()).Msg("queued bridge for deletion")
	return nil
}

// gatewayV6 is the bridge's IPv6 address, invalid on an IPv4-only network.
func gatewayV6(n *model.Network) netip.Prefix {
	if !n.EnableIPv6 {
		return netip.Prefix{}
	}
	return netip.PrefixFrom(n.GatewayV6, n.SubnetV6.Bits())
}
