package sandbox

import (
	"os"
	"os/exec"
)

// Firewall is the firewall backend the tests' netctl runs with: the
// NETCTL_FIREWALL the test process got (`make test` runs the firewall
// tests once per backend), else what netctl's auto picks, iptables
// wherever it is in PATH. Tests that check the rules themselves ask it
// which kind to read.
func Firewall() string {
	switch fw := os.Getenv("NETCTL_FIREWALL"); fw {
	case "iptables", "nftables":
		return fw
	}
	if _, err := exec.LookPath("iptables"); err == nil {
		return "iptables"
	}
	return "nftables"
}

// IptablesSave is the iptables-save of the flavour netctl writes to
// (NETCTL_IPTABLES: nft or legacy; the host's iptables otherwise).
func IptablesSave() string {
	if mode := os.Getenv("NETCTL_IPTABLES"); mode == "nft" || mode == "legacy" {
		return "iptables-" + mode + "-save"
	}
	return "iptables-save"
}
