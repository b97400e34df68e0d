package model

import (
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
)

// Built-in networks and their defaults, as in Docker. Every project shares
// the default network, so its kernel bridge has one fixed name.
const (
	DefaultNetwork = "bridge"
	HostNetwork    = "host"
	NoneNetwork    = "none"

	DefaultBridge       = "netctl0"
	DefaultBridgeSubnet = "172.17.0.0/16"
	DefaultMTU          = 1500
	// MinIPv6MTU is the smallest link MTU IPv6 works on (RFC 8200): the
	// kernel turns IPv6 off on a link below it.
	MinIPv6MTU = 1280
)

// Transport protocols a port mapping may name.
const (
	ProtoTCP  = "tcp"
	ProtoUDP  = "udp"
	ProtoSCTP = "sctp"
)

// IsProto reports whether s is a protocol a port mapping may name.
func IsProto(s string) bool {
	return s == ProtoTCP || s == ProtoUDP || s == ProtoSCTP
}

// Names that reach kernel objects, paths under --root, rule comments and DNS
// answers are held to these patterns. None of them admits '/', ':',
// whitespace, quotes, NUL or non-ASCII bytes, so a name can never escape a
// path, split a comment or forge a hosts-file line.
//
// This package's patterns, and the few others netctl has, are compiled at
// first use rather than at start: every command pays for the init of
// every package it links, and most use few of them.
var (
	envNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`) })
	// IFNAMSIZ is 16 with the terminating NUL. The kernel accepts more
	// characters than this, but '.', '-' and '_' are all a bridge name needs.
	ifnameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$`) })
)

// MaxIfname is the longest kernel interface name (IFNAMSIZ less the NUL).
const MaxIfname = 15

// IsLabel reports whether s is a DNS label (RFC 1123, case-insensitive):
// the rule for project, network, container and alias names, i.e.
// ^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$. Written out rather than
// as a regular expression: an observation checks every link's mark with
// it, tens of thousands of times at 10,000 containers, and the regexp
// engine was a few per cent of its CPU.
func IsLabel(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	return labelChars(s)
}

// labelChars reports whether s holds only letters, digits and dashes.
func labelChars(s string) bool {
	for i := range len(s) {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// IsEnvName reports whether s is a shell-safe environment variable name.
func IsEnvName(s string) bool { return envNameRE().MatchString(s) }

// IsIfname reports whether s is a kernel interface name netctl accepts.
func IsIfname(s string) bool { return ifnameRE().MatchString(s) && !strings.Contains(s, "..") }

// NetworkID builds a network ID: "<project>/<name>", or "/bridge" for the
// default network shared by all projects.
func NetworkID(project, name string) string {
	if name == DefaultNetwork {
		project = ""
	}
	return project + "/" + name
}

// ContainerID builds a container ID: "<project>/<name>".
func ContainerID(project, name string) string { return project + "/" + name }

// SplitID splits a network or container ID into its project and name.
func SplitID(id string) (project, name string, ok bool) {
	return strings.Cut(id, "/")
}

// IDName is the name part of a network or container ID.
func IDName(id string) string {
	_, name, _ := SplitID(id)
	return name
}

// Object kinds an ID is derived for.
const (
	IDKindNetwork   = "network"
	IDKindContainer = "container"
	IDKindEndpoint  = "endpoint"
)

// ShortIDLen is how many hex digits lists show of an ID, as Docker does.
const ShortIDLen = 12

// ObjectID is the ID users see for a network, container or endpoint,
// shaped like Docker's (64 hex digits): the SHA-256 of "<kind>:<identity>".
// It needs no state, so it is the same across reconciles, hosts and
// netctl versions. Scripts keep IDs: never change this derivation.
func ObjectID(kind, identity string) string {
	sum := sha256.Sum256([]byte(kind + ":" + identity))
	return hex.EncodeToString(sum[:])
}

// NetworkObjectID is a network's ID; the built-in networks (bridge, host,
// none) belong to no project, whatever project is passed for them.
func NetworkObjectID(project, name string) string {
	if name == HostNetwork || name == NoneNetwork {
		project = ""
	}
	return ObjectID(IDKindNetwork, NetworkID(project, name))
}

// ContainerObjectID is a container's ID.
func ContainerObjectID(project, name string) string {
	return ObjectID(IDKindContainer, ContainerID(project, name))
}

// EndpointObjectID is the ID of a container's attachment to a network,
// both given by their identities (ContainerID, NetworkID).
func EndpointObjectID(containerID, networkID string) string {
	return ObjectID(IDKindEndpoint, containerID+"@"+networkID)
}

// ShortID is an ID as lists show it (its first ShortIDLen digits).
func ShortID(id string) string {
	if len(id) > ShortIDLen {
		return id[:ShortIDLen]
	}
	return id
}

// NetnsPath is where netctl mounts an owned container namespace under root.
func NetnsPath(root, project, container string) string {
	return filepath.Join(NetnsDir(root), project, container)
}

// NetnsDir holds the owned container namespaces of every project.
func NetnsDir(root string) string { return filepath.Join(root, "netns") }

// UTSPath is where netctl mounts an owned container's UTS namespace (its
// hostname) under root, beside its network namespace.
func UTSPath(root, project, container string) string {
	return filepath.Join(UTSDir(root), project, container)
}

// UTSDir holds the owned containers' UTS namespaces of every project.
func UTSDir(root string) string { return filepath.Join(root, "uts") }

// BridgeName derives a network's kernel bridge name for the default
// instance (Instance.BridgeName).
func BridgeName(project, network string) string {
	return Instance("").BridgeName(project, network)
}

// HostVethName derives the host end of an endpoint's veth pair for the
// default instance (Instance.HostVethName).
func HostVethName(project, container, network string) string {
	return Instance("").HostVethName(project, container, network)
}

func shortHash(s string, n int) string { return string(appendShortHash(nil, []byte(s), n)) }

// appendShortHash appends the first n (at most 64) hex digits of in's
// SHA-256 to dst. Only the digits kept are encoded: planning derives a
// veth name per endpoint, and the full 64 digits were most of its
// allocation.
func appendShortHash(dst, in []byte, n int) []byte {
	sum := sha256.Sum256(in)
	var digits [2 * sha256.Size]byte
	hex.Encode(digits[:], sum[:(n+1)/2])
	return append(dst, digits[:n]...)
}

// Sysctls netctl sets in the host namespace (never resets: other software
// may rely on them too, and Docker leaves them on as well).
const (
	SysctlIPForward      = "net.ipv4.ip_forward"
	SysctlBridgeNFCallV4 = "net.bridge.bridge-nf-call-iptables"
	// IPv6 forwarding has no per-interface switch that routes: the "all"
	// key turns the host into an IPv6 router (see the README on accept_ra).
	SysctlIPv6Forward    = "net.ipv6.conf.all.forwarding"
	SysctlBridgeNFCallV6 = "net.bridge.bridge-nf-call-ip6tables"
)

// SysctlRouteLocalnet is the key that lets 127.0.0.1 be DNATed out of
// bridge: without it the kernel drops the packets as martians.
func SysctlRouteLocalnet(bridge string) string {
	return "net.ipv4.conf." + bridge + ".route_localnet"
}
