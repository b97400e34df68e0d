package spec

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/netctl/netctl/model"
	"github.com/netctl/netctl/spec/internal/yamlwalk"
)

// Protocols accepted after '/' in ports and expose, as in Docker.
const (
	ProtoTCP  = model.ProtoTCP
	ProtoUDP  = model.ProtoUDP
	ProtoSCTP = model.ProtoSCTP
)

const portSyntax = "[host_ip:][host_port[-end]:]container_port[-end][/tcp|udp|sctp]"

// parsePortMapping parses one `ports` entry in Docker's -p syntax. The
// returned string is the reason the entry is invalid, "" when it is valid.
func parsePortMapping(raw string) (*PortMapping, string) {
	m := &PortMapping{Raw: raw}
	s, proto, why := splitProto(raw)
	if why != "" {
		return nil, why
	}
	m.Proto = proto
	var ip, host, ctr string
	if rest, ok := strings.CutPrefix(s, "["); ok {
		// "[v6]:host:ctr", as Docker writes an IPv6 host address.
		addr, after, closed := strings.Cut(rest, "]")
		after, colon := strings.CutPrefix(after, ":")
		parts := strings.Split(after, ":")
		if !closed || !colon || len(parts) != 2 {
			return nil, "expected " + portSyntax + " (an IPv6 host address in brackets: [::1]:8080:80)"
		}
		ip, host, ctr = addr, parts[0], parts[1]
		a, err := netip.ParseAddr(ip)
		switch {
		case err != nil || !a.Is6() || a.Is4In6() || a.Zone() != "":
			return nil, fmt.Sprintf("host address %s is not an IPv6 address without zone", yamlwalk.Quote(ip))
		case a.IsLoopback():
			// Without a proxy process the kernel cannot carry it: IPv6
			// has no route_localnet, and a DNATed ::1 is dropped.
			return nil, "the IPv6 loopback [::1] cannot be published (IPv6 has no route_localnet); bind 127.0.0.1, or leave the address out"
		case a.IsLinkLocalUnicast() || a.IsMulticast():
			return nil, fmt.Sprintf("host address %s is not a unicast address of this host", ip)
		}
	} else {
		switch parts := strings.Split(s, ":"); len(parts) {
		case 1:
			ctr = parts[0]
		case 2:
			host, ctr = parts[0], parts[1]
		case 3:
			ip, host, ctr = parts[0], parts[1], parts[2]
		default:
			return nil, "expected " + portSyntax + " (an IPv6 host address goes in brackets: [::1]:8080:80)"
		}
	}
	if ip != "" {
		a, err := netip.ParseAddr(ip)
		switch {
		case err != nil:
			return nil, fmt.Sprintf("host address %s is not an IP address", yamlwalk.Quote(ip))
		case a.Is4() && !a.IsUnspecified():
			// 0.0.0.0 means every address, the same as no address, so
			// both compare equal in conflict checks and plans.
			m.HostIP = a
		case a.Is6():
			// [::] is every IPv6 address only: it stays explicit.
			m.HostIP = a
		}
	}
	if ctr == "" {
		return nil, "missing container port; expected " + portSyntax
	}
	var err string
	if m.ContainerPortStart, m.ContainerPortEnd, err = parsePortRange(ctr, "container port"); err != "" {
		return nil, err
	}
	if host != "" {
		if m.HostPortStart, m.HostPortEnd, err = parsePortRange(host, "host port"); err != "" {
			return nil, err
		}
	}
	hostLen := int(m.HostPortEnd) - int(m.HostPortStart)
	ctrLen := int(m.ContainerPortEnd) - int(m.ContainerPortStart)
	switch {
	case host == "" || ctrLen == 0:
		// Ephemeral, single port, or "first free port of the host range".
	case hostLen == 0:
		return nil, fmt.Sprintf("container port range %s needs a host port range of the same length, or no host port", ctr)
	case hostLen != ctrLen:
		return nil, fmt.Sprintf("host port range %s and container port range %s differ in length", host, ctr)
	}
	return m, ""
}

// parsePortProto parses one `expose` entry: "5432" or "5432/udp".
func parsePortProto(raw string) (PortProto, string) {
	s, proto, why := splitProto(raw)
	if why != "" {
		return PortProto{}, why
	}
	if strings.Contains(s, "-") {
		return PortProto{}, "port ranges are not supported in expose; list the ports"
	}
	p, why := parsePort(s, "port")
	if why != "" {
		return PortProto{}, why
	}
	return PortProto{Port: p, Proto: proto}, ""
}

func splitProto(raw string) (rest, proto, why string) {
	rest, proto, found := strings.Cut(raw, "/")
	if !found {
		return rest, ProtoTCP, ""
	}
	switch proto {
	case ProtoTCP, ProtoUDP, ProtoSCTP:
		return rest, proto, ""
	}
	return "", "", fmt.Sprintf("unknown protocol %s (tcp, udp or sctp)", yamlwalk.Quote(proto))
}

func parsePortRange(s, what string) (start, end uint16, why string) {
	lo, hi, isRange := strings.Cut(s, "-")
	if start, why = parsePort(lo, what); why != "" {
		return 0, 0, why
	}
	if !isRange {
		return start, start, ""
	}
	if end, why = parsePort(hi, what); why != "" {
		return 0, 0, why
	}
	if start > end {
		return 0, 0, fmt.Sprintf("%s range %s starts after it ends", what, s)
	}
	return start, end, ""
}

func parsePort(s, what string) (uint16, string) {
	// strconv alone would accept "+80" and "0x50".
	if s == "" || len(s) > 5 || strings.Trim(s, "0123456789") != "" {
		return 0, fmt.Sprintf("%s %s is not a number", what, yamlwalk.Quote(s))
	}
	n, _ := strconv.Atoi(s)
	if n < 1 || n > 65535 {
		return 0, fmt.Sprintf("%s %s is out of range 1-65535", what, s)
	}
	return uint16(n), ""
}

// FirstFree reports whether m is a host range feeding a single container
// port: the reconciler picks one free port of the range, so the mapping
// does not hold the whole range.
func (m *PortMapping) FirstFree() bool {
	return m.HostPortStart != m.HostPortEnd && m.ContainerPortStart == m.ContainerPortEnd
}
