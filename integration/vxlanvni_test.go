package integration

import (
	"net"
	"path/filepath"
	"testing"

	"github.com/netctl/netctl/internal/sandbox"
	"github.com/netctl/netctl/model"
)

// Two projects' overlays on one node, with different nodes: mesh spans a
// and b, duo spans a and c. c is a peer of duo's overlay only: a VXLAN
// frame it sends with mesh's VNI is dropped (a never learns its inner
// MAC on mesh's device), the same frame with duo's VNI gets in. Both
// backends filter per VNI.
func TestVXLANFilterIsPerVNI(t *testing.T) {
	c := sandbox.NewCluster(t, 1)
	a := c.Hosts[0]
	// c: an underlay host at 10.250.0.3; b (10.250.0.2) need not exist.
	nodeC := a.AddNetns(t, "nodec")
	c.Plug(t, filepath.Base(nodeC), "eth0", "10.250.0.3/24")

	mesh := a.WriteFile(t, "mesh.yaml", `networks:
  app: {driver: overlay, subnet: 10.60.0.0/16}
containers:
  web: {networks: [app], node: a}
nodes:
  a: {address: 10.250.0.1}
  b: {address: 10.250.0.2}
`)
	duo := a.WriteFile(t, "duo.yaml", `networks:
  net: {driver: overlay, subnet: 10.62.0.0/16}
containers:
  x: {networks: [net], node: a}
nodes:
  a: {address: 10.250.0.1}
  c: {address: 10.250.0.3}
`)
	a.MustNetctl(t, "--node", "a", "apply", "-f", mesh)
	a.MustNetctl(t, "--node", "a", "apply", "-f", duo)

	intoMesh := net.HardwareAddr{0x02, 0xde, 0xad, 0xbe, 0xef, 0x11}
	sendVXLAN(t, nodeC, "10.250.0.1:4789", vxlanFrame(model.DerivedVNI("mesh", "app"), intoMesh))
	if vx := model.VXLANName("mesh", "app"); learned(a, vx, intoMesh) {
		t.Errorf("node a took in VXLAN for mesh's VNI from 10.250.0.3, a node of duo only:\n%s", a.InHost("bridge", "fdb", "show", "dev", vx).Stdout)
	}
	intoDuo := net.HardwareAddr{0x02, 0xde, 0xad, 0xbe, 0xef, 0x12}
	sendVXLAN(t, nodeC, "10.250.0.1:4789", vxlanFrame(model.DerivedVNI("duo", "net"), intoDuo))
	if vx := model.VXLANName("duo", "net"); !learned(a, vx, intoDuo) {
		t.Errorf("node a did not take in VXLAN for duo's VNI from its node 10.250.0.3 (the test's frame is wrong, or the filter drops peers)")
	}
}
