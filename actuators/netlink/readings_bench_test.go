package netlink

import (
	"bytes"
	"encoding/gob"
	"encoding/json"
	"fmt"
	"net/netip"
	"testing"

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
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(bigReadings(1000)); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(buf.Len()))
	for b.Loop() {
		var s savedReadings
		if err := gob.NewDecoder(bytes.NewReader(buf.Bytes())).Decode(&s); err != nil {
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
