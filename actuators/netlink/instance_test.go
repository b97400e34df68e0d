package netlink

import (
	"testing"

	"github.com/netctl/netctl/model"
)

// Two instances (--roots) in one network namespace (issue 10, item 2):
// each observes only its own marks, so the other's bridges are not its
// networks and the other's veths never look like leftovers to delete.
func TestInstancesIgnoreEachOther(t *testing.T) {
	s := newSandbox(t)
	n := s.network("p", "net", "nct-inst-a", "172.21.0.1/24")
	if err := s.links.EnsureBridge(t.Context(), n); err != nil {
		t.Fatal(err)
	}
	c := s.container("p", "c")
	s.wire(c, n, endpoint(n, "eth0", "nct-inst-v", "172.21.0.2"))
	// The same links seen by another instance: nothing of theirs.
	s.links.inst = model.Instance("0a1b2c3d")
	st, err := s.links.Observe(t.Context(), nil)
	s.links.inst = ""
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Networks) != 0 {
		t.Errorf("another instance sees networks %v", st.SortedNetworkIDs())
	}
	for id, c := range st.Containers {
		if len(c.Endpoints) > 0 {
			t.Errorf("another instance sees endpoints of %s: %+v", id, c.Endpoints)
		}
	}
	// The owner still sees it all.
	st, err = s.links.Observe(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Networks[n.ID()] == nil || len(st.Containers[c.ID()].Endpoints) != 1 {
		t.Errorf("the owner lost its objects: %+v", st.Containers[c.ID()])
	}
}
