package reconciler

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/netctl/netctl/model"
)

// An overlay network's firewall object carries its VXLAN filter: this
// node's endpoint, the VNI, and the other nodes of the file; a node leaving
// the file is a change of the filter in the plan, and nothing else.
func TestVXLANFilterFollowsTheNodes(t *testing.T) {
	h, fw := newFirewallHarness()
	h.r.Options.LocalAddrs = func() (map[netip.Addr]int, error) {
		return map[netip.Addr]int{netip.MustParseAddr("10.250.0.2"): 1500}, nil
	}
	h.apply(t, parse(t, "mesh.yaml", overlayFile))

	app, local := fw.networks["mesh/app"], fw.networks["mesh/local"]
	if app == nil || app.VXLAN == nil || app.VXLAN.String() != fmt.Sprintf("vni %d udp", model.DerivedVNI("mesh", "app"))+" 10.250.0.2:4789 only from 10.250.0.1,10.250.0.3" {
		t.Fatalf("app's rules = %+v", app)
	}
	if db := fw.networks["mesh/db"]; db == nil || db.VXLAN == nil || db.VXLAN.VNI != 4242 {
		t.Errorf("db's rules = %+v", db)
	}
	if local == nil || local.VXLAN != nil {
		t.Errorf("the bridge network local has a VXLAN filter: %+v", local)
	}
	if p := h.plan(t, parse(t, "mesh.yaml", overlayFile)); !p.Empty() {
		t.Errorf("second plan not empty: %+v", p.Actions)
	}

	without := strings.Replace(strings.Replace(overlayFile, "  c: {address: 10.250.0.3}\n", "", 1), "node: c", "node: b", -1)
	p := h.plan(t, parse(t, "mesh.yaml", without))
	var buf bytes.Buffer
	if err := p.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "vxlan filter: vni 4242 udp 10.250.0.2:4789 only from 10.250.0.1,10.250.0.3 -> vni 4242 udp 10.250.0.2:4789 only from 10.250.0.1") {
		t.Errorf("plan without node c:\n%s", buf.String())
	}
}
