package main

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// needsRootAnnotation marks the commands that read or change the kernel's
// network state: they need CAP_NET_ADMIN (links, addresses, netfilter) and
// CAP_SYS_ADMIN (entering and mounting namespaces), which root has.
const needsRootAnnotation = "netctl/needs-root"

// checkRoot refuses, with a message that says what is missing, to run a
// command that needs root without the capabilities, rather than failing
// later on a raw netlink or mount error.
func checkRoot(command string) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("netctl %s: reading capabilities: %w", command, err)
	}
	has := func(c int) bool { return data[c/32].Effective&(1<<(uint(c)%32)) != 0 }
	switch {
	case !has(unix.CAP_NET_ADMIN):
		return &plainError{fmt.Errorf("netctl %s needs root (CAP_NET_ADMIN)", command)}
	case !has(unix.CAP_SYS_ADMIN):
		return &plainError{fmt.Errorf("netctl %s needs root (CAP_SYS_ADMIN, to enter and mount namespaces)", command)}
	}
	return nil
}
