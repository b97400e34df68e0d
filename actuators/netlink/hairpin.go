package netlink

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/vishvananda/netns"

	"github.com/netctl/netctl/internal/nlraw"
)

// A container reaching its own published port sends a packet that comes
// back out of the bridge port it went in by: with br_netfilter the DNAT
// happens in the bridge path and the bridge only sends a frame back out of
// its ingress port in hairpin mode (Docker turns it on for the same reason
// when its userland proxy is off). It is a flag of the bridge port, so it
// lives here with the links; the firewall, whose layout needs it, reads and
// sets it through this type (firewall.Hairpin).

// hairpinBatch bounds the changes sent in one datagram (each is ~40
// bytes; a socket's send buffer takes a few hundred kilobytes).
const hairpinBatch = 256

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

// SetHairpin turns hairpin mode on or off on bridge ports of the host, by
// the ifindexes the bridges' dump gives (a lookup by name would cost the
// kernel a walk over every namespace id per veth), many per datagram.
func (h *Hairpin) SetHairpin(ctx context.Context, ports map[string]bool) error {
	if len(ports) == 0 {
		return nil
	}
	conn, have, err := h.ports(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	index := make(map[string]int, len(have))
	for _, p := range have {
		index[p.Name] = p.Index
	}
	names := slices.Sorted(maps.Keys(ports))
	reqs := make([]nlraw.Request, 0, len(names))
	for _, name := range names {
		i, ok := index[name]
		if !ok {
			return fmt.Errorf("hairpin on %s: no such bridge port", name)
		}
		reqs = append(reqs, nlraw.SetHairpin(i, ports[name]))
	}
	for i := 0; i < len(reqs); i += hairpinBatch {
		if err := ctx.Err(); err != nil {
			return err
		}
		end := min(i+hairpinBatch, len(reqs))
		if err := conn.Do(reqs[i:end]...); err != nil {
			return fmt.Errorf("hairpin on %s...%s: %w", names[i], names[end-1], err)
		}
	}
	return nil
}
