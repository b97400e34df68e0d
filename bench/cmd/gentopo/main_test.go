package main

import (
	"fmt"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/netctl/netctl/spec"
)

type topo struct {
	Name     string `yaml:"name"`
	Networks map[string]struct {
		Subnet     string `yaml:"subnet"`
		Gateway    string `yaml:"gateway"`
		EnableIPv6 bool   `yaml:"enable_ipv6"`
		SubnetV6   string `yaml:"subnet_v6"`
	} `yaml:"networks"`
	Containers map[string]struct {
		Networks []string `yaml:"networks"`
	} `yaml:"containers"`
}

func TestWrite(t *testing.T) {
	var b strings.Builder
	if err := write(&b, params{name: "bench", n: 10, networks: 4, secondOctet: 20}); err != nil {
		t.Fatal(err)
	}
	var got topo
	if err := yaml.Unmarshal([]byte(b.String()), &got); err != nil {
		t.Fatalf("not YAML: %v\n%s", err, b.String())
	}
	if got.Name != "bench" || len(got.Networks) != 4 || len(got.Containers) != 10 {
		t.Fatalf("got %d networks, %d containers, name %q", len(got.Networks), len(got.Containers), got.Name)
	}
	for i := 1; i <= 4; i++ {
		n := got.Networks[fmt.Sprintf("net%d", i)]
		if want := fmt.Sprintf("172.%d.0.0/16", 19+i); n.Subnet != want {
			t.Errorf("net%d subnet %q, want %q", i, n.Subnet, want)
		}
	}
	perNet := map[string]int{}
	for name, c := range got.Containers {
		if len(c.Networks) != 1 {
			t.Errorf("%s on %v, want one network", name, c.Networks)
			continue
		}
		perNet[c.Networks[0]]++
	}
	// Round robin: 10 over 4 networks is 3,3,2,2.
	if perNet["net1"] != 3 || perNet["net2"] != 3 || perNet["net3"] != 2 || perNet["net4"] != 2 {
		t.Errorf("distribution %v", perNet)
	}
	if got.Containers["c5"].Networks[0] != "net1" {
		t.Errorf("c5 on %v, want net1", got.Containers["c5"].Networks)
	}
}

func TestWriteIPv6(t *testing.T) {
	var b strings.Builder
	if err := write(&b, params{name: "bench", n: 3, networks: 2, secondOctet: 20, ipv6: true}); err != nil {
		t.Fatal(err)
	}
	var got topo
	if err := yaml.Unmarshal([]byte(b.String()), &got); err != nil {
		t.Fatalf("not YAML: %v\n%s", err, b.String())
	}
	if _, err := spec.Parse("bench.yaml", []byte(b.String())); err != nil {
		t.Fatalf("netctl refuses it: %v", err)
	}
	for i, want := range []string{"fd00:20::/64", "fd00:21::/64"} {
		n := got.Networks[fmt.Sprintf("net%d", i+1)]
		if !n.EnableIPv6 || n.SubnetV6 != want {
			t.Errorf("net%d: enable_ipv6 %v subnet_v6 %q, want %q", i+1, n.EnableIPv6, n.SubnetV6, want)
		}
	}
}

func TestCheck(t *testing.T) {
	for _, p := range []params{
		{n: 0, networks: 4, secondOctet: 20},
		{n: 1, networks: 0, secondOctet: 20},
		{n: 1, networks: 4, secondOctet: 30},
		{n: 1, networks: 1, secondOctet: 15},
	} {
		if p.check() == nil {
			t.Errorf("%+v accepted", p)
		}
	}
	if err := (params{n: 1000, networks: 4, secondOctet: 20}).check(); err != nil {
		t.Error(err)
	}
}
