package nlraw

import (
	"errors"
	"net"
	"net/netip"
	"reflect"
	"testing"

	vnl "github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// message serialises a request's payload the way the kernel would send
// it: header, then data.
func message(typ uint16, data ...nl.NetlinkRequestData) []byte {
	return Request{Type: typ, Data: data}.serialize(0)
}

// payloads walks b and returns the payloads of its messages.
func payloads(t *testing.T, b []byte) [][]byte {
	t.Helper()
	var out [][]byte
	if err := Messages(b, func(_ Header, m []byte) error { out = append(out, m); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestMessagesWalksAndRejectsBadLengths(t *testing.T) {
	a := message(unix.RTM_NEWLINK, nl.NewIfInfomsg(unix.AF_UNSPEC), nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated("eth0")))
	b := message(unix.RTM_NEWADDR, nl.NewIfAddrmsg(unix.AF_INET))
	var types []uint16
	err := Messages(append(a, b...), func(h Header, _ []byte) error { types = append(types, h.Type); return nil })
	if err != nil || !reflect.DeepEqual(types, []uint16{unix.RTM_NEWLINK, unix.RTM_NEWADDR}) {
		t.Fatalf("types %v, err %v", types, err)
	}
	bad := append([]byte(nil), a...)
	bad[0] = 200 // longer than the datagram
	if err := Messages(bad, func(Header, []byte) error { return nil }); err == nil {
		t.Error("a length beyond the datagram passed")
	}
	stop := errors.New("stop")
	if err := Messages(append(a, b...), func(Header, []byte) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("fn's error not returned: %v", err)
	}
}

func TestParseLink(t *testing.T) {
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index, msg.Flags = 7, unix.IFF_UP
	info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated("veth"))
	m := payloads(t, message(unix.RTM_NEWLINK, msg,
		nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated("vx1")),
		nl.NewRtAttr(unix.IFLA_IFALIAS, []byte("netctl:p:n/c")),
		nl.NewRtAttr(unix.IFLA_ADDRESS, []byte{2, 0x42, 10, 0, 0, 2}),
		nl.NewRtAttr(unix.IFLA_MTU, nl.Uint32Attr(1400)),
		nl.NewRtAttr(unix.IFLA_LINK, nl.Uint32Attr(3)),
		nl.NewRtAttr(unix.IFLA_MASTER, nl.Uint32Attr(2)),
		nl.NewRtAttr(unix.IFLA_GROUP, nl.Uint32Attr(9)),
		nl.NewRtAttr(unix.IFLA_LINK_NETNSID, nl.Uint32Attr(4)),
		info))[0]
	got, err := ParseLink(m)
	want := Link{Index: 7, Peer: 3, Master: 2, Group: 9, MTU: 1400, Up: true, Name: "vx1",
		Alias: "netctl:p:n/c", Kind: "veth", MAC: net.HardwareAddr{2, 0x42, 10, 0, 0, 2}, LinkNSID: 4}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("ParseLink = %+v, %v; want %+v", got, err, want)
	}
	if _, err := ParseLink(m[:10]); err == nil {
		t.Error("short message passed")
	}
	// lo's all-zero address is no MAC.
	lo := payloads(t, message(unix.RTM_NEWLINK, nl.NewIfInfomsg(unix.AF_UNSPEC), nl.NewRtAttr(unix.IFLA_ADDRESS, make([]byte, 6))))[0]
	if l, _ := ParseLink(lo); l.MAC != nil {
		t.Errorf("zero MAC kept: %v", l.MAC)
	}
}

// A bridge's own message about a port (AF_BRIDGE) carries the hairpin
// mode in IFLA_PROTINFO; IPv6's (AF_INET6) carries other attributes
// there, one of them with the same number, which is no hairpin mode.
func TestParseLinkPortFlags(t *testing.T) {
	for _, tc := range []struct {
		family int
		want   bool
	}{{unix.AF_BRIDGE, true}, {unix.AF_INET6, false}} {
		msg := nl.NewIfInfomsg(tc.family)
		msg.Index = 7
		proto := nl.NewRtAttr(unix.IFLA_PROTINFO|unix.NLA_F_NESTED, nil)
		proto.AddRtAttr(unix.IFLA_BRPORT_MODE, []byte{1})
		m := payloads(t, message(unix.RTM_NEWLINK, msg, proto))[0]
		got, err := ParseLink(m)
		if err != nil || got.Index != 7 || got.Hairpin != tc.want {
			t.Errorf("family %d: ParseLink = %+v, %v; want hairpin %v", tc.family, got, err, tc.want)
		}
	}
}

func TestParseAddr(t *testing.T) {
	msg := nl.NewIfAddrmsg(unix.AF_INET)
	msg.Index, msg.Prefixlen = 4, 24
	m := payloads(t, message(unix.RTM_NEWADDR, msg,
		nl.NewRtAttr(unix.IFA_ADDRESS, []byte{10, 250, 0, 9}), // a point-to-point peer
		nl.NewRtAttr(unix.IFA_LOCAL, []byte{10, 250, 0, 1})))[0]
	a, ok, err := ParseAddr(m)
	if !ok || err != nil || a != (Addr{Index: 4, Prefix: netip.MustParsePrefix("10.250.0.1/24")}) {
		t.Errorf("ParseAddr = %+v %v %v", a, ok, err)
	}
	msg6 := nl.NewIfAddrmsg(unix.AF_INET6)
	msg6.Index, msg6.Prefixlen = 4, 64
	v6 := payloads(t, message(unix.RTM_NEWADDR, msg6,
		nl.NewRtAttr(unix.IFA_ADDRESS, netip.MustParseAddr("fd00:18::10").AsSlice()),
		nl.NewRtAttr(unix.IFA_FLAGS, nl.Uint32Attr(unix.IFA_F_NODAD))))[0]
	a, ok, err = ParseAddr(v6)
	if !ok || err != nil || a != (Addr{Index: 4, Prefix: netip.MustParsePrefix("fd00:18::10/64"), Flags: unix.IFA_F_NODAD}) {
		t.Errorf("IPv6: ParseAddr = %+v %v %v", a, ok, err)
	}
	other := payloads(t, message(unix.RTM_NEWADDR, nl.NewIfAddrmsg(unix.AF_BRIDGE)))[0]
	if _, ok, _ := ParseAddr(other); ok {
		t.Error("an address of another family taken")
	}
}

func TestParseRoute(t *testing.T) {
	msg := make(raw, unix.SizeofRtMsg)
	msg[0], msg[1], msg[4], msg[7] = unix.AF_INET, 24, unix.RT_TABLE_MAIN, unix.RTN_UNICAST
	m := payloads(t, message(unix.RTM_NEWROUTE, msg,
		nl.NewRtAttr(unix.RTA_DST, []byte{10, 250, 1, 0}),
		nl.NewRtAttr(unix.RTA_GATEWAY, []byte{10, 250, 0, 1}),
		nl.NewRtAttr(unix.RTA_OIF, nl.Uint32Attr(5)),
		nl.NewRtAttr(unix.RTA_TABLE, nl.Uint32Attr(1000))))[0]
	r, ok, err := ParseRoute(m)
	want := Route{Table: 1000, Type: unix.RTN_UNICAST, Dst: netip.MustParsePrefix("10.250.1.0/24"),
		GW: netip.MustParseAddr("10.250.0.1"), OIF: 5}
	if !ok || err != nil || r != want {
		t.Errorf("ParseRoute = %+v %v %v, want %+v", r, ok, err, want)
	}
	def := make(raw, unix.SizeofRtMsg)
	def[0] = unix.AF_INET
	r, ok, _ = ParseRoute(payloads(t, message(unix.RTM_NEWROUTE, def))[0])
	if !ok || r.Dst != netip.MustParsePrefix("0.0.0.0/0") {
		t.Errorf("default route = %+v %v", r, ok)
	}
}

func TestParseLinkHairpin(t *testing.T) {
	port := func(slaveKind string, mode byte) []byte {
		msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
		msg.Index = 12
		info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
		info.AddRtAttr(unix.IFLA_INFO_KIND, nl.ZeroTerminated("veth"))
		info.AddRtAttr(unix.IFLA_INFO_SLAVE_KIND, nl.ZeroTerminated(slaveKind))
		info.AddRtAttr(unix.IFLA_INFO_SLAVE_DATA, nil).AddRtAttr(unix.IFLA_BRPORT_MODE, []byte{mode})
		return payloads(t, message(unix.RTM_NEWLINK, msg, nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated("veth1")), info))[0]
	}
	for _, tc := range []struct {
		slaveKind string
		mode      byte
		want      bool
	}{{"bridge", 1, true}, {"bridge", 0, false}, {"bond", 1, false}} {
		l, err := ParseLink(port(tc.slaveKind, tc.mode))
		if err != nil || l.Kind != "veth" || l.Name != "veth1" || l.Hairpin != tc.want {
			t.Errorf("%s port, mode %d: %+v %v; want hairpin %v", tc.slaveKind, tc.mode, l, err, tc.want)
		}
	}
}

func TestRetry(t *testing.T) {
	calls := 0
	v, err := Retry(func() (int, error) {
		calls++
		if calls < 3 {
			return 0, ErrDumpInterrupted
		}
		return 42, nil
	})
	if v != 42 || err != nil || calls != 3 {
		t.Errorf("got %d, %v after %d calls", v, err, calls)
	}
	calls = 0
	_, err = Retry(func() (int, error) { calls++; return 0, vnl.ErrDumpInterrupted })
	if !errors.Is(err, vnl.ErrDumpInterrupted) || calls != dumpTries {
		t.Errorf("persistent interruption: %v after %d calls", err, calls)
	}
	calls = 0
	_, err = Retry(func() (int, error) { calls++; return 0, unix.EPERM })
	if !errors.Is(err, unix.EPERM) || calls != 1 {
		t.Errorf("other error retried: %v after %d calls", err, calls)
	}
}

func TestAddAddrCarriesBroadcast(t *testing.T) {
	for _, c := range []struct{ prefix, brd string }{
		{"10.250.3.7/24", "10.250.3.255"},
		{"172.20.0.9/16", "172.20.255.255"},
		{"10.250.3.7/31", ""},
	} {
		req := AddAddr(4, netip.MustParsePrefix(c.prefix))
		m := payloads(t, req.serialize(0))[0]
		var brd netip.Addr
		if err := Attrs(m[unix.SizeofIfAddrmsg:], func(typ uint16, v []byte) {
			if typ == unix.IFA_BROADCAST {
				brd, _ = netip.AddrFromSlice(v)
			}
		}); err != nil {
			t.Fatal(err)
		}
		a, ok, err := ParseAddr(m)
		if !ok || err != nil || a.Prefix.String() != c.prefix || a.Index != 4 {
			t.Errorf("%s: request decodes as %+v %v %v", c.prefix, a, ok, err)
		}
		if got := brd.String(); (c.brd == "" && brd.IsValid()) || (c.brd != "" && got != c.brd) {
			t.Errorf("%s: broadcast %s, want %q", c.prefix, got, c.brd)
		}
	}
}
