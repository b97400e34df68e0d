package spec

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/netctl/netctl/spec/internal/yamlwalk"
)

// The rules of published ports against each other and against the
// address families of the networks they lead to.

// ipv6Ports checks that a port published on an IPv6 host address has an
// IPv6 address to lead to: IPv6 ports lead to the container's first
// dual-stack network that is not internal.
func (v *validator) ipv6Ports(ct *Container) {
	var first *Network
	for _, a := range ct.Networks {
		n := v.nets[a.Network]
		if n == nil || n.Internal {
			continue
		}
		if n.EnableIPv6 {
			return
		}
		if first == nil {
			first = n
		}
	}
	if first == nil {
		return // no network to publish on at all: reported elsewhere
	}
	for _, m := range ct.Ports {
		if m.HostIP.Is6() {
			v.c.Addf(m.Pos, "container %q: ports: %s: an IPv6 host address needs a network with enable_ipv6 that is not internal (%q has no IPv6)", ct.Name, yamlwalk.Quote(m.Raw), first.Name)
		}
	}
}

// publishedPorts finds host ports published twice. Ephemeral ports and
// "first free port of a range" mappings hold no fixed port, so they never
// conflict: the reconciler picks around the fixed ones.
func (v *validator) publishedPorts() {
	type pub struct {
		m  *PortMapping
		ct *Container
	}
	var pubs []pub
	for _, ct := range v.t.Containers {
		if ct.NetworkMode != "" {
			continue
		}
		for _, m := range ct.Ports {
			if m.HostPortStart != 0 && !m.FirstFree() {
				pubs = append(pubs, pub{m, ct})
			}
		}
	}
	slices.SortStableFunc(pubs, func(a, b pub) int {
		if c := strings.Compare(a.m.Proto, b.m.Proto); c != 0 {
			return c
		}
		return int(a.m.HostPortStart) - int(b.m.HostPortStart)
	})
	// One error per mapping: a port published n times is n-1 errors, not
	// n*(n-1)/2.
	reported := map[*PortMapping]bool{}
	for i, a := range pubs {
		for _, b := range pubs[i+1:] {
			if b.m.Proto != a.m.Proto || b.m.HostPortStart > a.m.HostPortEnd {
				break
			}
			if a.m.HostIP.IsValid() && b.m.HostIP.IsValid() && a.m.HostIP != b.m.HostIP {
				continue
			}
			if onOtherNodes(a.ct, b.ct) {
				continue
			}
			first, later := a, b
			if before(later.m.Pos, first.m.Pos) {
				first, later = later, first
			}
			if reported[later.m] {
				continue
			}
			reported[later.m] = true
			lo := max(a.m.HostPortStart, b.m.HostPortStart)
			hi := min(a.m.HostPortEnd, b.m.HostPortEnd)
			ports := fmt.Sprint(lo)
			if hi != lo {
				ports = fmt.Sprintf("%d-%d", lo, hi)
			}
			v.c.Addf(later.m.Pos, "container %q: host port %s/%s on %s is already published by container %q (%s at %s)",
				later.ct.Name, ports, later.m.Proto, hostIPText(later.m.HostIP, first.m.HostIP), first.ct.Name, yamlwalk.Quote(first.m.Raw), at(first.m.Pos))
		}
	}
}

// hostIPText names the host addresses two conflicting mappings share.
func hostIPText(a, b netip.Addr) string {
	switch {
	case a.IsValid():
		return a.String()
	case b.IsValid():
		return b.String()
	}
	return "all addresses"
}
