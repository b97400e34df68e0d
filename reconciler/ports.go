package reconciler

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/netctl/netctl/model"
	"github.com/netctl/netctl/spec"
)

// Linux's default ip_local_port_range, for when the host's is unknown
// (diff --from, no kernel).
const (
	defaultEphemeralLow  = 32768
	defaultEphemeralHigh = 60999
)

// portClaims records which host ports are published, on which host
// addresses (an invalid address: every address), and by whom.
type portClaims map[model.PortProto][]portClaim

type portClaim struct {
	ip netip.Addr
	// who holds it: a container of the project being planned, or, with
	// other, a whole description ("project shop (container web)"). The
	// project's own claims are described only for an error message.
	who   string
	other bool
}

// owner describes the claim's holder for messages.
func (c portClaim) owner() string {
	if c.other {
		return c.who
	}
	return "container " + c.who
}

// conflict returns the claim ip:port/proto would collide with: the same
// port on the same address, or either side bound on every address of the
// family (an invalid address is every IPv4 address, [::] every IPv6 one).
func (pc portClaims) conflict(pp model.PortProto, ip netip.Addr) (portClaim, bool) {
	for _, c := range pc[pp] {
		if c.ip.Is6() != ip.Is6() {
			continue
		}
		if everyAddr(c.ip) || everyAddr(ip) || c.ip == ip {
			return c, true
		}
	}
	return portClaim{}, false
}

func everyAddr(ip netip.Addr) bool { return !ip.IsValid() || ip.IsUnspecified() }

// claim records a port of the project's container.
func (pc portClaims) claim(pp model.PortProto, ip netip.Addr, container string) {
	pc[pp] = append(pc[pp], portClaim{ip: ip, who: container})
}

// portRequest is one container port whose host port is picked: from a
// range (first free) or from the ephemeral range.
type portRequest struct {
	c      *model.Container
	idx    int // index in c.Ports
	m      *spec.PortMapping
	lo, hi uint16
	// twin is the index in c.Ports of the same mapping's other family
	// (-1: none): both take the same host port when they can, as Docker's
	// 0.0.0.0 and [::] bindings do.
	twin int
}

// desirePorts resolves every `ports` entry of the file to concrete host
// ports, in c.Ports. Fixed ports are taken as written; a picked port (range
// or ephemeral) keeps the host port the container already has for the same
// host address, container port and protocol when it still fits the entry,
// and otherwise takes the lowest port that no project publishes and no
// program of the host has bound.
func desirePorts(t *spec.Topology, observed *model.State, d *model.State) error {
	fw := observed.Firewall
	lo, hi := uint16(defaultEphemeralLow), uint16(defaultEphemeralHigh)
	if fw != nil && fw.EphemeralLow > 0 && fw.EphemeralHigh >= fw.EphemeralLow {
		lo, hi = fw.EphemeralLow, fw.EphemeralHigh
	}
	hint := 0
	for _, sc := range t.Containers {
		hint += len(sc.Ports)
	}
	claims := make(portClaims, hint)
	if fw != nil {
		for _, key := range sortedMapKeys(fw.Ports) {
			p := fw.Ports[key]
			if p.Project != t.Name {
				pp := model.PortProto{Port: p.HostPort, Proto: p.Proto}
				claims[pp] = append(claims[pp], portClaim{ip: p.HostIP, other: true,
					who: fmt.Sprintf("project %s (container %s)", p.Project, p.Container)})
			}
		}
	}

	var errs spec.Errors
	fail := func(m *spec.PortMapping, format string, args ...any) {
		errs = append(errs, &spec.Error{File: t.File, Pos: m.Pos, Msg: fmt.Sprintf(format, args...)})
	}
	var picks []portRequest
	for _, sc := range t.Containers {
		c := d.Containers[model.ContainerID(t.Name, sc.Name)]
		mappings := withPublishAll(sc)
		if c == nil || len(mappings) == 0 {
			continue
		}
		// A mapping on every address is also published on every IPv6
		// address when the container has an IPv6 address to lead it to.
		dual, _ := publishingEndpoint(d, c, true)
		for _, m := range mappings {
			hostIPs := []netip.Addr{m.HostIP}
			if !m.HostIP.IsValid() && dual != nil {
				hostIPs = append(hostIPs, netip.IPv6Unspecified())
			}
			for i := 0; i <= int(m.ContainerPortEnd-m.ContainerPortStart); i++ {
				first := len(c.Ports)
				for k, ip := range hostIPs {
					p := model.Port{HostIP: ip, ContainerPort: m.ContainerPortStart + uint16(i), Proto: m.Proto}
					twin := -1
					if len(hostIPs) == 2 {
						twin = first + 1 - k
					}
					switch {
					case m.HostPortStart == 0:
						picks = append(picks, portRequest{c: c, idx: len(c.Ports), m: m, lo: lo, hi: hi, twin: twin})
					case m.FirstFree():
						picks = append(picks, portRequest{c: c, idx: len(c.Ports), m: m, lo: m.HostPortStart, hi: m.HostPortEnd, twin: twin})
					default:
						p.HostPort = m.HostPortStart + uint16(i)
						pp := model.PortProto{Port: p.HostPort, Proto: p.Proto}
						if other, taken := claims.conflict(pp, p.HostIP); taken {
							fail(m, "container %s: ports %q: host port %s/%s is already published by %s",
								sc.Name, m.Raw, p.HostString(), p.Proto, other.owner())
							continue
						}
						claims.claim(pp, p.HostIP, sc.Name)
					}
					c.Ports = append(c.Ports, p)
				}
			}
		}
	}
	if len(errs) > 0 {
		return errs
	}

	// Sticky picks first, so that a new pick never takes a port a running
	// container already holds.
	var fresh []portRequest
	used := map[*model.Container]map[int]bool{}
	for _, r := range picks {
		p := &r.c.Ports[r.idx]
		if hp, ok := stickyPort(observed.Containers[r.c.ID()], *p, r.lo, r.hi, used, claims); ok {
			p.HostPort = hp
			claims.claim(model.PortProto{Port: hp, Proto: p.Proto}, p.HostIP, r.c.Name)
			continue
		}
		fresh = append(fresh, r)
	}
	for _, r := range fresh {
		p := &r.c.Ports[r.idx]
		if r.twin >= 0 {
			// The twin's port (sticky, or picked just before) when this
			// family has it free too.
			if tp := r.c.Ports[r.twin].HostPort; tp >= r.lo && tp <= r.hi {
				if _, taken := claims.conflict(model.PortProto{Port: tp, Proto: p.Proto}, p.HostIP); !taken {
					p.HostPort = tp
					claims.claim(model.PortProto{Port: tp, Proto: p.Proto}, p.HostIP, r.c.Name)
					continue
				}
			}
		}
		hp, ok := freePort(claims, fw, p.Proto, p.HostIP, r.lo, r.hi)
		if !ok {
			fail(r.m, "container %s: ports %q: no free host port in %d-%d for %d/%s",
				r.c.Name, r.m.Raw, r.lo, r.hi, p.ContainerPort, p.Proto)
			continue
		}
		p.HostPort = hp
		claims.claim(model.PortProto{Port: hp, Proto: p.Proto}, p.HostIP, r.c.Name)
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// desireHairpin turns hairpin mode on for the endpoints published ports
// lead to (publishingEndpoint, of each port's family): a container
// reaching its own port through the host address has its packets turned
// back by the DNAT towards the bridge port they came in by, which the
// bridge sends them out of only in hairpin mode (as Docker does without
// its userland proxy). Every other endpoint has it off.
func desireHairpin(d *model.State) {
	for _, c := range d.Containers {
		for _, p := range c.Ports {
			if ep, _ := publishingEndpoint(d, c, p.IPv6()); ep != nil {
				ep.Hairpin = true
			}
		}
	}
}

// withPublishAll returns a container's ports entries plus what
// publish_all publishes (docker run -P): every exposed port that no entry
// publishes, on an ephemeral port of every host address, picked and kept
// like any ephemeral port.
func withPublishAll(sc *spec.Container) []*spec.PortMapping {
	if !sc.PublishAll {
		return sc.Ports
	}
	covered := map[spec.PortProto]bool{}
	for _, m := range sc.Ports {
		for p := uint32(m.ContainerPortStart); p <= uint32(m.ContainerPortEnd); p++ {
			covered[spec.PortProto{Port: uint16(p), Proto: m.Proto}] = true
		}
	}
	out := slices.Clone(sc.Ports)
	for _, e := range sc.Expose {
		if covered[e] {
			continue
		}
		covered[e] = true
		out = append(out, &spec.PortMapping{
			Raw: fmt.Sprintf("%d/%s (publish_all)", e.Port, e.Proto), Pos: sc.FieldPos["publish_all"],
			ContainerPortStart: e.Port, ContainerPortEnd: e.Port, Proto: e.Proto,
		})
	}
	return out
}

// stickyPort finds the host port the observed container already publishes
// for want's host address, container port and protocol, if it lies in
// lo..hi and is still free. Each observed port serves one request.
func stickyPort(o *model.Container, want model.Port, lo, hi uint16, used map[*model.Container]map[int]bool, claims portClaims) (uint16, bool) {
	if o == nil {
		return 0, false
	}
	for i, op := range o.Ports {
		if used[o][i] || op.HostIP != want.HostIP || op.ContainerPort != want.ContainerPort || op.Proto != want.Proto ||
			op.HostPort < lo || op.HostPort > hi {
			continue
		}
		if _, taken := claims.conflict(model.PortProto{Port: op.HostPort, Proto: op.Proto}, op.HostIP); taken {
			continue
		}
		if used[o] == nil {
			used[o] = map[int]bool{}
		}
		used[o][i] = true
		return op.HostPort, true
	}
	return 0, false
}

// freePort returns the lowest port of lo..hi that nobody publishes and no
// program of the host has bound.
func freePort(claims portClaims, fw *model.Firewall, proto string, ip netip.Addr, lo, hi uint16) (uint16, bool) {
	for p := int(lo); p <= int(hi); p++ {
		pp := model.PortProto{Port: uint16(p), Proto: proto}
		if _, taken := claims.conflict(pp, ip); taken {
			continue
		}
		if fw != nil && fw.Bound[pp] {
			continue
		}
		return uint16(p), true
	}
	return 0, false
}
