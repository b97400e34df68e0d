package netlink

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	vnl "github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/internal/nlraw"
	"github.com/netctl/netctl/model"
)

// EnsureDefaultRoute makes gw the only IPv4 default route in the main table
// of c's namespace, or removes every IPv4 default route when gw is invalid.
func (l *Links) EnsureDefaultRoute(ctx context.Context, c *model.Container, gw netip.Addr) error {
	return l.ensureDefault(ctx, c, unix.AF_INET, gw)
}

// EnsureDefaultRouteV6 is EnsureDefaultRoute for IPv6.
func (l *Links) EnsureDefaultRouteV6(ctx context.Context, c *model.Container, gw netip.Addr) error {
	return l.ensureDefault(ctx, c, unix.AF_INET6, gw)
}

func (l *Links) ensureDefault(ctx context.Context, c *model.Container, family int, gw netip.Addr) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := l.ensureDefaultRoute(c, family, gw); err != nil {
		return fmt.Errorf("container %s: default route: %w", c.ID(), err)
	}
	return nil
}

func (l *Links) ensureDefaultRoute(c *model.Container, family int, gw netip.Addr) error {
	bits := 32
	if family == unix.AF_INET6 {
		bits = 128
	}
	if gw.IsValid() && gw.BitLen() != bits {
		return fmt.Errorf("gateway %s is not of the route's family", gw)
	}
	e, release, err := l.nsEntry(c.Netns, c.External)
	if err != nil {
		return fmt.Errorf("namespace %s: %w", c.Netns, err)
	}
	defer release()
	if gw.IsValid() && e.takeNoRoutes(family == unix.AF_INET6) {
		// Made by this process in this phase: no default route to replace
		// or remove.
		if err := e.conn.Do(nlraw.ReplaceDefaultRoute(gw)); err != nil {
			return fmt.Errorf("set default via %s: %w", gw, err)
		}
		l.log.Debug().Str("container", c.ID()).Stringer("gateway", gw).Msg("set default route")
		return nil
	}
	h, err := e.handle()
	if err != nil {
		return fmt.Errorf("namespace %s: %w", c.Netns, err)
	}
	routes, err := nlraw.Retry(func() ([]vnl.Route, error) { return h.RouteList(nil, family) })
	if err != nil {
		return fmt.Errorf("list routes: %w", err)
	}
	log := l.log.With().Str("container", c.ID()).Logger()

	have := false
	for _, r := range routes {
		if !isDefault(r) {
			continue
		}
		// RouteReplace below only replaces a route of the same metric, so
		// one with another metric (or type) would survive it.
		if gw.IsValid() && !have && isDefaultVia(r, gw) {
			have = true
			continue
		}
		if err := h.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("delete default via %s: %w", r.Gw, err)
		}
		log.Debug().Stringer("gateway", r.Gw).Msg("deleted default route")
	}
	if !gw.IsValid() || have {
		return nil
	}
	r := &vnl.Route{
		Dst:   &net.IPNet{IP: make(net.IP, bits/8), Mask: net.CIDRMask(0, bits)},
		Gw:    gw.AsSlice(),
		Table: unix.RT_TABLE_MAIN,
	}
	if err := h.RouteReplace(r); err != nil {
		return fmt.Errorf("set default via %s: %w", gw, err)
	}
	log.Debug().Stringer("gateway", gw).Msg("set default route")
	return nil
}

// isDefault reports whether r is a default route (of any type).
func isDefault(r vnl.Route) bool {
	if r.Dst == nil {
		return true
	}
	ones, _ := r.Dst.Mask.Size()
	return ones == 0
}

// isDefaultVia reports whether r is the plain default route via gw that
// EnsureDefaultRoute would create. The kernel gives IPv6 routes a metric
// of its own (1024) when none is asked for.
func isDefaultVia(r vnl.Route, gw netip.Addr) bool {
	rgw, ok := netip.AddrFromSlice(r.Gw)
	metricOK := r.Priority == 0 || (gw.Is6() && r.Priority == ip6DefaultMetric)
	return ok && rgw.Unmap() == gw && metricOK && r.Type == unix.RTN_UNICAST &&
		r.Table == unix.RT_TABLE_MAIN && len(r.MultiPath) == 0
}

// ip6DefaultMetric is IP6_RT_PRIO_USER, the metric of an IPv6 route added
// without one.
const ip6DefaultMetric = 1024

// defaultGateway returns the gateway of the main table's default route
// of one family.
func defaultGateway(routes []nlraw.Route, v6 bool) netip.Addr {
	for _, r := range routes {
		if r.Dst.Bits() == 0 && r.Dst.Addr().Is6() == v6 && r.Table == unix.RT_TABLE_MAIN && r.GW.IsValid() {
			return r.GW
		}
	}
	return netip.Addr{}
}

// hostRoutes returns, sorted and without duplicates, the destinations the
// host routes somewhere (both families): every table's routes except
// defaults, link-local and multicast, the local/broadcast entries the
// kernel keeps for its own addresses, and the routes through netctl's own
// links (owned, by ifindex): a bridge's prefix route is its subnet, not
// something its subnet could collide with.
func hostRoutes(routes []nlraw.Route, owned map[int]bool) []netip.Prefix {
	var out []netip.Prefix
	for _, r := range routes {
		if r.Table == unix.RT_TABLE_LOCAL || r.Dst.Bits() == 0 || (r.OIF != 0 && owned[r.OIF]) {
			continue
		}
		switch r.Type {
		case unix.RTN_LOCAL, unix.RTN_BROADCAST, unix.RTN_MULTICAST, unix.RTN_ANYCAST:
			continue
		}
		// Every IPv6 interface routes fe80::/64 (and multicast): nothing a
		// subnet could collide with.
		if a := r.Dst.Addr(); a.IsLinkLocalUnicast() || a.IsMulticast() {
			continue
		}
		out = append(out, r.Dst.Masked())
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	return slices.Compact(out)
}
