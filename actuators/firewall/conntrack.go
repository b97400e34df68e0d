package firewall

import (
	"errors"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/model"
)

// flushConntrack deletes the conntrack entries of connections to the given
// host ports, so that connectionless traffic (UDP, SCTP) that kept hitting
// an old target or the host itself is NATed afresh to the new target.
func (f *Firewall) flushConntrack(ports []model.Port) error {
	h, err := netlink.NewHandleAt(f.host, unix.NETLINK_NETFILTER)
	if err != nil {
		return fmt.Errorf("conntrack: netlink handle on the host namespace: %w", err)
	}
	defer h.Close()
	// One request per family: IPv6 ports' entries are in conntrack's
	// IPv6 table.
	filters := map[netlink.InetFamily][]netlink.CustomConntrackFilter{}
	for _, p := range ports {
		filter := &netlink.ConntrackFilter{}
		proto := map[string]uint8{"tcp": unix.IPPROTO_TCP, "udp": unix.IPPROTO_UDP, "sctp": unix.IPPROTO_SCTP}[p.Proto]
		if proto == 0 {
			return fmt.Errorf("conntrack: unknown protocol %q", p.Proto)
		}
		if err := filter.AddProtocol(proto); err != nil {
			return fmt.Errorf("conntrack: %w", err)
		}
		if err := filter.AddPort(netlink.ConntrackOrigDstPort, p.HostPort); err != nil {
			return fmt.Errorf("conntrack: %w", err)
		}
		// [::] is every IPv6 address, as an invalid HostIP is every IPv4 one.
		if p.HostIP.IsValid() && !p.HostIP.IsUnspecified() {
			if err := filter.AddIP(netlink.ConntrackOrigDstIP, net.IP(p.HostIP.AsSlice())); err != nil {
				return fmt.Errorf("conntrack: %w", err)
			}
		}
		family := netlink.InetFamily(unix.AF_INET)
		if p.IPv6() {
			family = unix.AF_INET6
		}
		filters[family] = append(filters[family], filter)
	}
	var entries uint
	for _, family := range []netlink.InetFamily{unix.AF_INET, unix.AF_INET6} {
		if len(filters[family]) == 0 {
			continue
		}
		n, err := h.ConntrackDeleteFilters(netlink.ConntrackTable, family, filters[family]...)
		if err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("conntrack: delete entries of %d ports: %w", len(filters[family]), err)
		}
		entries += n
	}
	f.log.Debug().Int("ports", len(ports)).Uint("entries", entries).Msg("conntrack flushed")
	return nil
}
