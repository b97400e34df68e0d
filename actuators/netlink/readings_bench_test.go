package netlink

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"testing"

	"github.com/netctl/netctl/internal/cachefile"
	"github.com/netctl/netctl/internal/nlraw"
	"github.com/netctl/netctl/model"
)

// bigReadings is what 1,000 one-network containers' readings hold.
func bigReadings(n int) *savedReadings {
	s := &savedReadings{Magic: readingsMagic, Epoch: 7, Seq: 9, Containers: map[string]nsReading{}}
	for i := range n {
		a := netip.AddrFrom4([4]byte{172, 20, byte(i >> 8), byte(i)})
		s.Containers[fmt.Sprintf("bench/c%d", i)] = nsReading{
			Path: fmt.Sprintf("/run/netctl/netns/bench/c%d", i), Dev: 4, Ino: uint64(4026532000 + i),
			GW: netip.MustParseAddr("172.20.0.1"), IfNames: []string{"eth0", "lo"}, LoUp: true,
			Peers: []peerReading{{Mark: fmt.Sprintf("netctl:bench:net1/c%d", i), Index: 2, PeerIndex: 1000 + i, NSID: int32(i),
				Endpoint: model.Endpoint{Network: "bench/net1", IfName: "eth0", Addr: netip.PrefixFrom(a, 16),
					MAC: model.MACFor(a), MTU: 1500, PeerOK: true}}},
		}
	}
	return s
}

func BenchmarkReadingsDecode1000(b *testing.B) {
	enc := encodeReadings(bigReadings(1000))
	b.SetBytes(int64(len(enc)))
	for b.Loop() {
		if _, err := decodeReadings(enc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkJournalAnswer1000(b *testing.B) {
	a := JournalAnswer{Epoch: 7, Seq: 9, NSIDs: map[int32]string{}}
	for i := range 1000 {
		a.NSIDs[int32(i)] = fmt.Sprintf("bench/c%d", i)
	}
	for b.Loop() {
		out, _ := json.Marshal(toWire(a))
		var w wireAnswer
		if err := json.Unmarshal(out, &w); err != nil {
			b.Fatal(err)
		}
		if _, err := fromWire(w); err != nil {
			b.Fatal(err)
		}
	}
}

func TestReadingsRoundTrip(t *testing.T) {
	want := bigReadings(50)
	want.Instance = "/srv/netctl"
	c := want.Containers["bench/c3"]
	c.GW6 = netip.MustParseAddr("fd00:1::1")
	c.Peers[0].Endpoint.AddrV6 = netip.MustParsePrefix("fd00:1::3/64")
	c.Peers[0].Endpoint.AcceptRA = true
	c.Peers[0].NSID = -1
	c.Peers = append(c.Peers, peerReading{Mark: "m", Endpoint: model.Endpoint{Network: "bench/net2", IfName: "eth1"}})
	want.Containers["bench/c3"] = c
	enc := encodeReadings(want)
	got, err := decodeReadings(enc)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip: %v\n got %+v\nwant %+v", err, got.Containers["bench/c3"], want.Containers["bench/c3"])
	}
	// A torn file (a crash is atomic; a disk is not always) is no reading.
	for n := range len(enc) {
		if _, err := decodeReadings(enc[:n]); err == nil {
			t.Fatalf("the first %d of %d bytes decoded", n, len(enc))
		}
	}
}

func FuzzDecodeReadings(f *testing.F) {
	f.Add(encodeReadings(bigReadings(3)))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeReadings(b)
		if err != nil {
			return
		}
		if again, err := decodeReadings(encodeReadings(s)); err != nil || !reflect.DeepEqual(again, s) {
			t.Fatalf("re-encoded readings differ: %v", err)
		}
	})
}

func TestHostDumpsRoundTrip(t *testing.T) {
	h := &hostDumps{
		Links: []nlraw.Link{
			{Index: 1, Up: true, Name: "lo", Kind: "", MAC: net.HardwareAddr{0, 0, 0, 0, 0, 0}, LinkNSID: -1, AcceptRA: true},
			{Index: 7, Peer: 2, Master: 5, Group: 9, MTU: 1500, Up: true, Name: "vethabc", Alias: "netctl:bench:net1/c3",
				Kind: "veth", MAC: net.HardwareAddr{2, 0x42, 1, 2, 3, 4}, Hairpin: true, DisableIPv6: true, LinkNSID: 12},
		},
		Addrs:  []nlraw.Addr{{Index: 5, Prefix: netip.MustParsePrefix("172.20.0.1/16"), Flags: 0x80}},
		Routes: []nlraw.Route{{Table: 254, Type: 1, Dst: netip.MustParsePrefix("10.0.0.0/8"), GW: netip.MustParseAddr("192.0.2.1"), OIF: 3}},
	}
	enc := encodeHostDumps("/srv/netctl", 7, 9, h)
	hd, got, err := decodeHostDumps(enc)
	if err != nil || hd != (cachefile.Header{Instance: "/srv/netctl", Epoch: 7, Seq: 9}) || !reflect.DeepEqual(got, h) {
		t.Fatalf("round trip: %v %+v\n got %+v\nwant %+v", err, hd, got, h)
	}
	for n := range len(enc) {
		if _, _, err := decodeHostDumps(enc[:n]); err == nil {
			t.Fatalf("the first %d of %d bytes decoded", n, len(enc))
		}
	}
}
