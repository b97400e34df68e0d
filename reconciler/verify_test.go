package reconciler

import (
	"testing"
	"time"
)

// The verification's reading of the containers a plan wired starts once
// the last phase that changes links is done, beside the DNS server's
// configuration (and the firewall's batch), not after them.
func TestVerificationReadsLinksBesideTheNamesPhase(t *testing.T) {
	h, _ := newFirewallHarness()
	h.apply(t, parse(t, "shop.yaml", firewallTopo))
	read := func() bool {
		h.links.mu.Lock()
		defer h.links.mu.Unlock()
		for _, s := range h.links.scopes {
			if s["shop/extra"] {
				return true
			}
		}
		return false
	}
	h.names.onEnsure = func() {
		for deadline := time.Now().Add(5 * time.Second); !read(); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Error("the verification's reading of the new container waited for the names phase")
				return
			}
		}
	}
	grown := parse(t, "shop.yaml", firewallTopo+"  extra:\n    networks: [front]\n    ports: [\"9090:90\"]\n")
	res := h.apply(t, grown)
	h.names.onEnsure = nil
	if res.Rounds != 1 || res.Observed.Containers["shop/extra"] == nil || !res.Observed.Containers["shop/extra"].NetnsOK {
		t.Errorf("rounds %d; verified extra: %+v", res.Rounds, res.Observed.Containers["shop/extra"])
	}
	if p := h.plan(t, grown); !p.Empty() {
		t.Errorf("not converged: %d actions left", len(p.Actions))
	}
}

// noAheadHost is a Links whose verification reading must wait (its
// journal is not running yet).
type noAheadHost struct{ *fakeHost }

func (noAheadHost) CanReadAhead() bool { return false }

// Links that cannot read ahead are read once the phases are done.
func TestVerificationWaitsForLinksThatCannotReadAhead(t *testing.T) {
	h, _ := newFirewallHarness()
	h.r.Links = noAheadHost{h.links}
	h.apply(t, parse(t, "shop.yaml", firewallTopo))
	readEarly := false
	h.names.onEnsure = func() {
		// Long enough for a reading taken ahead to show.
		for deadline := time.Now().Add(300 * time.Millisecond); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			h.links.mu.Lock()
			for _, s := range h.links.scopes {
				readEarly = readEarly || s["shop/extra"]
			}
			h.links.mu.Unlock()
			if readEarly {
				return
			}
		}
	}
	grown := parse(t, "shop.yaml", firewallTopo+"  extra:\n    networks: [front]\n")
	if res := h.apply(t, grown); res.Rounds != 1 || readEarly {
		t.Errorf("rounds %d; read before the names phase: %v", res.Rounds, readEarly)
	}
}
