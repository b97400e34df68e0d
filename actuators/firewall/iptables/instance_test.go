package iptables

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/netctl/netctl/model"
)

// Two instances (--roots) in one namespace share the fixed chains (issue
// 10, item 2): each reads back only its own objects, never counts the
// other's rules as stray, and a teardown waits for the other's to go.
func TestInstancesShareTheChains(t *testing.T) {
	other := model.Instance("0a1b2c3d")
	theirs := shop() // the same projects, networks and ports, another root
	n := theirs.Networks["/bridge"]
	n.Bridge, n.Subnet = "nctl-0a1b2c3d", prefix("172.20.0.0/16")
	text, err := render(map[model.Instance]*model.Firewall{"": shop(), other: theirs}, false)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, `"netctl@0a1b2c3d::bridge nctl-0a1b2c3d 172.20.0.0/16"`) {
		t.Fatalf("the other instance's comments:\n%s", text)
	}
	for _, inst := range []model.Instance{"", other} {
		o := observeAs(t, text, inst)
		want := shop()
		if inst == other {
			want = theirs
		}
		if len(o.fw.Stray) > 0 || !o.fw.OtherInstances {
			t.Errorf("instance %q: strays %v, others seen %v", inst, o.fw.Stray, o.fw.OtherInstances)
		}
		if len(o.fw.Networks) != len(want.Networks) || len(o.fw.Ports) != len(want.Ports) || len(o.fw.Links) != len(want.Links) {
			t.Errorf("instance %q reads back %d networks, %d ports, %d links", inst, len(o.fw.Networks), len(o.fw.Ports), len(o.fw.Links))
		}
		for id, n := range want.Networks {
			if got := o.fw.Networks[id]; got == nil || !got.Equal(n) || got.Damaged {
				t.Errorf("instance %q: network %s read back as %+v", inst, id, got)
			}
		}
		// Planning its own objects again writes nothing.
		if s, err := buildScript(o, batchFor("shop", want)); err != nil || s != "" {
			t.Errorf("instance %q re-plans:\n%s%v", inst, s, err)
		}
	}
	// The default instance alone: its rules are all there is.
	alone, err := Render(shop())
	if err != nil {
		t.Fatal(err)
	}
	if o := observeAs(t, alone, ""); o.fw.OtherInstances {
		t.Errorf("another instance seen where there is none")
	}
}

func observeAs(t *testing.T, text string, inst model.Instance) *observation {
	t.Helper()
	d, err := parseSave(text)
	if err != nil {
		t.Fatal(err)
	}
	return classify(d, inst, false)
}

// The backend writes its instance's comments and chains.
func TestBackendWritesItsInstance(t *testing.T) {
	b, restored := fakeTools(t, emptySave)
	b.inst = "0a1b2c3d"
	if err := b.Apply(context.Background(), batchFor("shop", shop())); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(restored)
	if strings.Contains(string(got), `"netctl:`) || !strings.Contains(string(got), `"netctl@0a1b2c3d:shop:web `) ||
		strings.Contains(string(got), projectChain("", "shop")) {
		t.Errorf("restore input of instance 0a1b2c3d:\n%s", got)
	}
}
