package integration

import (
	"strings"
	"testing"
	"time"

	"github.com/netctl/netctl/internal/sandbox"
)

// A hand-flushed DNAT chain (iptables: nat NETCTL, which holds the
// projects' jumps; nftables: publish, or the map of ports) is drift: diff shows it, apply puts
// the rules back and the published port serves again.
func TestFlushedDNATChainIsRepaired(t *testing.T) {
	h := sandbox.New(t)
	file := h.WriteFile(t, "flushed.yaml", `networks:
  lan: {subnet: 172.21.60.0/24}
containers:
  web:
    networks: [lan]
    ports: ["8080:80"]
`)
	h.MustNetctl(t, "apply", "-f", file)
	serve(t, h.ContainerNetns("flushed", "web"), "tcp", 80, "web")
	serves := func() bool {
		got, err := request(h.NetnsPath(), "tcp", "127.0.0.1:8080", 2*time.Second)
		return err == nil && strings.HasPrefix(got, "web")
	}
	if !serves() {
		t.Fatal("published 8080 does not serve after apply")
	}

	flushes := [][]string{{sandbox.Iptables("iptables"), "-t", "nat", "-F", "NETCTL"}}
	if sandbox.Firewall() == "nftables" {
		flushes = [][]string{{"nft", "flush", "chain", "inet", "netctl", "publish"}, {"nft", "flush", "map", "inet", "netctl", "ports-any"}}
	}
	for _, flush := range flushes {
		flushAndRepair(t, h, file, flush, serves)
	}
}

func flushAndRepair(t *testing.T, h *sandbox.Host, file string, flush []string, serves func() bool) {
	t.Helper()
	if r := h.InHost(flush...); r.Code != 0 {
		t.Fatalf("%v: %s", flush, r)
	}
	if serves() {
		t.Fatalf("8080 still serves after %v: the test flushes the wrong chain", flush)
	}
	if r := h.Netctl("diff", "-f", file); r.Code != 2 {
		t.Errorf("diff after %v: want exit 2 (changes pending), got %s", flush, r)
	}
	h.MustNetctl(t, "apply", "-f", file)
	if !serves() {
		t.Errorf("published 8080 does not serve after the apply repairing %v", flush)
	}
	if r := h.Netctl("diff", "-f", file); r.Code != 0 {
		t.Errorf("diff after the repair of %v: want exit 0, got %s", flush, r)
	}
}
