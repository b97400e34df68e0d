package model

import (
	"net/netip"
	"reflect"
	"slices"
	"testing"
)

func fullDNS() *DNS {
	a := netip.MustParseAddr
	rec := func() []DNSRecord {
		return []DNSRecord{{Container: "web", Addr: a("172.18.0.2"), Names: []string{"web", "www"}}}
	}
	return &DNS{
		Project: "shop",
		Networks: []DNSNetwork{{
			ID: "shop/front", Bridge: "br-1", Subnet: netip.MustParsePrefix("172.18.0.0/16"),
			SubnetV6: netip.MustParsePrefix("fd00:1::/64"), Gateway: a("172.18.0.1"), Internal: true,
			Records: rec(),
			Remote:  []DNSRemote{{Container: "db", Node: a("10.250.0.2"), Names: []string{"db"}}},
		}},
		Clients: []DNSClient{{
			Container: "web", Addrs: []netip.Addr{a("172.18.0.2")}, Networks: []string{"shop/front"},
			Links: rec(), Upstreams: []netip.AddrPort{netip.MustParseAddrPort("10.250.0.53:53")},
		}},
		Peers:   &DNSPeers{Listen: a("10.250.0.1"), Nodes: []netip.Addr{a("10.250.0.2")}, Networks: []string{"shop/ov"}},
		Serving: true, Problem: "observed only",
	}
}

// TestDNSEqualComparesEveryField zeroes each field of a full
// configuration in turn, at every depth: Equal must notice every change but
// to the observed-only fields, so a field added later and forgotten in
// Equal fails here.
func TestDNSEqualComparesEveryField(t *testing.T) {
	if !fullDNS().Equal(fullDNS()) {
		t.Fatal("two equal configurations differ")
	}
	for _, path := range fieldPaths(reflect.TypeFor[DNS](), nil) {
		d := fullDNS()
		leaf := reflect.ValueOf(d).Elem()
		name := "DNS"
		for _, step := range path {
			leaf, name = walk(leaf, step, name)
		}
		leaf.Set(reflect.Zero(leaf.Type()))
		if fullDNS().Equal(d) || d.Equal(fullDNS()) {
			t.Errorf("%s zeroed: Equal still reports the configurations equal", name)
		}
	}
	d := fullDNS()
	d.Serving, d.Problem = false, ""
	if !fullDNS().Equal(d) {
		t.Error("the observed-only fields make two configurations differ")
	}
}

// fieldPaths lists the paths (field indexes; -1 steps into a pointer or a
// list's first element) to every field of t the server reads.
func fieldPaths(t reflect.Type, prefix []int) [][]int {
	var out [][]int
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Tag.Get("json") == "-" {
			continue
		}
		path := append(slices.Clone(prefix), i)
		out = append(out, path)
		inner := f.Type
		if inner.Kind() == reflect.Pointer || inner.Kind() == reflect.Slice {
			inner = inner.Elem()
			path = append(path, -1)
		}
		if inner.Kind() == reflect.Struct && inner.PkgPath() == t.PkgPath() {
			out = append(out, fieldPaths(inner, path)...)
		}
	}
	return out
}

func walk(v reflect.Value, step int, name string) (reflect.Value, string) {
	switch {
	case step >= 0:
		return v.Field(step), name + "." + v.Type().Field(step).Name
	case v.Kind() == reflect.Pointer:
		return v.Elem(), name
	default:
		return v.Index(0), name + "[0]"
	}
}
