package reconciler

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// Hairpin mode is desired on exactly the endpoint a container's published
// ports lead to, and kept as a property of that endpoint: a port switched
// off by hand is an endpoint update the plan explains, and a container
// that no longer publishes has it turned off again.
func TestHairpinModeOfEndpoints(t *testing.T) {
	h, _ := newFirewallHarness()
	topo := parse(t, "shop.yaml", firewallTopo)
	h.apply(t, topo)
	web := h.container(t, "shop/web")
	if !endpointOf(t, web, "shop/front").Hairpin || endpointOf(t, web, "shop/back").Hairpin {
		t.Fatalf("web: hairpin on front %v, back %v; want on the publishing endpoint only",
			endpointOf(t, web, "shop/front").Hairpin, endpointOf(t, web, "shop/back").Hairpin)
	}
	for _, id := range []string{"shop/db", "shop/app"} {
		for _, ep := range h.container(t, id).Endpoints {
			if ep.Hairpin {
				t.Errorf("%s on %s: hairpin on without published ports", id, ep.Network)
			}
		}
	}

	// Switched off by hand: one endpoint update, which turns it on.
	endpointOf(t, web, "shop/front").Hairpin = false
	p := h.plan(t, topo)
	a := onlyAction(t, p)
	if a.Op != OpUpdate || a.Kind != KindEndpoint || a.Name != "web/front" ||
		!slices.Equal(a.Details, []string{"hairpin mode: off -> on (the container reaches its own published ports through the host)"}) {
		t.Errorf("plan = %+v", a)
	}
	var js bytes.Buffer
	must(t, p.WriteJSON(&js))
	var doc struct {
		Actions []struct {
			Before, After map[string]any
			Changed       []string
		}
	}
	must(t, json.Unmarshal(js.Bytes(), &doc))
	if len(doc.Actions) != 1 || !slices.Equal(doc.Actions[0].Changed, []string{"hairpin"}) ||
		doc.Actions[0].Before["hairpin"] != false || doc.Actions[0].After["hairpin"] != true {
		t.Errorf("JSON plan:\n%s", js.String())
	}
	h.apply(t, topo)
	if !endpointOf(t, h.container(t, "shop/web"), "shop/front").Hairpin {
		t.Error("apply did not turn hairpin mode back on")
	}

	// No published ports any more: off again, with the port rules gone.
	unpublished := strings.Replace(firewallTopo, `    ports: ["8080:80", "127.0.0.1:8443:443", "53:53/udp"]`+"\n", "", 1)
	p = h.plan(t, parse(t, "shop.yaml", unpublished))
	i := slices.IndexFunc(p.Actions, func(a *Action) bool { return a.Kind == KindEndpoint })
	if i < 0 || p.Actions[i].Name != "web/front" ||
		!slices.Equal(p.Actions[i].Details, []string{"hairpin mode: on -> off (no published ports lead to this endpoint)"}) {
		t.Errorf("plan without ports: %+v", p.Actions)
	}
	h.apply(t, parse(t, "shop.yaml", unpublished))
	if endpointOf(t, h.container(t, "shop/web"), "shop/front").Hairpin {
		t.Error("hairpin mode still on without published ports")
	}
}

func onlyAction(t *testing.T, p *Plan) *Action {
	t.Helper()
	if len(p.Actions) != 1 {
		var text bytes.Buffer
		must(t, p.WriteText(&text))
		t.Fatalf("want one action, plan:\n%s", text.String())
	}
	return p.Actions[0]
}
