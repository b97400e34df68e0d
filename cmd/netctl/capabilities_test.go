package main

import (
	"github.com/netctl/netctl/actuators/firewall"
	nlact "github.com/netctl/netctl/actuators/netlink"
)

// The netlink actuator must keep offering host events: watch finds them
// through hostEventSource and would silently fall back to resyncs alone.
var _ hostEventSource = (*nlact.Links)(nil)

// The firewall offers its backend's events (nftables) the same way.
var _ firewallEventSource = (*firewall.Firewall)(nil)
