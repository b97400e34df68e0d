package firewall

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netns"

	"github.com/netctl/netctl/actuators/firewall/iptables"
	"github.com/netctl/netctl/actuators/firewall/nftables"
)

// Auto is the default choice of backend: iptables where it is installed
// (netctl's rules then sit where the host's other tools look, as Docker's
// do), nftables where it is not.
const Auto = "auto"

// opener opens one backend by name (tests stand in for the real ones).
type opener func(name string) (Backend, error)

// openBackend opens the named backend for cfg.
func openBackend(cfg Config) opener {
	return func(name string) (Backend, error) {
		switch name {
		case iptables.Name:
			ic := iptables.Config{Mode: cfg.IptablesMode, Instance: cfg.Instance, Log: cfg.Log,
				CacheRoot: cfg.Root, Generation: IptablesGeneration(cfg.Host)}
			if cfg.Root != "" {
				ic.RefreshSocket = iptables.RefreshSocket(cfg.Root)
			}
			b, err := iptables.New(ic)
			if err != nil {
				return nil, err
			}
			cfg.Log.Debug().Str("mode", b.Mode()).Msg("iptables backend opened")
			return b, nil
		case nftables.Name:
			return nftables.New(nftables.Config{Host: cfg.Host, Instance: cfg.Instance, Log: cfg.Log})
		}
		return nil, fmt.Errorf("firewall backend %q: want %s, %s or %s", name, Auto, iptables.Name, nftables.Name)
	}
}

// IptablesGeneration reads, in host, the nf_tables generation the iptables
// backend keys its saved readings by.
func IptablesGeneration(host netns.NsHandle) func() (iptables.Generation, error) {
	return func() (iptables.Generation, error) {
		g, err := nftables.ReadGeneration(host)
		return iptables.Generation(g), err
	}
}

// choose picks the backend netctl writes to, and the others it can read:
// their netctl rules are moved to the chosen one (switch.go). Every error
// comes before anything is changed.
func choose(want string, open opener) (active Backend, others []Backend, err error) {
	names := []string{iptables.Name, nftables.Name}
	switch want {
	case "", Auto:
		var errs []error
		for _, name := range names {
			b, err := open(name)
			if err == nil {
				return b, openOthers(open, names, name), nil
			}
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
		return nil, nil, fmt.Errorf("no firewall backend works on this host (install iptables, or use a kernel with nf_tables): %w", errors.Join(errs...))
	case iptables.Name, nftables.Name:
		b, err := open(want)
		if err != nil {
			return nil, nil, fmt.Errorf("firewall backend %s: %w", want, err)
		}
		return b, openOthers(open, names, want), nil
	}
	return nil, nil, fmt.Errorf("firewall backend %q: want %s, %s or %s", want, Auto, iptables.Name, nftables.Name)
}

// openOthers opens the backends other than active that work here; one
// that does not cannot hold netctl's rules either.
func openOthers(open opener, names []string, active string) []Backend {
	var out []Backend
	for _, name := range names {
		if name == active {
			continue
		}
		if b, err := open(name); err == nil {
			out = append(out, b)
		}
	}
	return out
}
