package spec

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that no input makes Parse panic or hang, and that what
// it accepts holds the invariants the rest of netctl relies on.
func FuzzParse(f *testing.F) {
	for _, glob := range []string{"testdata/*.yaml", "testdata/valid/*.yaml"} {
		files, _ := filepath.Glob(glob)
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	for _, s := range []string{
		"",
		"a: &a [*a]\n",
		"x-a: &a {<<: *a}\nnetworks: {n: *a}\n",
		"containers: {a: {ports: [\"1-65535:1-65535\", \"1-65535:1-65535/udp\"]}}\n",
		"containers: {a: {networks: {bridge: {ipv4_address: 172.17.255.255}}}}\n",
		"networks: {n: {subnet: 10.0.0.0/30, gateway: 10.0.0.2, ip_range: 10.0.0.0/32}}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		top, err := Parse("fuzz.yaml", data)
		if (top == nil) == (err == nil) {
			t.Fatalf("topology %v with error %v", top, err)
		}
		if err != nil {
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("error %T %v is not a non-empty Errors", err, err)
			}
			for i, e := range es {
				if e.Msg == "" {
					t.Fatalf("empty message at %+v", e.Pos)
				}
				if i > 0 && before(e.Pos, es[i-1].Pos) {
					t.Fatalf("errors not sorted: %v before %v", es[i-1].Pos, e.Pos)
				}
			}
			return
		}
		if !isLabel(top.Name) {
			t.Fatalf("accepted project name %q", top.Name)
		}
		bridges := 0
		for _, n := range top.Networks {
			if !isLabel(n.Name) {
				t.Fatalf("accepted network name %q", n.Name)
			}
			if n.Name == NetworkBridge {
				bridges++
			}
		}
		if bridges != 1 {
			t.Fatalf("%d default networks", bridges)
		}
		for _, c := range top.Containers {
			if !isLabel(c.Name) || !isDNSName(c.Hostname) {
				t.Fatalf("accepted container %q hostname %q", c.Name, c.Hostname)
			}
			if c.NetworkMode == "" && len(c.Networks) == 0 {
				t.Fatalf("container %q on no network", c.Name)
			}
			for _, a := range c.Networks {
				if top.Network(a.Network) == nil {
					t.Fatalf("container %q on undeclared network %q", c.Name, a.Network)
				}
			}
			for _, l := range c.Links {
				if top.Container(l.Container) == nil || !isLabel(l.Alias) {
					t.Fatalf("container %q: accepted link %+v", c.Name, l)
				}
			}
			for _, m := range c.Ports {
				if m.ContainerPortStart == 0 || m.ContainerPortStart > m.ContainerPortEnd || m.HostPortStart > m.HostPortEnd {
					t.Fatalf("container %q: accepted port %+v", c.Name, m)
				}
			}
		}
	})
}
