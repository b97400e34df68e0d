package integration

import (
	"encoding/binary"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netctl/netctl/internal/sandbox"
	"github.com/netctl/netctl/model"
)

// vxlanFrame is a VXLAN packet's UDP payload: the header with vni, then an
// inner Ethernet broadcast (an ARP request) from the MAC src. A node that
// takes it in learns src on its VXLAN device.
func vxlanFrame(vni uint32, src net.HardwareAddr) []byte {
	b := make([]byte, 8, 8+14+28)
	b[0] = 0x08 // the I flag: the VNI is valid
	binary.BigEndian.PutUint32(b[4:], vni<<8)
	b = append(b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	b = append(b, src...)
	b = append(b, 0x08, 0x06)                // ARP
	b = append(b, 0, 1, 0x08, 0, 6, 4, 0, 1) // Ethernet/IPv4 request
	b = append(b, src...)                    // sender MAC
	b = append(b, 10, 60, 255, 254)          // sender IP
	b = append(b, 0, 0, 0, 0, 0, 0)          // target MAC
	return append(b, 10, 60, 255, 253)       // target IP
}

// sendVXLAN sends a few copies of payload from the namespace at path to
// UDP dst.
func sendVXLAN(t *testing.T, path, dst string, payload []byte) {
	t.Helper()
	err := inNetns(path, func() error {
		conn, err := net.Dial("udp", dst)
		if err != nil {
			return err
		}
		defer conn.Close()
		for range 3 {
			if _, err := conn.Write(payload); err != nil {
				return err
			}
			time.Sleep(20 * time.Millisecond)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("send VXLAN from %s to %s: %v", path, dst, err)
	}
}

// learned reports whether host h's VXLAN device dev has learned mac
// (from a frame it decapsulated), waiting up to a second for it.
func learned(h *sandbox.Host, dev string, mac net.HardwareAddr) bool {
	for range 10 {
		if strings.Contains(h.InHost("bridge", "fdb", "show", "dev", dev).Stdout, mac.String()) {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

// Only the file's nodes reach a node's VXLAN endpoint: a fourth host on
// the underlay that sends a well-formed VXLAN frame for the overlay's VNI
// to node a is dropped before the kernel decapsulates it (a never learns
// its inner MAC), while the same frame from node b gets in, and the
// overlay keeps working between nodes.
func TestOverlayVXLANFilter(t *testing.T) {
	c := newOverlayCluster(t)
	c.applyAll(t)
	a, b := c.Hosts[0], c.Hosts[1]
	if !a.Ping(t, "mesh", "web", ctrAddr(t, b, "api", "eth0")) {
		t.Fatal("web (a) cannot reach api (b) across the filtered overlay")
	}

	vni, vx := model.DerivedVNI("mesh", "app"), model.VXLANName("mesh", "app")
	intruder := a.AddNetns(t, "intruder")
	c.Plug(t, filepath.Base(intruder), "eth0", "10.250.0.100/24")
	strange := net.HardwareAddr{0x02, 0xde, 0xad, 0xbe, 0xef, 0x01}
	sendVXLAN(t, intruder, c.Addrs[0]+":4789", vxlanFrame(vni, strange))
	if learned(a, vx, strange) {
		t.Errorf("node a took in VXLAN from 10.250.0.100, which is no node of the file:\n%s", a.InHost("bridge", "fdb", "show", "dev", vx).Stdout)
	}
	// The control: the same frame from a node is decapsulated.
	friendly := net.HardwareAddr{0x02, 0xde, 0xad, 0xbe, 0xef, 0x02}
	sendVXLAN(t, b.NetnsPath(), c.Addrs[0]+":4789", vxlanFrame(vni, friendly))
	if !learned(a, vx, friendly) {
		t.Errorf("node a did not take in VXLAN from node b (the test's frame is wrong, or the filter drops peers)")
	}
	if !a.Ping(t, "mesh", "web", ctrAddr(t, b, "api", "eth0")) {
		t.Error("web (a) cannot reach api (b) after the test's frames")
	}

	// The filter follows the file's nodes: with node c gone from the
	// file, c's underlay address is a stranger to a.
	c.write(t, strings.Replace(overlayTopo, "node: c}", "node: b}", -1)+c.NodesYAML("a", "b"))
	c.apply(t, 0)
	fromC := net.HardwareAddr{0x02, 0xde, 0xad, 0xbe, 0xef, 0x03}
	sendVXLAN(t, c.Hosts[2].NetnsPath(), c.Addrs[0]+":4789", vxlanFrame(vni, fromC))
	if learned(a, vx, fromC) {
		t.Error("node a still takes in VXLAN from 10.250.0.3 after c left the file")
	}
}
