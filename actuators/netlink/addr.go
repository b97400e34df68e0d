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
)

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
