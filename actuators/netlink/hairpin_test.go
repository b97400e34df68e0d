package netlink

import (
	"context"
	"strings"
	"testing"

	"github.com/netctl/netctl/model"
)

// Hairpin mode is an endpoint's: set with the endpoint when it is made,
// read back by the full and the scoped observation, switched back on by
// EnsureEndpoint after a hand change, and off when the endpoint no longer
// wants it.
func TestEndpointHairpinMode(t *testing.T) {
	s := newSandbox(t)
	n := s.network("shop", "front", "nct-br0", "10.250.1.0/24")
	s.ensureBridge(n)
	web, db := s.container("shop", "web"), s.container("shop", "db")
	webEP := endpoint(n, "eth0", "nct-web0", "10.250.1.10")
	webEP.Hairpin = true
	s.wire(web, n, webEP)
	s.wire(db, n, endpoint(n, "eth0", "nct-db0", "10.250.1.11"))

	// observed returns web's and db's modes, by a full and by a scoped
	// observation.
	observed := func(scope model.Scope) (webOn, dbOn bool) {
		t.Helper()
		st, err := s.links.Observe(context.Background(), scope)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []*model.Container{web, db} {
			if oc := st.Containers[c.ID()]; oc == nil || len(oc.Endpoints) != 1 || !oc.Endpoints[0].HostOK {
				t.Fatalf("%s observed as %+v", c.ID(), oc)
			}
		}
		return st.Containers[web.ID()].Endpoints[0].Hairpin, st.Containers[db.ID()].Endpoints[0].Hairpin
	}
	both := model.Scope{web.ID(): true, db.ID(): true}
	check := func(when string, wantWeb bool) {
		t.Helper()
		for _, scope := range []model.Scope{nil, both} {
			if w, d := observed(scope); w != wantWeb || d {
				t.Errorf("%s (scope %v): hairpin web %v db %v, want web %v db false", when, scope, w, d, wantWeb)
			}
		}
		kernel := strings.Contains(s.mustIn(s.hostPath, "ip", "-d", "link", "show", "dev", "nct-web0"), "hairpin on")
		if kernel != wantWeb {
			t.Errorf("%s: ip -d link shows hairpin on: %v, want %v", when, kernel, wantWeb)
		}
	}
	check("created", true)

	s.mustIn(s.hostPath, "ip", "link", "set", "dev", "nct-web0", "type", "bridge_slave", "hairpin", "off")
	check("switched off by hand", false)
	if err := s.links.EnsureEndpoint(context.Background(), web, n, webEP); err != nil {
		t.Fatal(err)
	}
	check("repaired", true)

	webEP.Hairpin = false
	if err := s.links.EnsureEndpoint(context.Background(), web, n, webEP); err != nil {
		t.Fatal(err)
	}
	check("no longer wanted", false)
}
