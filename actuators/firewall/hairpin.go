package firewall

import (
	"errors"
	"fmt"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// A container reaching its own published port sends a packet that comes
// back out of the bridge port it went in by: with br_netfilter the DNAT
// happens in the bridge path and the bridge only sends a frame back out
// of its ingress port in hairpin mode (Docker turns it on for the same
// reason when its userland proxy is off). The mode is set like a sysctl,
// under the sysfs name it has (model.SysctlHairpin).

// hairpins reads the hairpin mode of every bridge port of the host
// namespace with one AF_BRIDGE link dump.
func (f *Firewall) hairpins() (map[string]bool, error) {
	s, err := nl.GetNetlinkSocketAt(f.host, netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("bridge ports: netlink socket in the host namespace: %w", err)
	}
	defer s.Close()
	var msgs [][]byte
	for attempt := 0; ; attempt++ {
		req := &nl.NetlinkRequest{
			NlMsghdr: unix.NlMsghdr{Len: unix.SizeofNlMsghdr, Type: unix.RTM_GETLINK, Flags: unix.NLM_F_REQUEST | unix.NLM_F_DUMP},
			Sockets:  map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: {Socket: s}},
		}
		req.AddData(nl.NewIfInfomsg(unix.AF_BRIDGE))
		msgs, err = req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWLINK)
		if errors.Is(err, netlink.ErrDumpInterrupted) && attempt < 5 {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("bridge ports: %w", err)
		}
		break
	}
	out := map[string]bool{}
	for _, m := range msgs {
		ifi := nl.DeserializeIfInfomsg(m)
		attrs, err := nl.ParseRouteAttr(m[ifi.Len():])
		if err != nil {
			return nil, fmt.Errorf("bridge ports: %w", err)
		}
		name, hairpin, isPort := "", false, false
		for _, a := range attrs {
			switch a.Attr.Type {
			case unix.IFLA_IFNAME:
				name = strings.TrimRight(string(a.Value), "\x00")
			case unix.IFLA_PROTINFO | unix.NLA_F_NESTED:
				infos, err := nl.ParseRouteAttr(a.Value)
				if err != nil {
					return nil, fmt.Errorf("bridge ports: %w", err)
				}
				isPort = true
				for _, info := range infos {
					if info.Attr.Type == nl.IFLA_BRPORT_MODE && len(info.Value) > 0 {
						hairpin = info.Value[0] != 0
					}
				}
			}
		}
		if isPort && name != "" {
			out[name] = hairpin
		}
	}
	return out, nil
}

// setHairpin turns hairpin mode on or off on bridge ports of the host.
func (f *Firewall) setHairpin(ports map[string]bool) error {
	if len(ports) == 0 {
		return nil
	}
	h, err := netlink.NewHandleAt(f.host)
	if err != nil {
		return fmt.Errorf("hairpin: netlink handle on the host namespace: %w", err)
	}
	defer h.Close()
	for _, name := range sortedKeys(ports) {
		l, err := h.LinkByName(name)
		if err != nil {
			return fmt.Errorf("hairpin on %s: %w", name, err)
		}
		if err := h.LinkSetHairpin(l, ports[name]); err != nil {
			return fmt.Errorf("hairpin on %s: %w", name, err)
		}
	}
	return nil
}
