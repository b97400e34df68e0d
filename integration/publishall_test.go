package integration

import (
	"strings"
	"testing"

	"github.com/netctl/netctl/internal/sandbox"
)

// inspect shows HostConfig.PublishAllPorts as docker inspect does: the
// file's publish_all, following it when it changes.
func TestInspectPublishAllPorts(t *testing.T) {
	h := sandbox.New(t)
	topo := `networks:
  lan: {subnet: 172.21.70.0/24}
containers:
  all:
    networks: [lan]
    expose: [80]
    publish_all: true
  some:
    networks: [lan]
    ports: ["8080:80"]
`
	file := h.WriteFile(t, "pall.yaml", topo)
	h.MustNetctl(t, "apply", "-f", file)
	get := func(name string) string {
		return strings.TrimSpace(h.MustNetctl(t, "inspect", name, "--format", "{{.HostConfig.PublishAllPorts}} {{len .NetworkSettings.Ports}}").Stdout)
	}
	if got := get("all"); got != "true 1" {
		t.Errorf("inspect all: PublishAllPorts and ports %q, want \"true 1\"", got)
	}
	if got := get("some"); got != "false 1" {
		t.Errorf("inspect some: PublishAllPorts and ports %q, want \"false 1\"", got)
	}
	h.WriteFile(t, "pall.yaml", strings.Replace(topo, "publish_all: true", "publish_all: false", 1))
	h.MustNetctl(t, "apply", "-f", file)
	if got := get("all"); got != "false 0" {
		t.Errorf("inspect all after publish_all: false: %q, want \"false 0\"", got)
	}
	if r := h.Netctl("diff", "-f", file); r.Code != 0 {
		t.Errorf("diff after apply: %s", r)
	}
}
