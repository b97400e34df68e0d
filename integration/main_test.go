// Package integration runs the netctl binary as a user would, inside a
// sandbox host network namespace, and asserts what a user would see:
// pings that pass or fail, kernel objects present or gone.
package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netctl/netctl/internal/sandbox"
)

func TestMain(m *testing.M) { sandbox.Main(m) }

// example returns the content of a file under examples/.
func example(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// addr returns a container's address on a network, from netctl inspect.
func addr(t *testing.T, h *sandbox.Host, container, network string) string {
	t.Helper()
	res := h.MustNetctl(t, "inspect", container, "--format", "{{(index .NetworkSettings.Networks \""+network+"\").IPAddress}}")
	a := strings.TrimSpace(res.Stdout)
	if a == "" {
		t.Fatalf("%s has no address on %s", container, network)
	}
	return a
}

// linkField reads one field of `ip -j link show DEV` inside a namespace.
func hostLinks(t *testing.T, h *sandbox.Host) string {
	t.Helper()
	return h.InHost("ip", "-br", "link").Stdout
}
