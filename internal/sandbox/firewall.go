package sandbox

import (
	"os"
	"os/exec"
	"strings"
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

// Iptables names an iptables tool ("iptables", "iptables-save", and the
// ip6tables ones) of the flavour netctl writes to (NETCTL_IPTABLES: nft or
// legacy; the host's default flavour otherwise).
func Iptables(tool string) string {
	if mode := os.Getenv("NETCTL_IPTABLES"); mode == "nft" || mode == "legacy" {
		for _, base := range []string{"ip6tables", "iptables"} {
			if rest, ok := strings.CutPrefix(tool, base); ok {
				return base + "-" + mode + rest
			}
		}
	}
	return tool
}
