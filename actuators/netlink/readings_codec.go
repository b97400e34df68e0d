package netlink

import (
	"errors"
	"net"

	"github.com/netctl/netctl/internal/cachefile"
	"github.com/netctl/netctl/internal/nlraw"
	"github.com/netctl/netctl/model"
)

// The readings file's encoding (internal/cachefile): the header, then
// length-prefixed fields (uvarints, strings, netip binary forms). gob took ~2 ms to decode
// 1,000 containers' readings, a no-op's read of them; this takes a fifth
// of that, mostly because the few distinct short strings (interface and
// network names) are shared instead of allocated per container.

func encodeReadings(s *savedReadings) []byte {
	w := cachefile.Writer{B: make([]byte, 0, 64+len(s.Containers)*160)}
	w.Header(readingsMagic, cachefile.Header{Instance: s.Instance, Epoch: s.Epoch, Seq: s.Seq})
	w.U(uint64(len(s.Containers)))
	for id, r := range s.Containers {
		w.Str(id)
		w.Str(r.Path)
		w.U(r.Dev)
		w.U(r.Ino)
		w.Addr(r.GW)
		w.Addr(r.GW6)
		w.U(uint64(len(r.IfNames)))
		for _, n := range r.IfNames {
			w.Str(n)
		}
		w.Flag(r.LoUp)
		w.U(uint64(len(r.Peers)))
		for _, p := range r.Peers {
			w.Str(p.Mark)
			w.U(uint64(p.Index))
			w.U(uint64(p.PeerIndex))
			w.U(uint64(uint32(p.NSID)))
			ep := p.Endpoint
			w.Str(ep.Network)
			w.Str(ep.IfName)
			w.Str(string(ep.MAC))
			w.U(uint64(ep.MTU))
			w.Prefix(ep.Addr)
			w.Prefix(ep.AddrV6)
			w.Flag(ep.AcceptRA)
			w.Flag(ep.PeerOK)
		}
	}
	return w.B
}

// encodeHostDumps writes the host's dumps, read at the journal's count seq
// of epoch, in the readings' encoding.
func encodeHostDumps(instance string, epoch, seq uint64, h *hostDumps) []byte {
	w := cachefile.Writer{B: make([]byte, 0, 64+len(h.Links)*96)}
	w.Header(hostDumpsMagic, cachefile.Header{Instance: instance, Epoch: epoch, Seq: seq})
	writeHostDumps(&w, h)
	return w.B
}

// decodeHostDumps reads what encodeHostDumps wrote.
func decodeHostDumps(b []byte) (cachefile.Header, *hostDumps, error) {
	hd, rest, ok := cachefile.SplitHeader(b, hostDumpsMagic)
	if !ok {
		return cachefile.Header{}, nil, errors.New("not a host dumps file")
	}
	r := cachefile.NewReader(rest)
	h := readHostDumps(r)
	if err := r.End("host dumps"); err != nil {
		return cachefile.Header{}, nil, err
	}
	return hd, h, nil
}

func writeHostDumps(w *cachefile.Writer, h *hostDumps) {
	w.U(uint64(len(h.Links)))
	for _, k := range h.Links {
		w.U(uint64(k.Index))
		w.U(uint64(k.Peer))
		w.U(uint64(k.Master))
		w.U(uint64(k.Group))
		w.U(uint64(k.MTU))
		w.Flag(k.Up)
		w.Str(k.Name)
		w.Str(k.Alias)
		w.Str(k.Kind)
		w.Str(string(k.MAC))
		w.Flag(k.Hairpin)
		w.Flag(k.AcceptRA)
		w.Flag(k.DisableIPv6)
		w.U(uint64(uint32(int32(k.LinkNSID))))
	}
	w.U(uint64(len(h.Addrs)))
	for _, a := range h.Addrs {
		w.U(uint64(a.Index))
		w.Prefix(a.Prefix)
		w.U(uint64(a.Flags))
	}
	w.U(uint64(len(h.Routes)))
	for _, r := range h.Routes {
		w.U(uint64(r.Table))
		w.U(uint64(r.Type))
		w.Prefix(r.Dst)
		w.Addr(r.GW)
		w.U(uint64(r.OIF))
	}
}

func readHostDumps(r *cachefile.Reader) *hostDumps {
	h := &hostDumps{Links: make([]nlraw.Link, r.Count())}
	for i := range h.Links {
		k := &h.Links[i]
		k.Index, k.Peer, k.Master = int(r.U()), int(r.U()), int(r.U())
		k.Group, k.MTU = uint32(r.U()), int(r.U())
		k.Up = r.Flag()
		k.Name, k.Alias, k.Kind = r.Str(), r.Str(), r.ShortStr()
		if mac := r.Str(); mac != "" {
			k.MAC = net.HardwareAddr(mac)
		}
		k.Hairpin, k.AcceptRA, k.DisableIPv6 = r.Flag(), r.Flag(), r.Flag()
		k.LinkNSID = int(int32(uint32(r.U())))
	}
	h.Addrs = make([]nlraw.Addr, r.Count())
	for i := range h.Addrs {
		a := &h.Addrs[i]
		a.Index, a.Prefix, a.Flags = int(r.U()), r.Prefix(), uint32(r.U())
	}
	h.Routes = make([]nlraw.Route, r.Count())
	for i := range h.Routes {
		rt := &h.Routes[i]
		rt.Table, rt.Type = uint32(r.U()), uint8(r.U())
		rt.Dst, rt.GW, rt.OIF = r.Prefix(), r.Addr(), int(r.U())
	}
	return h
}

// decodeReadings reads what encodeReadings wrote; an error for anything
// else (another format, a torn file).
func decodeReadings(b []byte) (*savedReadings, error) {
	hd, rest, ok := cachefile.SplitHeader(b, readingsMagic)
	if !ok {
		return nil, errors.New("not a namespace readings file")
	}
	return decodeReadingsBody(hd, rest)
}

// decodeReadingsBody reads the containers' readings that follow the
// header hd.
func decodeReadingsBody(hd cachefile.Header, b []byte) (*savedReadings, error) {
	r := cachefile.NewReader(b)
	s := &savedReadings{Magic: readingsMagic, Instance: hd.Instance, Epoch: hd.Epoch, Seq: hd.Seq}
	n := r.Count()
	s.Containers = make(map[string]nsReading, n)
	for range n {
		id := r.Str()
		c := nsReading{Path: r.Str(), Dev: r.U(), Ino: r.U(), GW: r.Addr(), GW6: r.Addr()}
		c.IfNames = make([]string, r.Count())
		for i := range c.IfNames {
			c.IfNames[i] = r.ShortStr()
		}
		c.LoUp = r.Flag()
		c.Peers = make([]peerReading, r.Count())
		for i := range c.Peers {
			p := &c.Peers[i]
			p.Mark = r.Str()
			p.Index, p.PeerIndex = int(r.U()), int(r.U())
			p.NSID = int32(uint32(r.U()))
			p.Endpoint = model.Endpoint{Network: r.ShortStr(), IfName: r.ShortStr()}
			if mac := r.Str(); mac != "" {
				p.Endpoint.MAC = net.HardwareAddr(mac)
			}
			p.Endpoint.MTU = int(r.U())
			p.Endpoint.Addr, p.Endpoint.AddrV6 = r.Prefix(), r.Prefix()
			p.Endpoint.AcceptRA, p.Endpoint.PeerOK = r.Flag(), r.Flag()
		}
		if r.Err() != nil {
			break
		}
		s.Containers[id] = c
	}
	if err := r.End("namespace readings"); err != nil {
		return nil, err
	}
	return s, nil
}
