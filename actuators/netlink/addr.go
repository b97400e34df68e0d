package netlink

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/rs/zerolog"
	vnl "github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/internal/nlraw"
)

// addrList lists the link's IPv4 addresses.
func addrList(h *vnl.Handle, link vnl.Link) ([]vnl.Addr, error) {
	return nlraw.Retry(func() ([]vnl.Addr, error) { return h.AddrList(link, vnl.FAMILY_V4) })
}

// setOnlyAddr makes want the link's only IPv4 address.
func setOnlyAddr(h *vnl.Handle, link vnl.Link, want netip.Prefix, log zerolog.Logger) error {
	addrs, err := addrList(h, link)
	if err != nil {
		return fmt.Errorf("list addresses: %w", err)
	}
	have, removed := false, false
	// Others go first: adding want next to a primary address in the same
	// subnet would make it a secondary, which the kernel deletes along with
	// the primary.
	for _, a := range addrs {
		if addrPrefix(a) == want {
			have = true
			continue
		}
		if err := h.AddrDel(link, &a); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			return fmt.Errorf("remove %s: %w", addrPrefix(a), err)
		}
		removed = true
		log.Debug().Stringer("addr", addrPrefix(a)).Msg("removed address")
	}
	if have && removed {
		// want may have been a secondary of a removed primary.
		if addrs, err = addrList(h, link); err != nil {
			return fmt.Errorf("list addresses: %w", err)
		}
		have = slices.ContainsFunc(addrs, func(a vnl.Addr) bool { return addrPrefix(a) == want })
	}
	if have {
		return nil
	}
	addr := &vnl.Addr{IPNet: &net.IPNet{IP: want.Addr().AsSlice(), Mask: net.CIDRMask(want.Bits(), 32)}}
	if err := h.AddrAdd(link, addr); err != nil {
		return fmt.Errorf("add %s: %w", want, err)
	}
	log.Debug().Stringer("addr", want).Msg("added address")
	return nil
}

// addrPrefix returns an address with its prefix length, unmasked.
func addrPrefix(a vnl.Addr) netip.Prefix {
	ip, ok := netip.AddrFromSlice(a.IP)
	if !ok {
		return netip.Prefix{}
	}
	ones, _ := a.Mask.Size()
	return netip.PrefixFrom(ip.Unmap(), ones)
}

// setOnlyAddr6 makes want the link's only global IPv6 address, added
// without duplicate address detection (IFA_F_NODAD: usable at once rather
// than tentative for a second or more); an invalid want removes every
// global IPv6 address. Link-local addresses are the kernel's and stay.
func setOnlyAddr6(h *vnl.Handle, link vnl.Link, want netip.Prefix, log zerolog.Logger) error {
	return setOnlyNodad(h, link, want, false, log)
}

// setOnlyNodad makes want, added nodad, the link's only IPv6 address of
// one kind: global, or (linkLocal) link-local. Addresses of the other
// kind, and loopback, are left alone; one of the kind added with DAD
// would sit tentative (or fail DAD) and is replaced; an invalid want
// removes them all.
func setOnlyNodad(h *vnl.Handle, link vnl.Link, want netip.Prefix, linkLocal bool, log zerolog.Logger) error {
	kind := "IPv6 address"
	if linkLocal {
		kind = "link-local address"
	}
	addrs, err := nlraw.Retry(func() ([]vnl.Addr, error) { return h.AddrList(link, vnl.FAMILY_V6) })
	if err != nil {
		return fmt.Errorf("list IPv6 addresses: %w", err)
	}
	have := false
	for _, a := range addrs {
		p := addrPrefix(a)
		if p.Addr().IsLinkLocalUnicast() != linkLocal || p.Addr().IsLoopback() {
			continue
		}
		if p == want && !have && a.Flags&unix.IFA_F_NODAD != 0 {
			have = true
			continue
		}
		if err := h.AddrDel(link, &a); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			return fmt.Errorf("remove %s %s: %w", kind, p, err)
		}
		log.Debug().Stringer("addr", p).Msg("removed " + kind)
	}
	if have || !want.IsValid() {
		return nil
	}
	if err := h.AddrAdd(link, nodadAddr(want)); err != nil {
		return fmt.Errorf("add %s %s: %w", kind, want, err)
	}
	log.Debug().Stringer("addr", want).Msg("added " + kind)
	return nil
}

// nodadAddr is an IPv6 address to add without duplicate address detection.
func nodadAddr(p netip.Prefix) *vnl.Addr {
	return &vnl.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 128)}, Flags: unix.IFA_F_NODAD}
}
