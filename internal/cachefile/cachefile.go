// Package cachefile is the encoding of the readings netctl keeps under
// <root>/cache for the next command (the namespaces', the host's dumps,
// the containers' files): a header (the format's magic, whose the file is,
// and the journal's epoch and count it was read at) and then
// length-prefixed fields (uvarints, strings, netip binary forms). A torn
// or corrupt file, or one of another format, reads as an error: a cache
// that cannot be read is no reading.
package cachefile

import (
	"encoding/binary"
	"errors"
	"net/netip"
)

// Header is what every cache file starts with, after its magic: whose it
// is and the journal's count it was read at.
type Header struct {
	Instance   string
	Epoch, Seq uint64
}

// Writer appends fields to B.
type Writer struct{ B []byte }

// Header writes magic and h.
func (w *Writer) Header(magic string, h Header) {
	w.Str(magic)
	w.Str(h.Instance)
	w.U(h.Epoch)
	w.U(h.Seq)
}

// U writes an unsigned number.
func (w *Writer) U(v uint64) { w.B = binary.AppendUvarint(w.B, v) }

// Str writes a string (or any bytes).
func (w *Writer) Str(s string) {
	w.U(uint64(len(s)))
	w.B = append(w.B, s...)
}

// Len writes a slice's or a map's length, telling nil from empty (the
// length plus one, 0 for nil): a reading must equal what it was read
// from, and JSON, say, decodes null and [] apart.
func (w *Writer) Len(isNil bool, n int) {
	if isNil {
		w.U(0)
	} else {
		w.U(uint64(n) + 1)
	}
}

// Strs writes a slice of strings (nil and empty apart).
func (w *Writer) Strs(ss []string) {
	w.Len(ss == nil, len(ss))
	for _, v := range ss {
		w.Str(v)
	}
}

// Addrs writes a slice of addresses (nil and empty apart).
func (w *Writer) Addrs(as []netip.Addr) {
	w.Len(as == nil, len(as))
	for _, a := range as {
		w.Addr(a)
	}
}

// Flag writes a bool.
func (w *Writer) Flag(v bool) {
	if v {
		w.B = append(w.B, 1)
	} else {
		w.B = append(w.B, 0)
	}
}

// Addr writes an address (the zero one too).
func (w *Writer) Addr(a netip.Addr) {
	b, _ := a.MarshalBinary()
	w.Str(string(b))
}

// Prefix writes a prefix (the zero one too).
func (w *Writer) Prefix(p netip.Prefix) {
	b, _ := p.MarshalBinary()
	w.Str(string(b))
}

// AddrPort writes an address and port.
func (w *Writer) AddrPort(a netip.AddrPort) {
	b, _ := a.MarshalBinary()
	w.Str(string(b))
}

// SplitHeader reads a file's header, and returns what follows it; false
// when the file is not one of magic's. The header alone is enough to ask
// the journal whether the rest is worth decoding.
func SplitHeader(b []byte, magic string) (Header, []byte, bool) {
	r := NewReader(b)
	if r.Str() != magic {
		return Header{}, nil, false
	}
	h := Header{r.Str(), r.U(), r.U()}
	return h, r.b, r.err == nil
}

// Reader reads fields in the order a Writer wrote them. Its first failure
// sticks: every later read returns a zero value, and End reports it.
type Reader struct {
	b      []byte
	err    error
	shared map[string]string // short strings, decoded once
}

// NewReader reads b.
func NewReader(b []byte) *Reader { return &Reader{b: b, shared: map[string]string{}} }

var errTorn = errors.New("torn or corrupt")

// Err is the reader's first failure.
func (r *Reader) Err() error { return r.err }

// End is the reader's failure, or one for bytes left over; what names the
// file in the error.
func (r *Reader) End(what string) error {
	if r.err == nil && len(r.b) != 0 {
		r.err = errors.New("trailing bytes")
	}
	if r.err != nil {
		return errors.New(what + ": " + r.err.Error())
	}
	return nil
}

// U reads an unsigned number.
func (r *Reader) U() uint64 {
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

// Count reads a length, which must fit in what is left of the file.
func (r *Reader) Count() int {
	n := r.U()
	if n > uint64(len(r.b)) {
		r.err = errTorn
		return 0
	}
	return int(n)
}

// Len reads what Writer.Len wrote: the length, and false for nil. The
// length must fit in what is left of the file.
func (r *Reader) Len() (int, bool) {
	n := r.U()
	if n == 0 || r.err != nil {
		return 0, false
	}
	if n-1 > uint64(len(r.b)) {
		r.err = errTorn
		return 0, false
	}
	return int(n - 1), true
}

// Bytes reads a string's bytes, without copying them.
func (r *Reader) Bytes() []byte {
	n := r.Count()
	if r.err != nil {
		return nil
	}
	b := r.b[:n]
	r.b = r.b[n:]
	return b
}

// Str reads a string.
func (r *Reader) Str() string { return string(r.Bytes()) }

// ShortStr reads a string that repeats across records (eth0, lo, network
// names, modes), sharing one copy of each.
func (r *Reader) ShortStr() string {
	b := r.Bytes()
	if s, ok := r.shared[string(b)]; ok {
		return s
	}
	s := string(b)
	r.shared[s] = s
	return s
}

// Flag reads a bool.
func (r *Reader) Flag() bool {
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

// Addr reads an address.
func (r *Reader) Addr() netip.Addr {
	var a netip.Addr
	if b := r.Bytes(); r.err == nil && a.UnmarshalBinary(b) != nil {
		r.err = errTorn
	}
	return a
}

// Prefix reads a prefix.
func (r *Reader) Prefix() netip.Prefix {
	var p netip.Prefix
	if b := r.Bytes(); r.err == nil && p.UnmarshalBinary(b) != nil {
		r.err = errTorn
	}
	return p
}

// AddrPort reads an address and port.
func (r *Reader) AddrPort() netip.AddrPort {
	var a netip.AddrPort
	if b := r.Bytes(); r.err == nil && a.UnmarshalBinary(b) != nil {
		r.err = errTorn
	}
	return a
}

// Strs reads what Writer.Strs wrote, sharing the strings that repeat
// (ShortStr).
func (r *Reader) Strs() []string {
	n, ok := r.Len()
	if !ok {
		return nil
	}
	ss := make([]string, n)
	for i := range ss {
		ss[i] = r.ShortStr()
	}
	return ss
}

// Addrs reads what Writer.Addrs wrote.
func (r *Reader) Addrs() []netip.Addr {
	n, ok := r.Len()
	if !ok {
		return nil
	}
	as := make([]netip.Addr, n)
	for i := range as {
		as[i] = r.Addr()
	}
	return as
}
