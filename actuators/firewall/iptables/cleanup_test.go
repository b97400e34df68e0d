package iptables

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/netctl/netctl/internal/golden"
	"github.com/netctl/netctl/model"
)

// A teardown removes every netctl chain and jump, and nothing else: the
// hand-made rules and chains of the same tables stay.
func TestTeardownGolden(t *testing.T) {
	out, err := Render(shop())
	if err != nil {
		t.Fatal(err)
	}
	out = strings.Replace(out, ":FORWARD ACCEPT [0:0]\n",
		":FORWARD ACCEPT [0:0]\n:HANDMADE - [0:0]\n-A FORWARD -s 10.9.9.9/32 -m comment --comment \"hand made\" -j DROP\n-A FORWARD -j HANDMADE\n", 1)
	o := observeText(t, out)
	if !o.fw.Installed {
		t.Fatal("rendered rules not reported installed")
	}
	s, err := buildScript(o, &model.FirewallBatch{Teardown: true, Project: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	golden.File(t, filepath.Join("testdata", "shop-teardown.restore"), s)
	if strings.Contains(s, "HANDMADE") || strings.Contains(s, "10.9.9.9") {
		t.Errorf("teardown touches foreign rules:\n%s", s)
	}
	for _, c := range []string{chainForward, chainCT, chainProjects, chainIso1, chainIso2, chainNetworks, chainDNAT, chainPost, chainRaw, projectChain("", "shop"), projectChain("", "blog")} {
		if !strings.Contains(s, "-X "+c+"\n") {
			t.Errorf("teardown does not remove %s:\n%s", c, s)
		}
	}
}

// What a teardown leaves is not installed, so it is not planned again:
// nothing at all, or one of netctl's chains a foreign rule jumps to, which
// it empties but cannot remove.
func TestNothingInstalledAfterTeardown(t *testing.T) {
	if o := observeText(t, emptySave); o.fw.Installed {
		t.Error("empty tables reported installed")
	}
	kept := `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER-USER - [0:0]
:NETCTL-FORWARD - [0:0]
-A DOCKER-USER -j NETCTL-FORWARD
COMMIT
`
	o := observeText(t, kept)
	if o.fw.Installed {
		t.Error("an empty chain a foreign rule refers to reported installed")
	}
	full := strings.Replace(kept, "COMMIT", "-A NETCTL-FORWARD -m comment --comment netctl -j NETCTL-CT\nCOMMIT", 1)
	o = observeText(t, full)
	if !o.fw.Installed {
		t.Fatal("a chain holding rules not reported installed")
	}
	s, err := buildScript(o, &model.FirewallBatch{Teardown: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := "*filter\n:NETCTL-FORWARD - [0:0]\nCOMMIT\n"; s != want {
		t.Errorf("teardown with a foreign reference:\n%s\nwant:\n%s", s, want)
	}
}
