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
	var filters []netlink.CustomConntrackFilter
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
		if p.HostIP.IsValid() {
			if err := filter.AddIP(netlink.ConntrackOrigDstIP, net.IP(p.HostIP.AsSlice())); err != nil {
				return fmt.Errorf("conntrack: %w", err)
			}
		}
		filters = append(filters, filter)
	}
	n, err := h.ConntrackDeleteFilters(netlink.ConntrackTable, unix.AF_INET, filters...)
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("conntrack: delete entries of %d ports: %w", len(ports), err)
	}
	f.log.Debug().Int("ports", len(ports)).Uint("entries", n).Msg("conntrack flushed")
	return nil
}
