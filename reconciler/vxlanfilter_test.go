package reconciler

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/netctl/netctl/model"
)

// An overlay network's firewall object carries its VXLAN filter: this
// node's endpoint, the VNI, and the other nodes of the file; a node leaving
// the file is a change of the filter in the plan, and nothing else.
func TestVXLANFilterFollowsTheNodes(t *testing.T) {
	h, fw := newFirewallHarness()
	h.r.Options.LocalAddrs = holds("10.250.0.2")
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

// An overlay network's firewall object also keeps the other nodes' DNS
// queries to this node's underlay address out of the DNATs (the DNS
// server's peers, see addOverlayNames), following the nodes as the VXLAN
// filter does; a bridge network has no such exemption, and an exemption
// lost from the kernel is planned back.
func TestPeerDNSFollowsTheNodes(t *testing.T) {
	h, fw := newFirewallHarness()
	h.r.Options.LocalAddrs = holds("10.250.0.2")
	h.apply(t, parse(t, "mesh.yaml", overlayFile))

	for _, id := range []string{"mesh/app", "mesh/db"} {
		n := fw.networks[id]
		if n == nil || n.PeerDNS.String() != "udp/tcp 10.250.0.2:53 from 10.250.0.1,10.250.0.3 not DNATed" {
			t.Fatalf("%s's rules = %+v", id, n)
		}
	}
	if local := fw.networks["mesh/local"]; local == nil || local.PeerDNS != nil {
		t.Errorf("the bridge network local has a peer DNS exemption: %+v", local)
	}
	if cfg := h.names.cfg["mesh"]; cfg == nil || cfg.Peers == nil || cfg.Peers.Listen != fw.networks["mesh/app"].PeerDNS.Listen ||
		addrList(cfg.Peers.Nodes) != addrList(fw.networks["mesh/app"].PeerDNS.Peers) {
		t.Errorf("the DNS server listens elsewhere than the exemption: %+v", cfg)
	}

	fw.networks["mesh/app"].PeerDNS = nil
	var buf bytes.Buffer
	if err := h.plan(t, parse(t, "mesh.yaml", overlayFile)).WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "peer dns: (none) -> udp/tcp 10.250.0.2:53 from 10.250.0.1,10.250.0.3 not DNATed") {
		t.Errorf("plan without app's exemption:\n%s", buf.String())
	}
	h.apply(t, parse(t, "mesh.yaml", overlayFile))

	without := strings.Replace(strings.Replace(overlayFile, "  c: {address: 10.250.0.3}\n", "", 1), "node: c", "node: b", -1)
	buf.Reset()
	if err := h.plan(t, parse(t, "mesh.yaml", without)).WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "peer dns: udp/tcp 10.250.0.2:53 from 10.250.0.1,10.250.0.3 not DNATed -> udp/tcp 10.250.0.2:53 from 10.250.0.1 not DNATed") {
		t.Errorf("plan without node c:\n%s", buf.String())
	}
}
