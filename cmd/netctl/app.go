package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"github.com/vishvananda/netns"

	"github.com/netctl/netctl/actuators/files"
	"github.com/netctl/netctl/actuators/firewall"
	"github.com/netctl/netctl/actuators/firewall/iptables"
	"github.com/netctl/netctl/actuators/firewall/nftables"
	"github.com/netctl/netctl/actuators/hostfacts"
	nlact "github.com/netctl/netctl/actuators/netlink"
	"github.com/netctl/netctl/reconciler"
	"github.com/netctl/netctl/spec"
)

// app holds the global flags and what every command shares.
type app struct {
	root     string
	logLevel string
	stdout   io.Writer
	stderr   io.Writer
	log      zerolog.Logger

	// node is --node: which of the file's nodes this host is (overlay).
	node string

	// resolvConf is the host's resolv.conf: its resolvers are the
	// containers' upstreams (tests point it at a file of their own).
	resolvConf string
	// firewall is the packet-filter backend: auto, iptables or nftables.
	firewall string

	// lockTimeout bounds the wait for another netctl's --root lock;
	// command names this one in the lock for those who wait.
	lockTimeout time.Duration
	command     string
}

func (a *app) rootCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:           "netctl",
		Short:         "Declarative Docker-style container networking",
		Long:          "netctl converges bridges, network namespaces, veths, addresses and routes to a topology file.",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			a.command = cmd.CommandPath()
			if !slices.Contains([]string{firewall.Auto, iptables.Name, nftables.Name}, a.firewall) {
				return fmt.Errorf("--firewall %q (or NETCTL_FIREWALL): want %s, %s or %s", a.firewall, firewall.Auto, iptables.Name, nftables.Name)
			}
			return a.setupLog()
		},
	}
	cmd.PersistentFlags().StringVar(&a.root, "root", "/run/netctl", "directory holding netctl's namespace mounts, files and lock")
	cmd.PersistentFlags().StringVar(&a.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	cmd.PersistentFlags().StringVar(&a.node, "node", "", "which of the file's nodes this host is (default: the node whose address the host holds)")
	cmd.PersistentFlags().DurationVar(&a.lockTimeout, "lock-timeout", 3*time.Minute, "give up when another netctl holds the --root lock this long")
	cmd.PersistentFlags().StringVar(&a.resolvConf, "resolv-conf", "/etc/resolv.conf", "the host's resolv.conf, whose resolvers containers use as upstreams")
	fwDefault := os.Getenv("NETCTL_FIREWALL")
	if fwDefault == "" {
		fwDefault = firewall.Auto
	}
	cmd.PersistentFlags().StringVar(&a.firewall, "firewall", fwDefault,
		"packet-filter backend: auto (iptables where installed, else nftables), iptables or nftables; default from NETCTL_FIREWALL")
	cmd.AddCommand(
		a.applyCommand(), a.diffCommand(), a.downCommand(), a.validateCommand(),
		a.lsCommand(), a.psCommand(), a.inspectCommand(), a.execCommand(), a.pruneCommand(),
		a.watchCommand(), a.portCommand(), a.envCommand(), a.dnsCommand(),
	)
	a.addPackagingCommands(cmd)
	return cmd
}

// setupLog makes structured logs: human-readable on a terminal, JSON
// otherwise, on stderr.
func (a *app) setupLog() error {
	level, err := zerolog.ParseLevel(strings.ToLower(a.logLevel))
	if err != nil || a.logLevel == "" {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", a.logLevel)
	}
	var w io.Writer = a.stderr
	if f, ok := a.stderr.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
		w = zerolog.ConsoleWriter{Out: f, TimeFormat: "15:04:05.000"}
	}
	a.log = zerolog.New(w).Level(level).With().Timestamp().Logger()
	return nil
}

// loadFile reads and validates a topology; errors are all reported, each
// with file:line:column.
func loadFile(path string) (*spec.Topology, error) {
	if path == "" {
		return nil, errors.New("no topology file: use -f FILE")
	}
	return spec.Load(path)
}

// loadForApply also refuses what this build cannot do yet.
func loadForApply(path string) (*spec.Topology, error) {
	t, err := loadFile(path)
	if err != nil {
		return nil, err
	}
	if err := reconciler.Unsupported(t); err != nil {
		return nil, err
	}
	return t, nil
}

// reconciler wires the actuators for the host namespace netctl runs in,
// once the root is known to be safe to work in.
func (a *app) reconciler() (*reconciler.Reconciler, func(), error) {
	if err := files.PrepareRoot(a.root); err != nil {
		return nil, nil, err
	}
	inst, err := files.Instance(a.root)
	if err != nil {
		return nil, nil, err
	}
	host, err := netns.Get()
	if err != nil {
		return nil, nil, fmt.Errorf("host network namespace: %w", err)
	}
	links, err := nlact.New(a.root, host, a.log)
	if err != nil {
		host.Close()
		return nil, nil, err
	}
	links.SetInstance(inst)
	// NETCTL_IPTABLES=nft|legacy overrides the iptables flavour the
	// host's iptables command reports.
	iptablesMode := os.Getenv("NETCTL_IPTABLES")
	fw, err := firewall.New(firewall.Config{
		Backend:      a.firewall,
		IptablesMode: iptablesMode,
		Host:         host,
		Hairpin:      nlact.NewHairpin(host),
		Instance:     inst,
		Log:          a.log,
	})
	if err != nil {
		links.Close()
		host.Close()
		if iptablesMode != "" {
			err = fmt.Errorf("NETCTL_IPTABLES=%q: %w", iptablesMode, err)
		}
		return nil, nil, err
	}
	resolv, _ := os.ReadFile(a.resolvConf)
	local, err := links.LocalAddrs()
	if err != nil {
		links.Close()
		host.Close()
		return nil, nil, err
	}
	r := &reconciler.Reconciler{
		Links:     links,
		Files:     files.New(a.root),
		Firewall:  fw,
		HostFacts: hostfacts.New(host),
		Names:     a.names(),
		Options:   reconciler.Options{Root: a.root, Instance: inst, HostResolv: resolv, Node: a.node, LocalAddrs: local},
		Log:       a.log,
	}
	if w, err := strconv.Atoi(os.Getenv("NETCTL_WORKERS")); err == nil && w > 0 {
		r.Workers = w
	}
	return r, func() { links.Close(); host.Close() }, nil
}

// locked runs fn holding the --root lock, so two netctl never interleave.
func (a *app) locked(ctx context.Context, fn func() error) error {
	unlock, err := files.Lock(ctx, a.root, "lock", a.lockOptions())
	if err != nil {
		return err
	}
	defer unlock()
	return fn()
}

// lockOptions say who takes the --root lock, and tell the user who they
// wait for.
func (a *app) lockOptions() files.LockOptions {
	return files.LockOptions{
		Command: a.command,
		Timeout: a.lockTimeout,
		Waiting: func(h files.Holder) {
			a.log.Warn().Str("root", a.root).Msgf("waiting for the lock held by %s", h)
		},
	}
}
