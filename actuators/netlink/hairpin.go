package netlink

import (
	"context"
	"fmt"
	"maps"
	"slices"

	vnl "github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/internal/nlraw"
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

// ports reads every bridge port of the host with one AF_BRIDGE link dump.
func (h *Hairpin) ports(ctx context.Context) (*nlraw.Conn, []nlraw.BridgePort, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	conn, err := nlraw.OpenAt(h.host)
	if err != nil {
		return nil, nil, fmt.Errorf("bridge ports: netlink socket in the host namespace: %w", err)
	}
	ports, err := conn.BridgePorts()
	if err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("bridge ports: %w", err)
	}
	return conn, ports, nil
}

// Hairpins returns the hairpin mode of every bridge port of the host
// namespace.
func (h *Hairpin) Hairpins(ctx context.Context) (map[string]bool, error) {
	conn, ports, err := h.ports(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	out := make(map[string]bool, len(ports))
	for _, p := range ports {
		out[p.Name] = p.Hairpin
	}
	return out, nil
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
