package cachefile

import (
	"net/netip"
	"testing"
)

func TestRoundTripAndTornFiles(t *testing.T) {
	w := Writer{}
	w.Header("magic v1", Header{Instance: "/run/netctl", Epoch: 3, Seq: 9})
	w.U(1 << 40)
	w.Str("eth0")
	w.Flag(true)
	w.Addr(netip.MustParseAddr("fd00::1"))
	w.Addr(netip.Addr{})
	w.Prefix(netip.MustParsePrefix("172.18.0.2/16"))
	w.Len(true, 0)
	w.Len(false, 0)
	w.Len(false, 2)
	w.Str("eth0")
	w.Str("eth0")

	hd, body, ok := SplitHeader(w.B, "magic v1")
	if !ok || hd != (Header{Instance: "/run/netctl", Epoch: 3, Seq: 9}) {
		t.Fatalf("header %+v %v", hd, ok)
	}
	if _, _, ok := SplitHeader(w.B, "magic v2"); ok {
		t.Error("another format's header was read")
	}
	read := func(b []byte) error {
		r := NewReader(b)
		if r.U() != 1<<40 || r.Str() != "eth0" || !r.Flag() || r.Addr() != netip.MustParseAddr("fd00::1") ||
			r.Addr().IsValid() || r.Prefix() != netip.MustParsePrefix("172.18.0.2/16") {
			t.Errorf("fields read back wrong (err %v)", r.Err())
		}
		if n, ok := r.Len(); ok || n != 0 {
			t.Errorf("nil read back as %d, %v", n, ok)
		}
		if n, ok := r.Len(); !ok || n != 0 {
			t.Errorf("empty read back as %d, %v", n, ok)
		}
		if n, ok := r.Len(); !ok || n != 2 {
			t.Errorf("two read back as %d, %v", n, ok)
		}
		if a, b := r.ShortStr(), r.ShortStr(); a != "eth0" || b != "eth0" {
			t.Errorf("short strings %q %q", a, b)
		}
		return r.End("test")
	}
	if err := read(body); err != nil {
		t.Fatal(err)
	}
	for n := range body {
		r := NewReader(body[:n])
		r.U()
		r.Str()
		r.Flag()
		r.Addr()
		r.Addr()
		r.Prefix()
		r.Len()
		r.Len()
		r.Len()
		r.ShortStr()
		r.ShortStr()
		if r.End("cut") == nil {
			t.Fatalf("a body cut at %d of %d bytes read", n, len(body))
		}
	}
	r := NewReader(append(body[:len(body):len(body)], 0))
	for range 3 {
		r.U()
	}
	if r.End("spare") == nil {
		t.Error("bytes to spare went unnoticed")
	}
}
