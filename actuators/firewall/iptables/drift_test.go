package iptables

import (
	"strings"
	"testing"
)

// A project chain nothing jumps to any more (nat NETCTL flushed by hand)
// leaves its ports dead: they observe as damaged, and the rewrite puts
// the jump back without touching the chain.
func TestUnjumpedProjectChainIsDamage(t *testing.T) {
	out, err := Render(shop())
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, l := range strings.Split(out, "\n") {
		if !strings.HasPrefix(l, "-A NETCTL ") { // iptables -t nat -F NETCTL
			kept = append(kept, l)
		}
	}
	o := observeText(t, strings.Join(kept, "\n"))
	for key, p := range o.fw.Ports {
		if !p.Damaged {
			t.Errorf("port %s: not damaged with its nat chain unjumped", key)
		}
	}
	s, err := buildScript(o, batchFor("shop", shop()))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s, `-A NETCTL -m comment --comment "netctl:shop" -j NETCTL-P-`) || strings.Contains(s, ":NETCTL-P-") {
		t.Errorf("repair: want the jump back and the chain left alone:\n%s", s)
	}
}

// A RETURN that must come first (a VXLAN opening, a DNS exemption) found
// below a rule it must precede marks its network damaged, and Apply
// moves it back to the top.
func TestMisplacedReturnIsMovedUp(t *testing.T) {
	out, err := Render(shop())
	if err != nil {
		t.Fatal(err)
	}
	// The mesh network's first VXLAN opening moved below its drop, as
	// `iptables -D` then `-A` would leave it.
	var opening string
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if opening == "" && strings.HasPrefix(l, "-A "+chainInput+" -s ") {
			opening = l
			continue
		}
		lines = append(lines, l)
		if strings.HasPrefix(l, "-A "+chainInput+" -d ") {
			lines = append(lines, opening)
		}
	}
	o := observeText(t, strings.Join(lines, "\n"))
	if n := o.fw.Networks["shop/mesh"]; !n.Damaged {
		t.Errorf("mesh: not damaged with an opening below its drop")
	}
	if n := o.fw.Networks["shop/backend"]; n.Damaged {
		t.Errorf("backend: damaged, but nothing of it moved")
	}
	s, err := buildScript(o, batchFor("shop", shop()))
	if err != nil {
		t.Fatal(err)
	}
	spec := strings.TrimPrefix(opening, "-A "+chainInput+" ")
	if !strings.Contains(s, "-D "+chainInput+" "+spec+"\n") || !strings.Contains(s, "-I "+chainInput+" 1 "+spec+"\n") {
		t.Errorf("repair: want %q deleted and inserted at the top:\n%s", spec, s)
	}
	// Rendered in order, nothing is misplaced.
	if o := observeText(t, out); o.fw.Networks["shop/mesh"].Damaged || len(o.misplaced) > 0 {
		t.Errorf("the rendered order observes as misplaced: %v", o.misplaced)
	}
}
