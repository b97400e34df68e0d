package nlraw

import (
	"errors"
	"maps"
	"net/netip"
	"os"
	"os/exec"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	vnl "github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/internal/sandbox"
)

// host is a sandbox namespace with a Conn and a vishvananda handle in it.
type host struct {
	sb   *sandbox.Host
	ns   netns.NsHandle
	conn *Conn
	h    *vnl.Handle
}

func newHost(t *testing.T) *host {
	t.Helper()
	sb := sandbox.New(t)
	ns, err := netns.GetFromPath(sb.NetnsPath())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	conn, err := OpenAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	h, err := vnl.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return &host{sb: sb, ns: ns, conn: conn, h: h}
}

// ip runs `ip -n <sandbox> args...`.
func (h *host) ip(t *testing.T, args ...string) {
	t.Helper()
	argv := append([]string{"-n", h.sb.Name()}, args...)
	if out, err := exec.Command("ip", argv...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(argv, " "), err, out)
	}
}

func (h *host) link(t *testing.T, name string) Link {
	t.Helper()
	links, err := h.conn.Links()
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(links, func(l Link) bool { return l.Name == name })
	if i < 0 {
		t.Fatalf("no link %s among %v", name, links)
	}
	return links[i]
}

// TestDumpsMatchVishvananda checks the lean decoders against
// vishvananda/netlink's full parser on a real namespace.
func TestDumpsMatchVishvananda(t *testing.T) {
	h := newHost(t)
	h.ip(t, "link", "add", "nlr-br", "type", "bridge")
	h.ip(t, "link", "add", "nlr-a", "mtu", "1400", "group", "7", "type", "veth", "peer", "name", "nlr-b")
	h.ip(t, "link", "set", "nlr-a", "master", "nlr-br", "alias", "netctl:p:n/c", "up")
	h.ip(t, "link", "set", "nlr-br", "up")
	h.ip(t, "addr", "add", "10.250.7.1/24", "dev", "nlr-br")
	h.ip(t, "addr", "add", "10.250.8.1/24", "dev", "nlr-b")
	h.ip(t, "route", "add", "10.250.200.0/24", "via", "10.250.7.2")
	h.ip(t, "route", "add", "blackhole", "10.250.201.0/24", "table", "100")

	links, err := h.conn.Links()
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := h.h.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	if len(links) != len(theirs) {
		t.Fatalf("%d links, vishvananda sees %d", len(links), len(theirs))
	}
	for i, l := range links {
		a := theirs[i].Attrs()
		want := Link{
			Index: a.Index, Peer: a.ParentIndex, Master: a.MasterIndex, Group: a.Group, MTU: a.MTU,
			Up: a.Flags&1 != 0, Name: a.Name, Alias: a.Alias, Kind: theirs[i].Type(), MAC: a.HardwareAddr,
			// vishvananda does not decode these two.
			AcceptRA: l.AcceptRA, DisableIPv6: l.DisableIPv6,
			LinkNSID: a.NetNsID,
		}
		if want.Kind == "device" { // vishvananda's name for "no IFLA_INFO_KIND"
			want.Kind = ""
		}
		if !reflect.DeepEqual(l, want) {
			t.Errorf("link %d: got %+v, want %+v", i, l, want)
		}
		// vishvananda leaves out the IPv6 settings: the sysctls say them.
		for key, got := range map[string]bool{"accept_ra": l.AcceptRA, "disable_ipv6": l.DisableIPv6} {
			out, err := exec.Command("nsenter", "--net="+h.sb.NetnsPath(), "cat", "/proc/sys/net/ipv6/conf/"+l.Name+"/"+key).Output()
			if err != nil {
				t.Fatal(err)
			}
			if on := strings.TrimSpace(string(out)) != "0"; on != got {
				t.Errorf("%s: %s is %s, decoded %v", l.Name, key, out, got)
			}
		}
	}

	addrs, err := h.conn.Addrs()
	if err != nil {
		t.Fatal(err)
	}
	vaddrs, err := h.h.AddrList(nil, vnl.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	if len(addrs) != len(vaddrs) {
		t.Errorf("%d addresses, vishvananda sees %d", len(addrs), len(vaddrs))
	}
	for _, a := range vaddrs {
		ip, _ := netip.AddrFromSlice(a.IP)
		ones, _ := a.Mask.Size()
		if !slices.ContainsFunc(addrs, func(o Addr) bool {
			return o.Index == a.LinkIndex && o.Prefix == netip.PrefixFrom(ip.Unmap(), ones) && o.Flags == uint32(a.Flags)
		}) {
			t.Errorf("address %s on %d missing from %v", a.IPNet, a.LinkIndex, addrs)
		}
	}

	all, err := h.conn.Routes(unix.RT_TABLE_UNSPEC)
	if err != nil {
		t.Fatal(err)
	}
	main, err := h.conn.Routes(unix.RT_TABLE_MAIN)
	if err != nil {
		t.Fatal(err)
	}
	via := Route{Table: unix.RT_TABLE_MAIN, Type: unix.RTN_UNICAST, Dst: netip.MustParsePrefix("10.250.200.0/24"),
		GW: netip.MustParseAddr("10.250.7.2"), OIF: h.link(t, "nlr-br").Index}
	hole := Route{Table: 100, Type: unix.RTN_BLACKHOLE, Dst: netip.MustParsePrefix("10.250.201.0/24")}
	if !slices.Contains(all, via) || !slices.Contains(all, hole) {
		t.Errorf("all tables: %+v lacks %+v or %+v", all, via, hole)
	}
	if !slices.Contains(main, via) || slices.ContainsFunc(main, func(r Route) bool { return r.Table != unix.RT_TABLE_MAIN }) {
		t.Errorf("main table: %+v", main)
	}
}

// TestThreadOpensInOtherNamespace: a Conn opened through a Thread talks
// to that namespace, not to the caller's.
func TestThreadOpensInOtherNamespace(t *testing.T) {
	h := newHost(t)
	path := h.sb.AddNetns(t, "other")
	h.ip(t, "link", "add", "nlr-only-host", "type", "bridge")
	ns, err := netns.GetFromPath(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	th, err := LockThread()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := th.Open(ns)
	th.Release()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	links, err := conn.Links()
	if err != nil {
		t.Fatal(err)
	}
	if len(links) != 1 || links[0].Name != "lo" {
		t.Errorf("the other namespace shows %+v, want only lo", links)
	}
}

func TestCreateVethAndAlias(t *testing.T) {
	h := newHost(t)
	path := h.sb.AddNetns(t, "ctr")
	h.ip(t, "link", "add", "nlr-br", "type", "bridge")
	ctr, err := netns.GetFromPath(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ctr.Close()
	v := Veth{Name: "nlr-v", MTU: 1400, Master: h.link(t, "nlr-br").Index, Group: 77,
		PeerName: "eth0", PeerMAC: []byte{2, 0x42, 10, 250, 0, 2}, PeerNs: int(ctr)}
	if err := h.conn.CreateVeth(v); err != nil {
		t.Fatal(err)
	}
	if err := h.conn.CreateVeth(v); !errors.Is(err, unix.EEXIST) {
		t.Errorf("second creation: %v, want EEXIST", err)
	}
	if err := h.conn.SetAlias("nlr-v", "netctl:p:n/c"); err != nil {
		t.Fatal(err)
	}
	got := h.link(t, "nlr-v")
	if !got.Up || got.Master != v.Master || got.Group != 77 || got.MTU != 1400 || got.Alias != "netctl:p:n/c" || got.Kind != "veth" {
		t.Errorf("host end %+v", got)
	}
	th, err := LockThread()
	if err != nil {
		t.Fatal(err)
	}
	in, err := th.Open(ctr)
	th.Release()
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	peers, err := in.Links()
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(peers, func(l Link) bool { return l.Name == "eth0" })
	if i < 0 || peers[i].Peer != got.Index || got.Peer != peers[i].Index || peers[i].MAC.String() != "02:42:0a:fa:00:02" {
		t.Errorf("peer %+v of %+v", peers, got)
	}
}

// TestDoReportsWhichRequestFailed: requests sent together are all carried
// out, and the error names the one that failed.
func TestDoReportsWhichRequestFailed(t *testing.T) {
	h := newHost(t)
	h.ip(t, "link", "add", "nlr-br", "type", "bridge")
	err := h.conn.Do(
		Request{Type: unix.RTM_SETLINK, Data: setAliasData("nlr-missing", "x")},
		Request{Type: unix.RTM_SETLINK, Data: setAliasData("nlr-br", "netctl:p:n")},
	)
	if !errors.Is(err, unix.ENODEV) || !strings.Contains(err.Error(), "request 1 of 2") {
		t.Errorf("err = %v", err)
	}
	if a := h.link(t, "nlr-br").Alias; a != "netctl:p:n" {
		t.Errorf("second request not carried out: alias %q", a)
	}
}

// A bridge port's hairpin mode is read from the ordinary link messages
// (dump and lookup) and set by a link change, several in one datagram.
func TestLinkHairpin(t *testing.T) {
	h := newHost(t)
	h.ip(t, "link", "add", "nlr-br", "type", "bridge")
	for _, p := range []string{"nlr-a", "nlr-c"} {
		h.ip(t, "link", "add", p, "type", "veth", "peer", "name", p+"-p")
		h.ip(t, "link", "set", p, "master", "nlr-br")
	}
	h.ip(t, "link", "set", "dev", "nlr-a", "type", "bridge_slave", "hairpin", "on")
	hairpins := func() map[string]bool {
		links, err := h.conn.Links()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, k := range links {
			if strings.HasPrefix(k.Name, "nlr-") {
				out[k.Name] = k.Hairpin
			}
		}
		return out
	}
	want := map[string]bool{"nlr-br": false, "nlr-a": true, "nlr-a-p": false, "nlr-c": false, "nlr-c-p": false}
	if got := hairpins(); !maps.Equal(got, want) {
		t.Errorf("dump: hairpin %v, want %v", got, want)
	}
	a := h.link(t, "nlr-a")
	if k, err := h.conn.LinkByIndex(a.Index); err != nil || !k.Hairpin {
		t.Errorf("LinkByIndex(nlr-a) = %+v, %v; want hairpin on", k, err)
	}

	// Both flipped in one datagram, one by ifindex, one by name with its
	// mark.
	err := h.conn.Do(
		LinkChange{Index: a.Index, Hairpin: HairpinOff}.Request(),
		LinkChange{Name: "nlr-c", Alias: "netctl:p:n/c", Hairpin: HairpinOn}.Request(),
	)
	if err != nil {
		t.Fatal(err)
	}
	want["nlr-a"], want["nlr-c"] = false, true
	if got := hairpins(); !maps.Equal(got, want) {
		t.Errorf("after the change: hairpin %v, want %v", got, want)
	}
	if k := h.link(t, "nlr-c"); k.Alias != "netctl:p:n/c" {
		t.Errorf("mark sent with the hairpin mode not set: %q", k.Alias)
	}
	// Not a bridge port: refused, nothing changed.
	if err := h.conn.Do(LinkChange{Name: "nlr-a-p", Hairpin: HairpinOn}.Request()); err == nil {
		t.Error("hairpin mode set on a link that is no bridge port")
	}
	if err := h.conn.Do(LinkChange{Name: "nlr-missing", Hairpin: HairpinOn}.Request()); !errors.Is(err, unix.ENODEV) {
		t.Errorf("hairpin mode on a missing link: %v, want ENODEV", err)
	}
}

func TestDeleteQueue(t *testing.T) {
	h := newHost(t)
	for _, p := range []string{"nlr-a", "nlr-b", "nlr-c"} {
		h.ip(t, "link", "add", p, "type", "veth", "peer", "name", p+"-p")
	}
	names := func() []string {
		links, err := h.conn.Links()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, l := range links {
			out = append(out, l.Name)
		}
		slices.Sort(out)
		return out
	}

	// The clean case: one group deletion takes both pairs.
	q := NewDeleteQueue(h.conn)
	for _, p := range []string{"nlr-a", "nlr-b"} {
		if err := q.Add(h.link(t, p).Index, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Add(9999, "gone"); err != nil {
		t.Errorf("a link already gone: %v", err)
	}
	if n, err := q.Flush(); err != nil || n != 2 {
		t.Errorf("Flush = %d, %v", n, err)
	}
	if got := names(); !reflect.DeepEqual(got, []string{"lo", "nlr-c", "nlr-c-p"}) {
		t.Errorf("after flush: %v", got)
	}

	// A foreign link in the group: only the queued ones go, one by one.
	h.ip(t, "link", "add", "nlr-d", "type", "veth", "peer", "name", "nlr-d-p")
	q = NewDeleteQueue(h.conn)
	if err := q.Add(h.link(t, "nlr-d").Index, "nlr-d"); err != nil {
		t.Fatal(err)
	}
	if err := h.conn.SetGroup(h.link(t, "nlr-c").Index, q.Group()); err != nil {
		t.Fatal(err)
	}
	if n, err := q.Flush(); err != nil || n != 1 {
		t.Errorf("Flush = %d, %v", n, err)
	}
	if got := names(); !reflect.DeepEqual(got, []string{"lo", "nlr-c", "nlr-c-p"}) {
		t.Errorf("after flush with a foreign member: %v", got)
	}
	if n, err := q.Flush(); err != nil || n != 0 {
		t.Errorf("empty Flush = %d, %v", n, err)
	}
}

// TestLinkChangesAddressAndRoute: the requests the fresh endpoint path
// sends, in one datagram as it sends them.
func TestLinkChangesAddressAndRoute(t *testing.T) {
	h := newHost(t)
	h.ip(t, "link", "add", "nlr-a", "type", "veth", "peer", "name", "nlr-b")
	if _, err := h.conn.LinkByName("nlr-none"); !errors.Is(err, ErrNoLink) {
		t.Errorf("LinkByName of a missing link: %v", err)
	}
	a, err := h.conn.LinkByName("nlr-a")
	if err != nil || a.Name != "nlr-a" || a.Kind != "veth" {
		t.Fatalf("LinkByName = %+v, %v", a, err)
	}
	err = h.conn.Do(
		LinkChange{Name: "nlr-b", Alias: "netctl:p:n/c", NoIPv6LinkLocal: true}.Request(),
		LinkChange{Index: a.Index, NoIPv6LinkLocal: true}.Request(),
		AddAddr(a.Index, netip.MustParsePrefix("10.250.9.2/24")),
		LinkChange{Index: a.Index, Up: true}.Request(),
		LinkChange{Name: "nlr-b", Up: true}.Request(),
		ReplaceDefaultRoute(netip.MustParseAddr("10.250.9.1")),
	)
	if err != nil {
		t.Fatal(err)
	}
	if b := h.link(t, "nlr-b"); b.Alias != "netctl:p:n/c" || !b.Up {
		t.Errorf("nlr-b = %+v", b)
	}
	addrs, err := h.conn.Addrs()
	if err != nil || !slices.ContainsFunc(addrs, func(x Addr) bool {
		return x.Index == a.Index && x.Prefix == netip.MustParsePrefix("10.250.9.2/24")
	}) {
		t.Errorf("addresses %+v, %v", addrs, err)
	}
	routes, err := h.conn.Routes(unix.RT_TABLE_MAIN)
	def := Route{Table: unix.RT_TABLE_MAIN, Type: unix.RTN_UNICAST, Dst: netip.MustParsePrefix("0.0.0.0/0"),
		GW: netip.MustParseAddr("10.250.9.1"), OIF: a.Index}
	if err != nil || !slices.Contains(routes, def) {
		t.Errorf("routes %+v, %v; want %+v", routes, err, def)
	}
	// IPv6: the same request, of the other family.
	h.ip(t, "-6", "addr", "add", "fd00:9::2/64", "dev", "nlr-a", "nodad")
	if err := h.conn.Do(ReplaceDefaultRoute(netip.MustParseAddr("fd00:9::1"))); err != nil {
		t.Fatal(err)
	}
	routes, err = h.conn.Routes(unix.RT_TABLE_MAIN)
	if err != nil || !slices.ContainsFunc(routes, func(r Route) bool {
		return r.Dst == netip.MustParsePrefix("::/0") && r.GW == netip.MustParseAddr("fd00:9::1") && r.OIF == a.Index
	}) {
		t.Errorf("IPv6 default route missing from %+v, %v", routes, err)
	}
	out, err := exec.Command("ip", "-n", h.sb.Name(), "-d", "link", "show").CombinedOutput()
	if err != nil || strings.Count(string(out), "addrgenmode none") != 2 {
		t.Errorf("want addrgenmode none on both ends:\n%s", out)
	}
	// Both ends came up without an IPv6 link-local address.
	out, err = exec.Command("ip", "-n", h.sb.Name(), "-6", "addr").CombinedOutput()
	if err != nil || strings.Contains(string(out), "fe80") {
		t.Errorf("IPv6 link-local configured:\n%s", out)
	}
}

func TestLinksOfKindAndByIndex(t *testing.T) {
	h := newHost(t)
	h.ip(t, "link", "add", "nlr-br", "type", "bridge")
	h.ip(t, "link", "add", "nlr-a", "type", "veth", "peer", "name", "nlr-b")
	got, err := h.conn.LinksOfKind("bridge")
	if err != nil || len(got) != 1 || got[0].Name != "nlr-br" || got[0].Kind != "bridge" {
		t.Errorf("LinksOfKind(bridge) = %+v, %v", got, err)
	}
	a := h.link(t, "nlr-a")
	if l, err := h.conn.LinkByIndex(a.Index); err != nil || !reflect.DeepEqual(l, a) {
		t.Errorf("LinkByIndex = %+v, %v; want %+v", l, err, a)
	}
	if _, err := h.conn.LinkByIndex(9999); !errors.Is(err, ErrNoLink) {
		t.Errorf("LinkByIndex of a missing link: %v", err)
	}
}

// PortsOf answers with the bridge's ports only: the kernel filters before
// it fills a message (this kernel has strict checking).
func TestPortsOf(t *testing.T) {
	h := newHost(t)
	h.ip(t, "link", "add", "nlr-br", "type", "bridge")
	h.ip(t, "link", "add", "nlr-other", "type", "bridge")
	h.ip(t, "link", "add", "nlr-a", "type", "veth", "peer", "name", "nlr-b")
	h.ip(t, "link", "add", "nlr-c", "type", "veth", "peer", "name", "nlr-d")
	h.ip(t, "link", "set", "nlr-a", "master", "nlr-br")
	h.ip(t, "link", "set", "nlr-c", "master", "nlr-other")
	br := h.link(t, "nlr-br")
	got, err := h.conn.PortsOf(br.Index)
	if err != nil || len(got) != 1 || got[0].Name != "nlr-a" || got[0].Master != br.Index {
		t.Errorf("PortsOf(nlr-br) = %+v, %v; want nlr-a only", got, err)
	}
	if got, err := h.conn.PortsOf(h.link(t, "nlr-b").Index); err != nil || len(got) != 0 {
		t.Errorf("PortsOf a link that is no master = %+v, %v", got, err)
	}
}

// A thread that opens sockets in one namespace after another (OpenAway)
// gets sockets that each talk to their own namespace, and Release brings
// it back to the namespace it started in.
func TestOpenAwayAndBack(t *testing.T) {
	a, b := newHost(t), newHost(t)
	a.ip(t, "link", "add", "only-in-a", "type", "bridge")
	b.ip(t, "link", "add", "only-in-b", "type", "bridge")

	runtime.LockOSThread() // keeps the goroutine on the thread past Release
	defer runtime.UnlockOSThread()
	before, err := os.Readlink("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	th, err := LockThread()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string][]string{}
	for _, h := range []*host{a, b} {
		c, err := th.OpenAway(h.ns)
		if err != nil {
			th.Release()
			t.Fatal(err)
		}
		links, err := c.Links()
		c.Close()
		if err != nil {
			th.Release()
			t.Fatal(err)
		}
		for _, k := range links {
			names[h.sb.Name()] = append(names[h.sb.Name()], k.Name)
		}
	}
	th.Release()
	after, err := os.Readlink("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Errorf("thread left in %s, started in %s", after, before)
	}
	if !slices.Contains(names[a.sb.Name()], "only-in-a") || slices.Contains(names[a.sb.Name()], "only-in-b") ||
		!slices.Contains(names[b.sb.Name()], "only-in-b") || slices.Contains(names[b.sb.Name()], "only-in-a") {
		t.Errorf("links seen through each socket: %v", names)
	}
}
