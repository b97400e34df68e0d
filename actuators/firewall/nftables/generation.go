package nftables

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/mdlayher/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Generation identifies one version of a network namespace's nf_tables
// ruleset: every committed transaction, by anyone (nft, iptables-nft,
// firewalld, Docker, netctl), moves ID on. Boot and NetNS say which
// ruleset the ID counts: an ID is only comparable with one read in the
// same namespace of the same boot (a new namespace, or the same one after
// a reboot, starts counting again).
type Generation struct {
	// Boot is the kernel's boot id (/proc/sys/kernel/random/boot_id).
	Boot string
	// NetNS is the namespace's cookie (SO_NETNS_COOKIE): unique for the
	// kernel's lifetime, never reused, unlike the namespace's inode.
	NetNS uint64
	// ID is the ruleset's generation id (NFT_MSG_GETGEN).
	ID uint32
}

// ReadGeneration asks the kernel for host's ruleset generation: one
// netlink request, whatever the size of the ruleset.
func ReadGeneration(host netns.NsHandle) (Generation, error) {
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return Generation{}, fmt.Errorf("nftables generation: %w", err)
	}
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: int(host)})
	if err != nil {
		return Generation{}, fmt.Errorf("nftables generation: netlink socket in the host namespace: %w", err)
	}
	defer c.Close()
	cookie, err := netnsCookie(c)
	if err != nil {
		return Generation{}, fmt.Errorf("nftables generation: namespace cookie: %w", err)
	}
	// The body is a struct nfgenmsg: family AF_UNSPEC, version
	// NFNETLINK_V0, resource id 0.
	msgs, err := c.Execute(netlink.Message{
		Header: netlink.Header{
			Type:  netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETGEN),
			Flags: netlink.Request,
		},
		Data: []byte{unix.AF_UNSPEC, unix.NFNETLINK_V0, 0, 0},
	})
	if err != nil {
		return Generation{}, fmt.Errorf("nftables generation: %w", err)
	}
	for _, m := range msgs {
		if id, ok := parseGeneration(m); ok {
			return Generation{Boot: strings.TrimSpace(string(boot)), NetNS: cookie, ID: id}, nil
		}
	}
	return Generation{}, errors.New("nftables generation: no generation id in the kernel's answer")
}

// parseGeneration finds NFTA_GEN_ID in an NFT_MSG_NEWGEN message.
func parseGeneration(m netlink.Message) (uint32, bool) {
	if m.Header.Type != netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8|unix.NFT_MSG_NEWGEN) || len(m.Data) < 4 {
		return 0, false
	}
	ad, err := netlink.NewAttributeDecoder(m.Data[4:])
	if err != nil {
		return 0, false
	}
	ad.ByteOrder = binary.BigEndian
	for ad.Next() {
		if ad.Type() == unix.NFTA_GEN_ID {
			id := ad.Uint32()
			return id, ad.Err() == nil
		}
	}
	return 0, false
}

// netnsCookie is the cookie of the namespace c's socket lives in.
func netnsCookie(c *netlink.Conn) (uint64, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cookie uint64
	var serr error
	if err := rc.Control(func(fd uintptr) {
		cookie, serr = unix.GetsockoptUint64(int(fd), unix.SOL_SOCKET, unix.SO_NETNS_COOKIE)
	}); err != nil {
		return 0, err
	}
	return cookie, serr
}
