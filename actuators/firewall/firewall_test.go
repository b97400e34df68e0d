package firewall

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/netctl/netctl/model"
)

// fakeBackend records what it was asked, in order, into a shared log.
type fakeBackend struct {
	log  *[]string
	fw   *model.Firewall
	fail bool
}

func (b *fakeBackend) Name() string { return "fake" }

func (b *fakeBackend) Observe(context.Context) (*model.Firewall, error) {
	*b.log = append(*b.log, "observe")
	return b.fw, nil
}

func (b *fakeBackend) Apply(_ context.Context, batch *model.FirewallBatch) error {
	*b.log = append(*b.log, "rules")
	if b.fail {
		return errors.New("restore failed")
	}
	return nil
}

func newTestFirewall(t *testing.T) (*Firewall, *fakeBackend, *[]string) {
	t.Helper()
	var log []string
	procSys := t.TempDir()
	for path, v := range map[string]string{
		"net/ipv4/ip_forward":                  "0\n",
		"net/ipv4/conf/br-x/route_localnet":    "0\n",
		"net/bridge/bridge-nf-call-iptables":   "1\n",
		"net/ipv4/conf/netctl0/route_localnet": "1\n",
	} {
		p := filepath.Join(procSys, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b := &fakeBackend{log: &log, fw: &model.Firewall{}}
	return &Firewall{backend: b, log: zerolog.Nop(), procSys: procSys}, b, &log
}

func TestSysctlsReadsTheKeysAsked(t *testing.T) {
	f, _, _ := newTestFirewall(t)
	got, err := f.Sysctls(context.Background(), []string{
		model.SysctlIPForward, model.SysctlRouteLocalnet("br-x"), model.SysctlRouteLocalnet("br-gone"),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{model.SysctlIPForward: "0", model.SysctlRouteLocalnet("br-x"): "0"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Sysctls = %v, want %v", got, want)
	}
	if _, err := f.Sysctls(context.Background(), []string{"net.ipv4.conf.../x.route_localnet"}); err == nil {
		t.Error("a key escaping /proc/sys accepted")
	}
}

// Apply: the rules first, then the sysctls (forwarding never goes on
// before isolation is in place); nothing after a failed restore.
func TestApplyOrder(t *testing.T) {
	f, b, log := newTestFirewall(t)
	batch := &model.FirewallBatch{Project: "shop", Base: true, Sysctls: []model.Sysctl{
		{Key: model.SysctlIPForward, Value: "1"},
	}}
	if err := f.Apply(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(*log, ","); got != "rules" {
		t.Errorf("calls %s, want rules", got)
	}
	if v, _, _ := readSysctl(f.procSys, model.SysctlIPForward); v != "1" {
		t.Errorf("ip_forward = %q after Apply", v)
	}

	*log = nil
	b.fail = true
	batch.Sysctls = []model.Sysctl{{Key: model.SysctlRouteLocalnet("br-x"), Value: "1"}}
	if err := f.Apply(context.Background(), batch); err == nil {
		t.Fatal("failed restore not reported")
	}
	if v, _, _ := readSysctl(f.procSys, model.SysctlRouteLocalnet("br-x")); v != "0" {
		t.Errorf("sysctl set although the rules failed")
	}
}

func TestUnknownBackendIsRefused(t *testing.T) {
	if _, err := New(Config{Backend: "pf"}); err == nil || !strings.Contains(err.Error(), `"pf"`) {
		t.Errorf("New(pf) = %v", err)
	}
}

func TestSysctlPath(t *testing.T) {
	for key, want := range map[string]string{
		"net.ipv4.ip_forward":                  "/p/net/ipv4/ip_forward",
		"net.ipv4.conf.br.x.route_localnet":    "/p/net/ipv4/conf/br.x/route_localnet",
		"net.bridge.bridge-nf-call-iptables":   "/p/net/bridge/bridge-nf-call-iptables",
		"net.ipv4.conf.netctl0.route_localnet": "/p/net/ipv4/conf/netctl0/route_localnet",
	} {
		if got, err := sysctlPath("/p", key); err != nil || got != want {
			t.Errorf("sysctlPath(%q) = %q, %v; want %q", key, got, err, want)
		}
	}
	if _, err := sysctlPath("/p", "net.ipv4.conf.../x.route_localnet"); err == nil {
		t.Error("path escape accepted")
	}
}
