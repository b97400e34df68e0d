package dns

import (
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"reflect"
	"testing"

	"github.com/rs/zerolog"

	"github.com/netctl/netctl/internal/cachefile"
	"github.com/netctl/netctl/model"
)

// fullDNS sets every field, at every level.
func fullDNS() *model.DNS {
	a := netip.MustParseAddr
	rec := model.DNSRecord{Container: "web", Addr: a("172.18.0.2"), Names: []string{"web", "www"}}
	return &model.DNS{Project: "shop",
		Networks: []model.DNSNetwork{{ID: "shop/front", Bridge: "br-front", Subnet: netip.MustParsePrefix("172.18.0.0/16"),
			SubnetV6: netip.MustParsePrefix("fd00:18::/64"), Gateway: a("172.18.0.1"), Internal: true,
			Records: []model.DNSRecord{rec}, Remote: []model.DNSRemote{{Container: "db", Node: a("10.250.0.2"), Names: []string{"db"}}}}},
		Clients: []model.DNSClient{{Container: "web", Addrs: []netip.Addr{a("172.18.0.2")}, Networks: []string{"shop/front"},
			Links: []model.DNSRecord{rec}, Upstreams: []netip.AddrPort{netip.MustParseAddrPort("10.250.0.53:53")}}},
		Peers:   &model.DNSPeers{Listen: a("10.250.0.1"), Nodes: []netip.Addr{a("10.250.0.2")}, Networks: []string{"shop/ovl"}},
		Serving: true, Problem: "observed only"}
}

// zeroFields names the fields left zero anywhere in v (the first element
// of a slice stands for all of them).
func zeroFields(v reflect.Value, path string) []string {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return []string{path}
		}
		return zeroFields(v.Elem(), path)
	case reflect.Slice:
		if v.Len() == 0 {
			return []string{path}
		}
		return zeroFields(v.Index(0), path+"[0]")
	case reflect.Struct:
		if v.Type().PkgPath() == "net/netip" {
			break
		}
		var out []string
		for i := range v.NumField() {
			out = append(out, zeroFields(v.Field(i), path+"."+v.Type().Field(i).Name)...)
		}
		return out
	}
	if v.IsZero() {
		return []string{path}
	}
	return nil
}

func TestDecodedConfigRoundTrip(t *testing.T) {
	full := fullDNS()
	if z := zeroFields(reflect.ValueOf(full), "DNS"); len(z) > 0 {
		t.Fatalf("fields zero in the sample (give them a value, and the encoding the field): %v", z)
	}
	full.Serving, full.Problem = false, "" // observed only: never kept
	for _, d := range []*model.DNS{full, {Project: "empty"}, {Project: "lists", Networks: []model.DNSNetwork{},
		Clients: []model.DNSClient{{Container: "c", Addrs: []netip.Addr{}, Networks: []string{}}}}} {
		w := cachefile.Writer{}
		writeDNS(&w, d)
		r := cachefile.NewReader(w.B)
		got := readDNS(r)
		if err := r.End("test"); err != nil || !reflect.DeepEqual(got, d) {
			t.Errorf("round trip of %s: %v\n%+v\nwant\n%+v", d.Project, err, got, d)
		}
		for n := range w.B {
			r := cachefile.NewReader(w.B[:n])
			readDNS(r)
			if r.End("cut") == nil {
				t.Fatalf("%s cut at %d of %d bytes read", d.Project, n, len(w.B))
			}
		}
	}
}

// Another process (a new Manager) takes the kept configuration for a
// file of the same bytes, and decodes the file once its bytes change.
func TestDecodedConfigStandsForItsFileOnly(t *testing.T) {
	root, cfg, b := writtenProject(t)
	observe := func() *model.DNS {
		t.Helper()
		st := &model.State{}
		if err := NewManager(root, nil, zerolog.Nop()).Observe(context.Background(), st); err != nil {
			t.Fatal(err)
		}
		d := st.DNS["shop"]
		d.Serving, d.Problem = false, ""
		return d
	}
	if got := observe(); !reflect.DeepEqual(got, cfg) {
		t.Fatalf("first observation:\n%+v\nwant\n%+v", got, cfg)
	}
	// Kept for these bytes: a marker planted in the kept configuration
	// comes back, so the JSON was not decoded.
	marked := *cfg
	marked.Clients = []model.DNSClient{{Container: "marker"}}
	NewManager(root, nil, zerolog.Nop()).saveDecoded(hash(b), &marked)
	if got := observe(); !reflect.DeepEqual(got, &marked) {
		t.Errorf("the kept configuration was not taken: %+v", got.Clients)
	}
	// The file edited by anyone: decoded, and kept anew.
	cfg.Networks[0].Records = nil
	b, _ = json.Marshal(cfg)
	if err := os.WriteFile(projectPath(root, "shop"), append(b, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := observe(); !reflect.DeepEqual(got, cfg) {
		t.Errorf("after an edit:\n%+v\nwant\n%+v", got, cfg)
	}
	if _, ok := loadDecoded(root, "shop", hash(append(b, '\n'))); !ok {
		t.Error("the edited file's configuration was not kept")
	}
}

// The server, reloading, takes the configuration an apply kept for the
// file's bytes (a marker planted there comes back), and decodes a file
// whose bytes it does not stand for.
func TestServerLoadsTheKeptConfiguration(t *testing.T) {
	root, cfg, b := writtenProject(t)
	marked := *cfg
	marked.Clients = []model.DNSClient{{Container: "marker"}}
	NewManager(root, nil, zerolog.Nop()).saveDecoded(hash(b), &marked)
	loaded := func() *model.DNS {
		t.Helper()
		c := LoadConfig(root, zerolog.Nop())
		if len(c.Projects) != 1 || c.Projects[0].DNS == nil || c.Projects[0].Hash != hash(b) {
			t.Fatalf("loaded %+v", c.Projects)
		}
		return c.Projects[0].DNS
	}
	if got := loaded(); !reflect.DeepEqual(got, &marked) {
		t.Errorf("the kept configuration was not taken: %+v", got.Clients)
	}
	NewManager(root, nil, zerolog.Nop()).saveDecoded("another file's hash", &marked)
	if got := loaded(); !reflect.DeepEqual(got, cfg) {
		t.Errorf("a kept configuration of other bytes was taken: %+v", got.Clients)
	}
}

// writtenProject is a root holding project shop's file (fullDNS, as
// written), and the file's bytes.
func writtenProject(t *testing.T) (root string, cfg *model.DNS, b []byte) {
	t.Helper()
	root = t.TempDir()
	if err := prepareDir(root); err != nil {
		t.Fatal(err)
	}
	cfg = fullDNS()
	cfg.Serving, cfg.Problem = false, ""
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	if err := os.WriteFile(projectPath(root, "shop"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return root, cfg, b
}
