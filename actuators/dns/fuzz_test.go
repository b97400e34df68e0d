package dns

import (
	"testing"

	mdns "github.com/miekg/dns"
	"github.com/rs/zerolog"
)

// FuzzPacket feeds arbitrary bytes to the UDP packet handler, from a
// container of each kind (member, another network's, a stranger), as a
// container could send them. Whatever comes in: no panic, and an answer,
// when there is one, is a well-formed reply to that query's id that fits
// the client's buffer.
func FuzzPacket(f *testing.F) {
	for _, q := range []struct {
		name  string
		qtype uint16
		edns  bool
	}{
		{"y.", mdns.TypeA, false},
		{"shared.", mdns.TypeA, true},
		{"3.0.1.127.in-addr.arpa.", mdns.TypePTR, false},
		{"ext.test.", mdns.TypeAAAA, false},
		{"x.", mdns.TypeANY, true},
	} {
		m := new(mdns.Msg)
		m.SetQuestion(q.name, q.qtype)
		if q.edns {
			m.SetEdns0(4096, true)
		}
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0, 1, 0, 1}) // a self-pointing name

	s := New(Options{Log: zerolog.Nop()})
	defer s.Close()
	snap, _ := build(testConfig(), DefaultPort, zerolog.Nop())
	s.snap.Store(snap)
	k := listenKey{addr: ip("127.0.0.1")}
	sources := []string{"127.1.0.2", "127.2.0.3", "127.9.9.9"}
	out := make([]byte, 0, mdns.MaxMsgSize)

	f.Fuzz(func(t *testing.T, pkt []byte) {
		for _, src := range sources {
			p := s.packet(k, pkt, ip(src), out)
			if p.answer == nil {
				continue
			}
			var req, resp mdns.Msg
			if err := req.Unpack(pkt); err != nil {
				t.Fatalf("answered a packet that does not parse: %v", err)
			}
			if err := resp.Unpack(p.answer); err != nil {
				t.Fatalf("answer does not parse: %v", err)
			}
			if !resp.Response || resp.Id != req.Id {
				t.Fatalf("answer is not a reply to id %d: %v", req.Id, resp.MsgHdr)
			}
			if len(p.answer) > max(udpSize(&req), mdns.MinMsgSize) {
				t.Fatalf("answer of %d bytes over the client's %d", len(p.answer), udpSize(&req))
			}
		}
	})
}
