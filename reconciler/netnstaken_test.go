package reconciler

import (
	"errors"
	"strings"
	"testing"

	"github.com/netctl/netctl/model"
)

// A netns_path naming netctl's own namespace, or a container namespace
// netctl owns, is refused at its position before anything is planned; a path the probe cannot read is left to the
// apply, and without a host (diff --from) nothing is probed.
func TestTakenNetnsPathIsRefused(t *testing.T) {
	topo := parse(t, "shop.yaml", `name: shop
networks: {lan: {}}
containers:
  side:
    netns_path: /proc/self/ns/net
    networks: [lan]
  gone:
    netns_path: /proc/999999/ns/net
    networks: [lan]
  other:
    netns_path: /run/netns/other
    networks: [lan]
  free:
    netns_path: /run/netns/free
    networks: [lan]
`)
	probe := func(path string) (string, error) {
		switch path {
		case "/proc/self/ns/net":
			return "netctl's own network namespace (the host's)", nil
		case "/run/netns/other":
			return "the namespace of container blog/web, which netctl owns", nil
		case "/proc/999999/ns/net":
			return "", errors.New("no such file or directory")
		}
		return "", nil
	}
	_, err := Desired(topo, model.NewState(), Options{Root: testRoot, NetnsTaken: probe})
	want := `shop.yaml:5:5: container "side": netns_path /proc/self/ns/net is netctl's own network namespace (the host's): a container needs a namespace of its own
shop.yaml:11:5: container "other": netns_path /run/netns/other is the namespace of container blog/web, which netctl owns: a container needs a namespace of its own`
	if err == nil || err.Error() != want {
		t.Fatalf("error: %v\nwant: %s", err, want)
	}
	if _, err := Desired(topo, model.NewState(), Options{Root: testRoot}); err != nil && strings.Contains(err.Error(), "netns_path") {
		t.Errorf("without a host probe: %v", err)
	}
}
