package compose_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netctl/netctl/convert/compose"
	"github.com/netctl/netctl/internal/golden"
	"github.com/netctl/netctl/spec"
	"github.com/netctl/netctl/spec/schema/schemacheck"
)

// env is a fixed environment: results must not depend on the shell's.
var env = []string{"FROM_SHELL=shell-value"}

func convert(t *testing.T, path string, opts compose.Options) *compose.Result {
	t.Helper()
	if opts.Env == nil {
		opts.Env = env
	}
	res, err := compose.Convert(context.Background(), path, opts)
	if err != nil {
		t.Fatal(err)
	}
	v, err := schemacheck.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	if err := v.ValidateYAML(res.YAML); err != nil {
		t.Errorf("%s: the output does not validate against the schema: %v\n%s", path, err, res.YAML)
	}
	return res
}

// TestExamplesMatchTheirTopologies: each Compose file under
// examples/compose converts to the same topology as its netctl twin
// under examples/ (parsed and compared by meaning, not text).
func TestExamplesMatchTheirTopologies(t *testing.T) {
	files, _ := filepath.Glob("../../examples/compose/*.yaml")
	if len(files) < 3 {
		t.Fatalf("found only %v", files)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			res := convert(t, f, compose.Options{})
			got, err := spec.Parse("converted.yaml", res.YAML)
			if err != nil {
				t.Fatalf("%v\n%s", err, res.YAML)
			}
			twin := filepath.Join("../../examples", filepath.Base(f))
			want, err := spec.Load(twin)
			if err != nil {
				t.Fatal(err)
			}
			if g, w := summary(got), summary(want); g != w {
				t.Errorf("%s converts to\n%s\nwhile %s is\n%s\nconverted file:\n%s", f, g, twin, w, res.YAML)
			}
			for _, n := range res.Notes {
				if !strings.Contains(n.Msg, "does not run containers") {
					t.Errorf("unexpected note %s", n)
				}
			}
		})
	}
}

// summary is what a topology means, one line per object, without
// positions: two files that say the same give the same summary.
func summary(t *spec.Topology) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name %s\n", t.Name)
	for _, n := range t.Networks {
		fmt.Fprintf(&b, "network %s driver=%s subnet=%v gateway=%v range=%v internal=%v icc=%v mtu=%d bridge=%q v6=%v %v %v labels=%v\n",
			n.Name, n.Driver, n.Subnet, n.Gateway, n.IPRange, n.Internal, n.ICC, n.MTU, n.BridgeName, n.EnableIPv6, n.SubnetV6, n.GatewayV6, n.Labels)
	}
	for _, c := range t.Containers {
		fmt.Fprintf(&b, "container %s hostname=%s mode=%q expose=%v env=%v dns=%v\n", c.Name, c.Hostname, c.NetworkMode, c.Expose, c.Env, c.DNS)
		for _, a := range c.Networks {
			fmt.Fprintf(&b, "  on %s ip=%v ip6=%v aliases=%v\n", a.Network, a.IPv4Address, a.IPv6Address, a.Aliases)
		}
		for _, p := range c.Ports {
			fmt.Fprintf(&b, "  port %s\n", p.Raw)
		}
		for _, h := range c.ExtraHosts {
			fmt.Fprintf(&b, "  host %s %v\n", h.Name, h.IP)
		}
		for _, l := range c.Links {
			fmt.Fprintf(&b, "  link %s %s\n", l.Container, l.Alias)
		}
	}
	return b.String()
}

// TestEverySyntax: a Compose file using every networking syntax converts
// to the golden topology, and everything left out is listed.
func TestEverySyntax(t *testing.T) {
	res := convert(t, "testdata/every-syntax.compose.yaml", compose.Options{})
	var notes strings.Builder
	for _, n := range res.Notes {
		fmt.Fprintln(&notes, n)
	}
	golden.File(t, "testdata/every-syntax.netctl.yaml", string(res.YAML))
	golden.File(t, "testdata/every-syntax.notes", notes.String())

	// The profile's service comes with the profile.
	res = convert(t, "testdata/every-syntax.compose.yaml", compose.Options{Profiles: []string{"debug"}, Name: "other"})
	top, err := spec.Parse("x.yaml", res.YAML)
	if err != nil {
		t.Fatal(err)
	}
	if top.Container("debug") == nil || top.Name != "other" {
		t.Errorf("with --profile debug -p other: %s", res.YAML)
	}
}

func TestGroup(t *testing.T) {
	got := compose.Group([]compose.Note{
		{Path: "services.db.image", Msg: "not converted"},
		{Path: "services.web.image", Msg: "not converted"},
		{Path: "services.web.ports[2]", Msg: `host address "::1": left out`},
		{Path: "volumes", Msg: "not converted"},
	})
	want := []string{
		"services.{db,web}.image: not converted",
		`services.web.ports[2]: host address "::1": left out`,
		"volumes: not converted",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, body, want string }{
		{"not yaml", "services: [", "compose.yaml"},
		{"not compose", "services:\n  web:\n    imagee: x\n", "imagee"},
		{"unknown network", "name: p\nservices:\n  web:\n    image: x\n    networks: [nope]\n", "nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "compose.yaml")
			if err := os.WriteFile(path, []byte(tc.body), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := compose.Convert(context.Background(), path, compose.Options{Env: env})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
}
