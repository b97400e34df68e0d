package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
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
)

// defaultResolvConf is the host's resolv.conf unless --resolv-conf says
// otherwise.
const defaultResolvConf = "/etc/resolv.conf"

// app holds the global flags and what every command shares.
type app struct {
	root     string
	logLevel string
	noColor  bool
	stdin    io.Reader
	stdout   io.Writer
	stderr   io.Writer
	log      zerolog.Logger

	// node is --node: which of the file's nodes this host is (overlay).
	node string

	// firewall is the packet-filter backend: auto, iptables or nftables.
	firewall string

	// resolvConf is the host's resolv.conf: its resolvers are the
	// containers' upstreams (tests point it at a file of their own).
	resolvConf string

	// lockTimeout bounds the wait for another netctl's --root lock;
	// command names this one in the lock for those who wait.
	lockTimeout time.Duration
	command     string

	// fullReads: every observation reads every namespace, without asking
	// the journal (watch, whose resyncs are its net for what no event
	// announces).
	fullReads bool
}

func (a *app) rootCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:           "netctl",
		Short:         "Declarative Docker-style container networking",
		Long:          "netctl converges bridges, network namespaces, veths, addresses and routes to a topology file.",
		Version:       versionString(),
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			a.command = cmd.CommandPath()
			if !isDaemon(cmd) {
				oneShotGC()
			}
			if !slices.Contains([]string{firewall.Auto, iptables.Name, nftables.Name}, a.firewall) {
				return fmt.Errorf("--firewall %q (or NETCTL_FIREWALL): want %s, %s or %s", a.firewall, firewall.Auto, iptables.Name, nftables.Name)
			}
			if err := a.setupLog(cmd); err != nil {
				return err
			}
			if cmd.Annotations[needsRootAnnotation] != "" {
				return checkRoot(cmd.Name())
			}
			return nil
		},
	}
	cmd.SetVersionTemplate("netctl version {{.Version}}\n")
	cmd.PersistentFlags().StringVar(&a.root, "root", "/run/netctl", "directory holding netctl's namespace mounts, files and lock")
	cmd.PersistentFlags().StringVar(&a.logLevel, "log-level", "",
		"log level: debug, info, warn, error (default: info on a terminal and for watch, else warn)")
	cmd.PersistentFlags().StringVar(&a.node, "node", "", "which of the file's nodes this host is (default: the node whose address the host holds)")
	cmd.PersistentFlags().DurationVar(&a.lockTimeout, "lock-timeout", 3*time.Minute, "give up when another netctl holds the --root lock this long")
	cmd.PersistentFlags().StringVar(&a.resolvConf, "resolv-conf", defaultResolvConf, "the host's resolv.conf, whose resolvers containers use as upstreams")
	fwDefault := os.Getenv("NETCTL_FIREWALL")
	if fwDefault == "" {
		fwDefault = firewall.Auto
	}
	cmd.PersistentFlags().StringVar(&a.firewall, "firewall", fwDefault,
		"packet-filter backend: auto (iptables where installed, else nftables), iptables or nftables; default from NETCTL_FIREWALL")
	cmd.PersistentFlags().BoolVar(&a.noColor, "no-color", false, "never colour output (also: NO_COLOR set to anything)")
	cmd.AddCommand(
		a.applyCommand(), a.diffCommand(), a.downCommand(), a.validateCommand(),
		a.lsCommand(), a.psCommand(), a.inspectCommand(), a.execCommand(), a.pruneCommand(),
		a.watchCommand(), a.portCommand(), a.envCommand(), a.dnsCommand(),
	)
	a.addPackagingCommands(cmd)
	for _, c := range cmd.Commands() {
		switch c.Name() {
		case "apply", "down", "ls", "ps", "inspect", "exec", "prune", "watch", "port", "env":
			// diff checks for itself: diff --from needs no root.
			if c.Annotations == nil {
				c.Annotations = map[string]string{}
			}
			c.Annotations[needsRootAnnotation] = "yes"
		}
	}
	return cmd
}

// isDaemon reports whether cmd runs as a service, whose log is its only
// output (watch, the DNS server): those log at info by default.
func isDaemon(cmd *cobra.Command) bool {
	return cmd.Name() == "watch" || (cmd.Name() == "serve" && cmd.Parent() != nil && cmd.Parent().Name() == "dns")
}

func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}

// setupLog makes structured logs on stderr: human-readable on a terminal,
// JSON otherwise. A one-shot command run by a script logs only warnings and
// errors unless --log-level asks for more: its output is on stdout.
func (a *app) setupLog(cmd *cobra.Command) error {
	name := a.logLevel
	if name == "" {
		name = "warn"
		if isTerminal(a.stderr) || isDaemon(cmd) {
			name = "info"
		}
	}
	level, err := zerolog.ParseLevel(strings.ToLower(name))
	if err != nil || level == zerolog.NoLevel {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", a.logLevel)
	}
	var w io.Writer = a.stderr
	if isTerminal(a.stderr) {
		w = zerolog.ConsoleWriter{Out: a.stderr, TimeFormat: "15:04:05.000", NoColor: !a.color(a.stderr)}
	}
	a.log = zerolog.New(w).Level(level).With().Timestamp().Logger()
	return nil
}

// color reports whether output to w may be coloured: w is a terminal and
// neither --no-color nor NO_COLOR (https://no-color.org) says otherwise.
func (a *app) color(w io.Writer) bool {
	return !a.noColor && os.Getenv("NO_COLOR") == "" && isTerminal(w)
}

// hostResolv reads the host's resolv.conf. A file named with
// --resolv-conf must exist: without it containers would silently get no
// upstream DNS. The default one may be missing (a minimal host): then the
// containers only get netctl's own names, and a warning says so.
func (a *app) hostResolv() ([]byte, error) {
	b, err := os.ReadFile(a.resolvConf)
	if err == nil {
		return b, nil
	}
	if a.resolvConf == defaultResolvConf && errors.Is(err, fs.ErrNotExist) {
		a.log.Warn().Str("file", a.resolvConf).Msg("no host resolv.conf: containers get no upstream DNS servers")
		return nil, nil
	}
	return nil, fmt.Errorf("--resolv-conf: %w", err)
}

// reconciler wires the actuators for the host namespace netctl runs in,
// once the root is known to be safe to work in.
func (a *app) reconciler() (*reconciler.Reconciler, func(), error) {
	resolv, err := a.hostResolv()
	if err != nil {
		return nil, nil, err
	}
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
	// NETCTL_JOURNAL=off: one-shot commands read every namespace and
	// every container's files too.
	useJournal := !a.fullReads && os.Getenv("NETCTL_JOURNAL") != "off"
	links.UseJournal(useJournal)
	store := files.New(a.root)
	store.UseJournal(useJournal, a.log)
	// NETCTL_IPTABLES=nft|legacy overrides the iptables flavour the
	// host's iptables command reports.
	iptablesMode := os.Getenv("NETCTL_IPTABLES")
	fw, err := firewall.New(firewall.Config{
		Backend:      a.firewall,
		IptablesMode: iptablesMode,
		Host:         host,
		Instance:     inst,
		Root:         a.root,
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
	r := &reconciler.Reconciler{
		Links:     links,
		Files:     store,
		Firewall:  fw,
		HostFacts: hostfacts.New(host),
		Names:     a.names(),
		Options: reconciler.Options{Root: a.root, Instance: inst, HostResolv: resolv, Node: a.node, LocalAddrs: links.LocalAddrs,
			NetnsTaken: links.NetnsTaken},
		Log: a.log,
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
