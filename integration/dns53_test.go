package integration

import (
	"strings"
	"testing"
	"time"

	"github.com/netctl/netctl/internal/sandbox"
)

// A container publishing 53 on every host address does not take the
// other containers' name lookups (netctl's DNS listens on each gateway's
// port 53): names keep resolving, over UDP and TCP, on its network and on
// another, while the published port still serves the host.
func TestPublishedDNSPortKeepsNamesResolving(t *testing.T) {
	h := sandbox.New(t)
	file := h.WriteFile(t, "dns53.yaml", `networks:
  lan: {subnet: 172.21.53.0/24}
  other: {subnet: 172.21.54.0/24}
containers:
  resolver:
    networks: [lan]
    ports: ["53:53/udp", "53:53/tcp"]
  client:
    networks: [lan]
  peer:
    networks:
      lan: {aliases: [buddy]}
  far:
    networks: [other]
  near:
    networks: [other]
`)
	h.MustNetctl(t, "apply", "-f", file)
	serve(t, h.ContainerNetns("dns53", "resolver"), "udp", 53, "published")
	serve(t, h.ContainerNetns("dns53", "resolver"), "tcp", 53, "published")

	peer, near := addr(t, h, "peer", "lan"), addr(t, h, "near", "other")
	for _, q := range []struct{ from, name, want string }{
		{"client", "peer", peer}, {"client", "buddy", peer}, {"far", "near", near},
	} {
		for _, transport := range []string{"+notcp", "+tcp"} {
			r := h.Netctl("exec", q.from, "--", "dig", "+time=2", "+tries=2", "+short", transport, q.name)
			if strings.TrimSpace(r.Stdout) != q.want {
				t.Errorf("%s resolving %s (%s) while 53 is published: %s, want %s", q.from, q.name, transport, r, q.want)
			}
		}
	}
	for _, proto := range []string{"udp", "tcp"} {
		if got, err := request(h.NetnsPath(), proto, "127.0.0.1:53", 3*time.Second); err != nil || !strings.HasPrefix(got, "published") {
			t.Errorf("published 53/%s from the host: %q, %v", proto, got, err)
		}
	}
	// The exemption is the asking container's own gateway alone: through
	// another address of the host (here the other network's gateway) the
	// published port still serves a container (hairpin).
	hostAddr := gateway(t, h, "other") + ":53"
	if got, err := request(h.ContainerNetns("dns53", "client"), "udp", hostAddr, 3*time.Second); err != nil || !strings.HasPrefix(got, "published") {
		t.Errorf("published 53/udp from client through %s: %q, %v", hostAddr, got, err)
	}
}
