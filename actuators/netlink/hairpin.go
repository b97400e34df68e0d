package netlink

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	vnl "github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// A container reaching its own published port sends a packet that comes
// back out of the bridge port it went in by: with br_netfilter the DNAT
// happens in the bridge path and the bridge only sends a frame back out of
// its ingress port in hairpin mode (Docker turns it on for the same reason
// when its userland proxy is off). It is a flag of the bridge port, so it
// lives here with the links; the firewall, whose layout needs it, reads and
// sets it through this type (firewall.Hairpin).

// Hairpin reads and sets the hairpin mode of the host's bridge ports.
type Hairpin struct {
	host netns.NsHandle
}

// NewHairpin works on the bridge ports of host, a network namespace handle
// the caller keeps open.
func NewHairpin(host netns.NsHandle) *Hairpin { return &Hairpin{host: host} }

// Hairpins returns the hairpin mode of every bridge port of the host
// namespace, read with one AF_BRIDGE link dump.
func (h *Hairpin) Hairpins(ctx context.Context) (map[string]bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s, err := nl.GetNetlinkSocketAt(h.host, netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("bridge ports: netlink socket in the host namespace: %w", err)
	}
	defer s.Close()
	msgs, err := retryDump(func() ([][]byte, error) {
		req := &nl.NetlinkRequest{
			NlMsghdr: unix.NlMsghdr{Len: unix.SizeofNlMsghdr, Type: unix.RTM_GETLINK, Flags: unix.NLM_F_REQUEST | unix.NLM_F_DUMP},
			Sockets:  map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: {Socket: s}},
		}
		req.AddData(nl.NewIfInfomsg(unix.AF_BRIDGE))
		return req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWLINK)
	})
	if err != nil {
		return nil, fmt.Errorf("bridge ports: %w", err)
	}
	out := map[string]bool{}
	for _, m := range msgs {
		name, hairpin, isPort, err := parseBridgePort(m)
		if err != nil {
			return nil, fmt.Errorf("bridge ports: %w", err)
		}
		if isPort && name != "" {
			out[name] = hairpin
		}
	}
	return out, nil
}

// parseBridgePort decodes one link of an AF_BRIDGE dump: its name, and its
// hairpin mode when it is a bridge port (it has IFLA_PROTINFO).
func parseBridgePort(m []byte) (name string, hairpin, isPort bool, err error) {
	ifi := nl.DeserializeIfInfomsg(m)
	attrs, err := nl.ParseRouteAttr(m[ifi.Len():])
	if err != nil {
		return "", false, false, err
	}
	for _, a := range attrs {
		switch a.Attr.Type {
		case unix.IFLA_IFNAME:
			name = strings.TrimRight(string(a.Value), "\x00")
		case unix.IFLA_PROTINFO | unix.NLA_F_NESTED:
			infos, err := nl.ParseRouteAttr(a.Value)
			if err != nil {
				return "", false, false, err
			}
			isPort = true
			for _, info := range infos {
				if info.Attr.Type == nl.IFLA_BRPORT_MODE && len(info.Value) > 0 {
					hairpin = info.Value[0] != 0
				}
			}
		}
	}
	return name, hairpin, isPort, nil
}

// SetHairpin turns hairpin mode on or off on bridge ports of the host.
func (h *Hairpin) SetHairpin(ctx context.Context, ports map[string]bool) error {
	if len(ports) == 0 {
		return nil
	}
	handle, err := vnl.NewHandleAt(h.host, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("hairpin: netlink handle on the host namespace: %w", err)
	}
	defer handle.Close()
	for _, name := range slices.Sorted(maps.Keys(ports)) {
		if err := ctx.Err(); err != nil {
			return err
		}
		l, err := handle.LinkByName(name)
		if err != nil {
			return fmt.Errorf("hairpin on %s: %w", name, err)
		}
		if err := handle.LinkSetHairpin(l, ports[name]); err != nil {
			return fmt.Errorf("hairpin on %s: %w", name, err)
		}
	}
	return nil
}
