package nlraw

import (
	"encoding/binary"
	"errors"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// errMalformed is a message or attribute whose length does not fit.
var errMalformed = errors.New("malformed netlink message")

// Header is the part of a message header a reader needs.
type Header struct {
	Type  uint16
	Flags uint16
	Seq   uint32
}

// Align rounds n up to the netlink message alignment.
func Align(n int) int { return (n + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1) }

func rtaAlign(n int) int { return (n + unix.RTA_ALIGNTO - 1) &^ (unix.RTA_ALIGNTO - 1) }

// Messages calls fn for each message in the datagram b with its payload,
// and stops at fn's first error.
func Messages(b []byte, fn func(h Header, m []byte) error) error {
	for len(b) >= unix.SizeofNlMsghdr {
		mlen := int(binary.NativeEndian.Uint32(b[0:]))
		if mlen < unix.SizeofNlMsghdr || mlen > len(b) {
			return errMalformed
		}
		h := Header{
			Type:  binary.NativeEndian.Uint16(b[4:]),
			Flags: binary.NativeEndian.Uint16(b[6:]),
			Seq:   binary.NativeEndian.Uint32(b[8:]),
		}
		if err := fn(h, b[unix.SizeofNlMsghdr:mlen]); err != nil {
			return err
		}
		b = b[min(Align(mlen), len(b)):]
	}
	return nil
}

// Attrs calls fn for each attribute in b, with the type stripped of the
// nested and byte-order flags.
func Attrs(b []byte, fn func(typ uint16, v []byte)) error {
	for len(b) >= unix.SizeofRtAttr {
		alen := int(binary.NativeEndian.Uint16(b[0:]))
		typ := binary.NativeEndian.Uint16(b[2:]) &^ (unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER)
		if alen < unix.SizeofRtAttr || alen > len(b) {
			return errors.New("malformed netlink attribute")
		}
		fn(typ, b[unix.SizeofRtAttr:alen])
		b = b[min(rtaAlign(alen), len(b)):]
	}
	return nil
}

// CString returns a NUL-terminated attribute's string.
func CString(v []byte) string {
	for i, c := range v {
		if c == 0 {
			return string(v[:i])
		}
	}
	return string(v)
}

// U32 decodes a native-endian 32-bit attribute (0 when too short).
func U32(v []byte) uint32 {
	if len(v) < 4 {
		return 0
	}
	return binary.NativeEndian.Uint32(v)
}

// Request is one netlink request: its type, flags and payload, built with
// vishvananda's nl types. Do and Dump add NLM_F_REQUEST and the
// acknowledgement or dump flag.
type Request struct {
	Type  uint16
	Flags uint16
	Data  []nl.NetlinkRequestData
}

func (r Request) serialize(flags uint16) []byte {
	req := nl.NewNetlinkRequest(int(r.Type), int(r.Flags|flags))
	for _, d := range r.Data {
		req.AddData(d)
	}
	return req.Serialize()
}
