package dns

import (
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"reflect"
	"testing"

	"github.com/rs/zerolog"

	"github.com/netctl/netctl/model"
)

// Observe takes the configuration it knows for a file that hashes the
// same, and decodes any other content: an edit by anyone is seen.
func TestObserveDecodesOnlyWhatItDoesNotKnow(t *testing.T) {
	root := t.TempDir()
	if err := os.Chmod(root, 0o700); err != nil {
		t.Fatal(err)
	}
	m := NewManager(root, nil, zerolog.Nop())
	if err := prepareDir(root); err != nil {
		t.Fatal(err)
	}
	write := func(cfg *model.DNS) []byte {
		t.Helper()
		b, err := json.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, '\n')
		if err := os.WriteFile(projectPath(root, cfg.Project), b, 0o600); err != nil {
			t.Fatal(err)
		}
		return b
	}
	observe := func() *model.DNS {
		t.Helper()
		st := &model.State{}
		if err := m.Observe(context.Background(), st); err != nil {
			t.Fatal(err)
		}
		d := st.DNS["shop"]
		if d == nil || d.Serving || d.Problem != "not running" {
			t.Fatalf("observed %+v", d)
		}
		d.Problem = ""
		return d
	}
	one := &model.DNS{Project: "shop", Networks: []model.DNSNetwork{{ID: "shop/front", Bridge: "br-front",
		Subnet: netip.MustParsePrefix("172.18.0.0/16"), Gateway: netip.MustParseAddr("172.18.0.1"),
		Records: []model.DNSRecord{{Container: "web", Addr: netip.MustParseAddr("172.18.0.2"), Names: []string{"web"}}}}}}
	write(one)
	if got := observe(); !reflect.DeepEqual(got, one) {
		t.Errorf("decoded %+v, want %+v", got, one)
	}

	// Edited behind its back: decoded again.
	two := *one
	two.Networks = []model.DNSNetwork{one.Networks[0]}
	two.Networks[0].Records = nil
	write(&two)
	if got := observe(); !reflect.DeepEqual(got, &two) {
		t.Errorf("after an edit: %+v, want %+v", got, &two)
	}

	// What it wrote itself (EnsureDNS remembers it) is not decoded: a
	// configuration remembered for these very bytes is what comes back,
	// and the caller's copy is not the one it hands out.
	b := write(one)
	known := *one
	known.Clients = []model.DNSClient{{Container: "remembered"}}
	m.remember(hash(b), &known)
	got := observe()
	if !reflect.DeepEqual(got, &known) {
		t.Errorf("known configuration not taken: %+v", got)
	}
	got.Project = "changed"
	if again := observe(); again.Project != "shop" {
		t.Errorf("a caller's change leaked into the known configuration: %+v", again)
	}
}
