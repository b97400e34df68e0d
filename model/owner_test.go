package model

import "testing"

// Marks are persisted on live hosts (IFLA_IFALIAS): these encodings are
// golden and must never change. The instance-less ones are what every
// netctl wrote before instances existed.
var ownerGolden = []struct {
	mark  string
	owner Owner
}{
	{"netctl:shop:backend", Owner{Project: "shop", Network: "backend"}},
	{"netctl:shop:backend/web", Owner{Project: "shop", Network: "backend", Container: "web"}},
	{"netctl::bridge", Owner{Network: "bridge"}},
	{"netctl:shop:bridge/legacy", Owner{Project: "shop", Network: "bridge", Container: "legacy"}},
	{"netctl@0a1b2c3d:shop:backend", Owner{Instance: "0a1b2c3d", Project: "shop", Network: "backend"}},
	{"netctl@0a1b2c3d:shop:backend/web", Owner{Instance: "0a1b2c3d", Project: "shop", Network: "backend", Container: "web"}},
	{"netctl@0a1b2c3d::bridge", Owner{Instance: "0a1b2c3d", Network: "bridge"}},
}

func TestOwnerGolden(t *testing.T) {
	for _, g := range ownerGolden {
		if got := EncodeOwner(g.owner); got != g.mark {
			t.Errorf("EncodeOwner(%+v) = %q, want %q", g.owner, got, g.mark)
		}
		if got, ok := ParseOwner(g.mark); !ok || got != g.owner {
			t.Errorf("ParseOwner(%q) = %+v %v, want %+v", g.mark, got, ok, g.owner)
		}
	}
}

func TestParseOwnerRejects(t *testing.T) {
	for _, bad := range []string{
		"", "netctl", "netctl:", "netctl:shop", "netctl:shop:", "netctl:shop:/web",
		"netctlx:shop:net", "docker:shop:net",
		"netctl@:shop:net", "netctl@0A1B2C3D:shop:net", "netctl@0a1b2c3:shop:net", "netctl@0a1b2c3d9:shop:net",
		"netctl@0a1b2c3d", "netctl@0a1b2c3d:shop",
		"netctl:\x00:0", "netctl:shop:back end", "netctl:shop:net/", "netctl:shop:net/we\nb", "netctl:sh/op:net",
	} {
		if o, ok := ParseOwner(bad); ok {
			t.Errorf("ParseOwner(%q) = %+v, want no mark", bad, o)
		}
	}
}

// Derived names are persisted too (bridges, veths): golden for the
// default instance, whose names predate instances, and stable per root
// for the others.
func TestInstanceNamesGolden(t *testing.T) {
	if got := InstanceOf("/run/netctl"); got != "" {
		t.Errorf("default root: instance %q, want none", got)
	}
	if got := InstanceOf("/run/netctl/"); got != "" {
		t.Errorf("default root with a slash: instance %q", got)
	}
	i := InstanceOf("/var/lib/netctl-test")
	if i != InstanceOf("/var/lib/../lib/netctl-test") || !i.valid() {
		t.Errorf("instance %q not stable across spellings of the path", i)
	}
	for _, c := range []struct{ got, want string }{
		{BridgeName("shop", "backend"), Instance("").BridgeName("shop", "backend")},
		{Instance("").BridgeName("shop", "bridge"), "netctl0"},
		{Instance("0a1b2c3d").BridgeName("shop", "bridge"), "nctl-0a1b2c3d"},
		{Instance("").BridgeName("shop", "backend"), "br-e849b4fef241"},
		{Instance("").HostVethName("shop", "web", "backend"), "veth232240afe81"},
		{string(InstanceOf("/var/lib/netctl-test")), "b4a13d2d"},
		{InstanceOf("/var/lib/netctl-test").BridgeName("shop", "backend"), "br-ef53461e50f9"},
		{InstanceOf("/var/lib/netctl-test").HostVethName("shop", "web", "backend"), "veth63ffae56eba"},
	} {
		if c.got != c.want {
			t.Errorf("%q, want %q", c.got, c.want)
		}
	}
	a, b := Instance("0a1b2c3d"), Instance("99999999")
	if a.BridgeName("shop", "backend") == b.BridgeName("shop", "backend") ||
		a.BridgeName("shop", "backend") == BridgeName("shop", "backend") ||
		a.HostVethName("shop", "web", "backend") == HostVethName("shop", "web", "backend") {
		t.Errorf("two instances share a kernel name")
	}
	for _, n := range []string{a.BridgeName("p", "n"), a.BridgeName("p", "bridge"), a.HostVethName("p", "c", "n")} {
		if !IsIfname(n) || len(n) > MaxIfname {
			t.Errorf("%q is not a kernel name", n)
		}
	}
}

// Rule comments of an instance other than the default one (golden: they
// are persisted on live hosts).
func TestInstanceCommentGolden(t *testing.T) {
	for _, c := range []struct {
		inst      Instance
		base, got string
	}{
		{"", "netctl:shop:web 0.0.0.0:80->172.18.0.2:5000/tcp", "netctl:shop:web 0.0.0.0:80->172.18.0.2:5000/tcp"},
		{"0a1b2c3d", "netctl:shop:web 0.0.0.0:80->172.18.0.2:5000/tcp", "netctl@0a1b2c3d:shop:web 0.0.0.0:80->172.18.0.2:5000/tcp"},
		{"0a1b2c3d", "netctl::bridge nctl-0a1b2c3d 172.20.0.0/16", "netctl@0a1b2c3d::bridge nctl-0a1b2c3d 172.20.0.0/16"},
		{"0a1b2c3d", "netctl:shop", "netctl@0a1b2c3d:shop"},
		{"0a1b2c3d", "netctl", "netctl"},
	} {
		if got := InstanceComment(c.inst, c.base); got != c.got {
			t.Errorf("InstanceComment(%q, %q) = %q, want %q", c.inst, c.base, got, c.got)
		}
		inst, back, ok := CommentInstance(c.got)
		if !ok || back != c.base || (c.base != "netctl" && inst != c.inst) {
			t.Errorf("CommentInstance(%q) = %q %q %v", c.got, inst, back, ok)
		}
	}
	for _, bad := range []string{"netctl@:shop", "netctl@XYZ:shop", "netctl@0a1b2c3d"} {
		if _, _, ok := CommentInstance(bad); ok {
			t.Errorf("CommentInstance(%q) accepted", bad)
		}
	}
}
