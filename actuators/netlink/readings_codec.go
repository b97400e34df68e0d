package netlink

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"

	"github.com/netctl/netctl/internal/nlraw"
	"github.com/netctl/netctl/model"
)

// The readings file's encoding: the magic line, then length-prefixed
// fields (uvarints, strings, netip binary forms). gob took ~2 ms to decode
// 1,000 containers' readings, a no-op's read of them; this takes a fifth
// of that, mostly because the few distinct short strings (interface and
// network names) are shared instead of allocated per container.

func encodeReadings(s *savedReadings) []byte {
	w := codecWriter{b: make([]byte, 0, 64+len(s.Containers)*160)}
	w.header(readingsMagic, fileHeader{s.Instance, s.Epoch, s.Seq})
	w.u(uint64(len(s.Containers)))
	for id, r := range s.Containers {
		w.str(id)
		w.str(r.Path)
		w.u(r.Dev)
		w.u(r.Ino)
		w.addr(r.GW)
		w.addr(r.GW6)
		w.u(uint64(len(r.IfNames)))
		for _, n := range r.IfNames {
			w.str(n)
		}
		w.flag(r.LoUp)
		w.u(uint64(len(r.Peers)))
		for _, p := range r.Peers {
			w.str(p.Mark)
			w.u(uint64(p.Index))
			w.u(uint64(p.PeerIndex))
			w.u(uint64(uint32(p.NSID)))
			ep := p.Endpoint
			w.str(ep.Network)
			w.str(ep.IfName)
			w.str(string(ep.MAC))
			w.u(uint64(ep.MTU))
			w.prefix(ep.Addr)
			w.prefix(ep.AddrV6)
			w.flag(ep.AcceptRA)
			w.flag(ep.PeerOK)
		}
	}
	return w.b
}

// encodeHostDumps writes the host's dumps, read at the journal's count seq
// of epoch, in the readings' encoding.
func encodeHostDumps(instance string, epoch, seq uint64, h *hostDumps) []byte {
	w := codecWriter{b: make([]byte, 0, 64+len(h.Links)*96)}
	w.header(hostDumpsMagic, fileHeader{instance, epoch, seq})
	w.hostDumps(h)
	return w.b
}

// decodeHostDumps reads what encodeHostDumps wrote.
func decodeHostDumps(b []byte) (fileHeader, *hostDumps, error) {
	hd, rest, ok := splitHeader(b, hostDumpsMagic)
	if !ok {
		return fileHeader{}, nil, errors.New("not a host dumps file")
	}
	r := codecReader{b: rest, shared: map[string]string{}}
	h := r.hostDumps()
	if err := r.end("host dumps"); err != nil {
		return fileHeader{}, nil, err
	}
	return hd, h, nil
}

func (w *codecWriter) hostDumps(h *hostDumps) {
	w.u(uint64(len(h.Links)))
	for _, k := range h.Links {
		w.u(uint64(k.Index))
		w.u(uint64(k.Peer))
		w.u(uint64(k.Master))
		w.u(uint64(k.Group))
		w.u(uint64(k.MTU))
		w.flag(k.Up)
		w.str(k.Name)
		w.str(k.Alias)
		w.str(k.Kind)
		w.str(string(k.MAC))
		w.flag(k.Hairpin)
		w.flag(k.AcceptRA)
		w.flag(k.DisableIPv6)
		w.u(uint64(uint32(int32(k.LinkNSID))))
	}
	w.u(uint64(len(h.Addrs)))
	for _, a := range h.Addrs {
		w.u(uint64(a.Index))
		w.prefix(a.Prefix)
		w.u(uint64(a.Flags))
	}
	w.u(uint64(len(h.Routes)))
	for _, r := range h.Routes {
		w.u(uint64(r.Table))
		w.u(uint64(r.Type))
		w.prefix(r.Dst)
		w.addr(r.GW)
		w.u(uint64(r.OIF))
	}
}

func (r *codecReader) hostDumps() *hostDumps {
	h := &hostDumps{Links: make([]nlraw.Link, r.count())}
	for i := range h.Links {
		k := &h.Links[i]
		k.Index, k.Peer, k.Master = int(r.u()), int(r.u()), int(r.u())
		k.Group, k.MTU = uint32(r.u()), int(r.u())
		k.Up = r.flag()
		k.Name, k.Alias, k.Kind = r.str(), r.str(), r.shortStr()
		if mac := r.str(); mac != "" {
			k.MAC = net.HardwareAddr(mac)
		}
		k.Hairpin, k.AcceptRA, k.DisableIPv6 = r.flag(), r.flag(), r.flag()
		k.LinkNSID = int(int32(uint32(r.u())))
	}
	h.Addrs = make([]nlraw.Addr, r.count())
	for i := range h.Addrs {
		a := &h.Addrs[i]
		a.Index, a.Prefix, a.Flags = int(r.u()), r.prefix(), uint32(r.u())
	}
	h.Routes = make([]nlraw.Route, r.count())
	for i := range h.Routes {
		rt := &h.Routes[i]
		rt.Table, rt.Type = uint32(r.u()), uint8(r.u())
		rt.Dst, rt.GW, rt.OIF = r.prefix(), r.addr(), int(r.u())
	}
	return h
}

// decodeReadings reads what encodeReadings wrote; an error for anything
// else (another format, a torn file).
func decodeReadings(b []byte) (*savedReadings, error) {
	hd, rest, ok := splitHeader(b, readingsMagic)
	if !ok {
		return nil, errors.New("not a namespace readings file")
	}
	return decodeReadingsBody(hd, rest)
}

// decodeReadingsBody reads the containers' readings that follow the
// header hd.
func decodeReadingsBody(hd fileHeader, b []byte) (*savedReadings, error) {
	r := codecReader{b: b, shared: map[string]string{}}
	s := &savedReadings{Magic: readingsMagic, Instance: hd.instance, Epoch: hd.epoch, Seq: hd.seq}
	n := r.count()
	s.Containers = make(map[string]nsReading, n)
	for range n {
		id := r.str()
		c := nsReading{Path: r.str(), Dev: r.u(), Ino: r.u(), GW: r.addr(), GW6: r.addr()}
		c.IfNames = make([]string, r.count())
		for i := range c.IfNames {
			c.IfNames[i] = r.shortStr()
		}
		c.LoUp = r.flag()
		c.Peers = make([]peerReading, r.count())
		for i := range c.Peers {
			p := &c.Peers[i]
			p.Mark = r.str()
			p.Index, p.PeerIndex = int(r.u()), int(r.u())
			p.NSID = int32(uint32(r.u()))
			p.Endpoint = model.Endpoint{Network: r.shortStr(), IfName: r.shortStr()}
			if mac := r.str(); mac != "" {
				p.Endpoint.MAC = net.HardwareAddr(mac)
			}
			p.Endpoint.MTU = int(r.u())
			p.Endpoint.Addr, p.Endpoint.AddrV6 = r.prefix(), r.prefix()
			p.Endpoint.AcceptRA, p.Endpoint.PeerOK = r.flag(), r.flag()
		}
		if r.err != nil {
			break
		}
		s.Containers[id] = c
	}
	if err := r.end("namespace readings"); err != nil {
		return nil, err
	}
	return s, nil
}

type codecWriter struct{ b []byte }

// fileHeader is what both files start with, after their magic: whose they
// are and the journal's count they were read at.
type fileHeader struct {
	instance   string
	epoch, seq uint64
}

func (w *codecWriter) header(magic string, h fileHeader) {
	w.str(magic)
	w.str(h.instance)
	w.u(h.epoch)
	w.u(h.seq)
}

// splitHeader reads a file's header, and returns what follows it; false
// when the file is not one of magic's. The header alone is enough to ask
// the journal whether the rest is worth decoding.
func splitHeader(b []byte, magic string) (fileHeader, []byte, bool) {
	r := codecReader{b: b}
	if r.str() != magic {
		return fileHeader{}, nil, false
	}
	h := fileHeader{r.str(), r.u(), r.u()}
	return h, r.b, r.err == nil
}

// end is the reader's error, or one for bytes left over.
func (r *codecReader) end(what string) error {
	if r.err == nil && len(r.b) != 0 {
		r.err = errors.New(what + ": trailing bytes")
	}
	return r.err
}

func (w *codecWriter) u(v uint64) { w.b = binary.AppendUvarint(w.b, v) }

func (w *codecWriter) str(s string) {
	w.u(uint64(len(s)))
	w.b = append(w.b, s...)
}

func (w *codecWriter) flag(v bool) {
	if v {
		w.b = append(w.b, 1)
	} else {
		w.b = append(w.b, 0)
	}
}

func (w *codecWriter) addr(a netip.Addr) {
	b, _ := a.MarshalBinary()
	w.str(string(b))
}

func (w *codecWriter) prefix(p netip.Prefix) {
	b, _ := p.MarshalBinary()
	w.str(string(b))
}

type codecReader struct {
	b      []byte
	err    error
	shared map[string]string // short strings, decoded once
}

var errTorn = errors.New("namespace readings: torn or corrupt")

func (r *codecReader) u() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errTorn
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a length that must fit in what is left of the file.
func (r *codecReader) count() int {
	n := r.u()
	if n > uint64(len(r.b)) {
		r.err = errTorn
		return 0
	}
	return int(n)
}

func (r *codecReader) bytes() []byte {
	n := r.count()
	if r.err != nil {
		return nil
	}
	b := r.b[:n]
	r.b = r.b[n:]
	return b
}

func (r *codecReader) str() string { return string(r.bytes()) }

// shortStr shares the copies of the strings that repeat across containers
// (eth0, lo, network names).
func (r *codecReader) shortStr() string {
	b := r.bytes()
	if s, ok := r.shared[string(b)]; ok {
		return s
	}
	s := string(b)
	r.shared[s] = s
	return s
}

func (r *codecReader) flag() bool {
	if r.err != nil || len(r.b) == 0 {
		r.err = errTorn
		return false
	}
	v := r.b[0]
	r.b = r.b[1:]
	if v > 1 {
		r.err = errTorn
	}
	return v == 1
}

func (r *codecReader) addr() netip.Addr {
	var a netip.Addr
	if b := r.bytes(); r.err == nil && a.UnmarshalBinary(b) != nil {
		r.err = errTorn
	}
	return a
}

func (r *codecReader) prefix() netip.Prefix {
	var p netip.Prefix
	if b := r.bytes(); r.err == nil && p.UnmarshalBinary(b) != nil {
		r.err = errTorn
	}
	return p
}
