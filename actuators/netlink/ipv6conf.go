package netlink

import (
	"errors"
	"fmt"
	"os"

	vnl "github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/internal/nlraw"
)

// IPv6 settings of a dual-stack endpoint's container side. The kernel has
// no netlink request for them (an RTM_SETLINK takes only the address
// generation mode and token of IPv6), so they are written as sysctls, from
// a thread that enters the container's namespace: /proc/sys/net shows the
// namespace of the thread that opens it. They are read back from the link
// dump (IFLA_INET6_CONF), so Observe needs no file read.

// ignoreRA turns off router advertisements on ifName in ns: a container
// could otherwise give its neighbours routes and addresses (Docker's
// CVE-2020-13401), and its default route is netctl's to set.
func ignoreRA(ns netns.NsHandle, ifName string) error {
	return writeIPv6Conf(ns, ifName, "accept_ra", "0")
}

// addAddr6 adds the endpoint's IPv6 address (nodad) to peer, turning IPv6
// on for the interface first if the namespace's defaults had it off (the
// kernel then refuses the address with EACCES): an existing namespace
// (netns_path) may have been made with IPv6 disabled.
func addAddr6(ch *vnl.Handle, ns netns.NsHandle, peer vnl.Link, ifName string, a *vnl.Addr) error {
	err := ch.AddrAdd(peer, a)
	if !errors.Is(err, unix.EACCES) {
		return err
	}
	if err := writeIPv6Conf(ns, ifName, "disable_ipv6", "0"); err != nil {
		return err
	}
	return ch.AddrAdd(peer, a)
}

// writeIPv6Conf writes net.ipv6.conf.<ifName>.<key> in ns.
func writeIPv6Conf(ns netns.NsHandle, ifName, key, value string) error {
	if err := checkIfName(ifName); err != nil {
		return err
	}
	path := "/proc/sys/net/ipv6/conf/" + ifName + "/" + key
	errc := make(chan error, 1)
	// A goroutine of its own: should the thread fail to return to its
	// namespace, it stays locked and dies with the goroutine.
	go func() {
		t, err := nlraw.LockThread()
		if err != nil {
			errc <- err
			return
		}
		defer t.Release()
		errc <- t.In(ns, func() error { return os.WriteFile(path, []byte(value), 0) })
	}()
	if err := <-errc; err != nil {
		return fmt.Errorf("set %s: %w", path, err)
	}
	return nil
}
