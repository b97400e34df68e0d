package netlink

import (
	"net/netip"
	"testing"
)

// TestLocalAddrs: every address of the host maps to its link's MTU, read
// link by link (a node recognises itself by its address, and its overlays'
// MTU derives from that link's).
func TestLocalAddrs(t *testing.T) {
	s := newSandbox(t)
	s.mustIn(s.hostPath, "ip", "link", "set", "lo", "up")
	s.mustIn(s.hostPath, "ip", "link", "add", "underlay0", "mtu", "1400", "type", "bridge")
	s.mustIn(s.hostPath, "ip", "addr", "add", "10.250.9.1/24", "dev", "underlay0")
	s.mustIn(s.hostPath, "ip", "addr", "add", "10.250.9.2/24", "dev", "underlay0")
	s.mustIn(s.hostPath, "ip", "link", "add", "other0", "mtu", "9000", "type", "bridge")
	s.mustIn(s.hostPath, "ip", "addr", "add", "fd00:9::1/64", "dev", "other0", "nodad")

	local, err := s.links.LocalAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for addr, mtu := range map[string]int{"10.250.9.1": 1400, "10.250.9.2": 1400, "127.0.0.1": 65536, "fd00:9::1": 9000} {
		if got, ok := local[netip.MustParseAddr(addr)]; !ok || got != mtu {
			t.Errorf("%s: MTU %d (present: %v), want %d", addr, got, ok, mtu)
		}
	}
}
