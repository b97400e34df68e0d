package integration

import (
	"strings"
	"testing"

	"github.com/netctl/netctl/internal/sandbox"
)

// Overlapping subnets across projects and with the host's routes (issue
// 10, item 3): the second project asking for a subnet the first holds, or
// one a route of the host covers, is refused before anything changes,
// naming the clash at its position.
func TestOverlappingSubnetsAreRefused(t *testing.T) {
	h := sandbox.New(t)
	topo := func(name, subnet string) string {
		return "name: " + name + "\nnetworks:\n  n: {subnet: " + subnet + "}\ncontainers:\n  c: {networks: [n]}\n"
	}
	h.MustNetctl(t, "apply", "-f", h.WriteFile(t, "one.yaml", topo("one", "172.26.0.0/16")))
	before := hostLinks(t, h)

	r := h.Netctl("apply", "-f", h.WriteFile(t, "two.yaml", topo("two", "172.26.0.0/16")))
	if r.Code != 1 || !strings.Contains(r.Stderr, "two.yaml:3:7: network \"n\": subnet 172.26.0.0/16 overlaps network one/n (172.26.0.0/16)") {
		t.Errorf("second project on the same subnet: exit %d\n%s", r.Code, r.Stderr)
	}
	if got := hostLinks(t, h); got != before {
		t.Errorf("the refused apply changed links:\n%s", diffLines(before, got))
	}

	if r := h.InHost("ip", "route", "add", "10.250.64.0/18", "dev", "lo"); r.Code != 0 {
		t.Fatal(r)
	}
	r = h.Netctl("apply", "-f", h.WriteFile(t, "three.yaml", topo("three", "10.250.70.0/24")))
	if r.Code != 1 || !strings.Contains(r.Stderr, "overlaps the host route 10.250.64.0/18") {
		t.Errorf("subnet under a host route: exit %d\n%s", r.Code, r.Stderr)
	}
	// diff refuses the same way, and the first project is untouched.
	if r := h.Netctl("diff", "-f", h.WriteFile(t, "two.yaml", topo("two", "172.26.5.0/24"))); r.Code != 1 {
		t.Errorf("diff of a clashing file: %s", r)
	}
	if r := h.Netctl("diff", "-f", h.WriteFile(t, "one.yaml", topo("one", "172.26.0.0/16"))); r.Code != 0 {
		t.Errorf("the first project after the refusals: %s", r)
	}
}

// A fixed host port a program of the host listens on (issue 10, item
// 10): refused like Docker's "address already in use", before any change,
// rather than published over the program. A port the project already
// publishes stays when a program takes it afterwards.
func TestPortInUseIsRefused(t *testing.T) {
	h := sandbox.New(t)
	occupy(t, h, "8090")
	file := h.WriteFile(t, "p.yaml", "name: p\nnetworks:\n  n: {}\ncontainers:\n  web:\n    networks: [n]\n    ports: [\"8090:80\"]\n")
	r := h.Netctl("apply", "-f", file)
	if r.Code != 1 || !strings.Contains(r.Stderr, `p.yaml:7:13: container "web": ports "8090:80": host port 8090/tcp is in use by a program listening on 0.0.0.0:8090: address already in use`) {
		t.Errorf("apply over a listening program: exit %d\n%s", r.Code, r.Stderr)
	}
	if links := hostLinks(t, h); strings.Contains(links, "br-") {
		t.Errorf("the refused apply made links:\n%s", links)
	}
	// Published first, taken by a program afterwards: kept.
	h.WriteFile(t, "p.yaml", "name: p\nnetworks:\n  n: {}\ncontainers:\n  web:\n    networks: [n]\n    ports: [\"8092:80\"]\n")
	h.MustNetctl(t, "apply", "-f", file)
	occupy(t, h, "8092")
	h.MustNetctl(t, "apply", "-f", file)
	if r := h.Netctl("diff", "-f", file); r.Code != 0 {
		t.Errorf("diff: %s", r)
	}
}
