package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/netctl/netctl/actuators/files"
	"github.com/netctl/netctl/internal/filewatch"
	"github.com/netctl/netctl/model"
	"github.com/netctl/netctl/reconciler"
	"github.com/netctl/netctl/spec"
)

// watchOptions are the flags of `netctl watch`.
type watchOptions struct {
	file        string
	resync      time.Duration
	debounce    time.Duration
	metricsAddr string
}

func (a *app) watchCommand() *cobra.Command {
	var o watchOptions
	var f fileFlag
	cmd := &cobra.Command{
		Use:   "watch [-f FILE]",
		Short: "Apply the file, then keep the host converged: re-apply on every edit, repair drift",
		Long: `watch applies the file, then re-applies it whenever it changes (written in place,
renamed over, swapped through a symlink as in a Kubernetes ConfigMap, replaced by
git checkout), whenever the kernel announces a change to a netctl-owned bridge or
veth, and every --resync period. While the file is invalid the last good topology
stays in force. SIGHUP forces a reload; SIGTERM and SIGINT stop the watcher and
leave the network as it is (netctl down removes it). One watcher per --root.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := f.path()
			if err != nil {
				return err
			}
			if path == "-" {
				return errors.New("watch needs a file to watch: -f - (stdin) is for one-shot commands")
			}
			o.file = path
			return a.watch(cmd.Context(), o)
		},
	}
	f.register(cmd, "topology file")
	cmd.Flags().DurationVar(&o.resync, "resync", 10*time.Second,
		"period of the full resync that repairs drift no event announces (inside containers, files), stretched\n"+
			"so that resyncs take at most 0.3% of a core's time (~30s at 1000 containers); 0 disables it")
	cmd.Flags().DurationVar(&o.debounce, "debounce", 100*time.Millisecond,
		"quiet period after a write before reconciling, so that a burst of writes is one reconcile")
	cmd.Flags().StringVar(&o.metricsAddr, "metrics-addr", "",
		"serve Prometheus metrics on http://ADDR/metrics and health on /healthz (e.g. 127.0.0.1:9477)")
	return cmd
}

func (a *app) watch(ctx context.Context, o watchOptions) error {
	if o.file == "" {
		return errors.New("no topology file: use -f FILE")
	}
	if o.debounce < 0 || o.resync < 0 {
		return errors.New("--debounce and --resync must not be negative")
	}
	path, err := filepath.Abs(o.file)
	if err != nil {
		return err
	}
	// Before anything that takes time, so that a SIGHUP during start-up
	// does not kill the process (its default action).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	unlock, err := files.TryLock(a.root, "watch.lock", a.command)
	if errors.Is(err, files.ErrLocked) {
		return fmt.Errorf("another netctl watch is running for --root %s: %w", a.root, err)
	}
	if err != nil {
		return err
	}
	defer unlock()

	a.fullReads = true
	r, done, err := a.reconciler()
	if err != nil {
		return err
	}
	defer done()
	r.Progress = a.progressLog()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	m := newWatchMetrics()
	// Under systemd (Type=notify): ready after the first converge, watchdog.
	sd := a.systemdNotifier()
	hooks := newMemoryHooks(sd.watchHooks(m))
	go sd.runWatchdog(ctx, hooks)
	defer sd.Stopping()
	w := &reconciler.Watch{
		Reconciler: r,
		Read:       func() ([]byte, error) { return spec.ReadFile(path) },
		Parse: func(data []byte) (*spec.Topology, error) {
			t, err := spec.Parse(path, data)
			if err != nil {
				return nil, err
			}
			return t, reconciler.Unsupported(t)
		},
		Lock:        func(ctx context.Context) (func(), error) { return files.Lock(ctx, a.root, "lock", a.lockOptions()) },
		Resync:      o.resync,
		ResyncShare: 0.003,
		Quiet:       o.debounce,
		QuietAtomic: min(o.debounce, 20*time.Millisecond),
		MaxDelay:    max(10*o.debounce, 100*time.Millisecond),
		Log:         a.log,
		Hooks:       hooks,
	}

	fw, err := filewatch.New(path, a.log)
	if err != nil {
		return err
	}
	fwDone := make(chan struct{})
	go func() {
		defer close(fwDone)
		if err := fw.Run(ctx, o.resync, func(c filewatch.Change) { w.NotifyFile(c.Atomic) }); err != nil {
			a.log.Error().Err(err).Msg("file watch ended; only --resync will notice edits")
		}
	}()
	defer func() { cancel(); <-fwDone }()

	// The links' events, and the firewall's where its backend reports them
	// (nftables: changes to netctl's table); a nil channel: none.
	if sub, ok := r.Links.(hostEventSource); ok {
		events, err := sub.Subscribe(ctx)
		if err != nil {
			return err
		}
		go forwardEvents(ctx, a.log, events, w.NotifyHost)
	}
	if sub, ok := r.Firewall.(firewallEventSource); ok {
		events, err := sub.Subscribe(ctx)
		if err != nil {
			return err
		}
		go forwardEvents(ctx, a.log, events, func(struct{}) { w.NotifyFirewall() })
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				a.log.Info().Msg("SIGHUP: reloading the file")
				w.Reload()
			}
		}
	}()

	if o.metricsAddr != "" {
		stop, err := a.serveMetrics(o.metricsAddr, m)
		if err != nil {
			return err
		}
		defer stop()
	}

	a.log.Info().Str("file", path).Strs("watching", fw.Watched()).Str("root", a.root).
		Dur("resync", o.resync).Dur("debounce", o.debounce).Str("metrics", o.metricsAddr).Msg("watching")
	err = w.Run(ctx)
	a.log.Info().Msg("watch stopped; the network stays as it is (netctl down removes it)")
	return err
}

// hostEventSource is the optional capability of the links actuator to
// report kernel changes to netctl's objects as they happen, with the
// containers they concern, so that watch repairs drift at once rather than
// at the next resync and reads again only what changed. A nil channel: it
// has none to report here.
type hostEventSource interface {
	Subscribe(ctx context.Context) (<-chan model.Scope, error)
}

// firewallEventSource is the same capability of the firewall (its backend
// may have none: iptables).
type firewallEventSource interface {
	Subscribe(ctx context.Context) (<-chan struct{}, error)
}

// forwardEvents hands each event to notify until the channel closes.
func forwardEvents[T any](ctx context.Context, log zerolog.Logger, events <-chan T, notify func(T)) {
	if events == nil {
		return
	}
	for e := range events {
		notify(e)
	}
	if ctx.Err() == nil {
		log.Error().Msg("host events ended; only --resync will repair drift")
	}
}

// serveMetrics serves /metrics and /healthz on addr until stop is called.
func (a *app) serveMetrics(addr string, m *watchMetrics) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.metricsHandler())
	mux.HandleFunc("GET /healthz", m.serveHealth)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error().Err(err).Msg("metrics server")
		}
	}()
	a.log.Info().Str("addr", ln.Addr().String()).Msg("serving /metrics and /healthz")
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}

// progressLog reports the progress of long reconciles in the log, once a
// second: a progress line on the terminal would tangle with a daemon's logs.
func (a *app) progressLog() func(done, total int) {
	var last time.Time
	return func(done, total int) {
		if last.IsZero() {
			last = time.Now()
			return
		}
		if done < total && time.Since(last) < time.Second {
			return
		}
		last = time.Now()
		if done < total {
			a.log.Info().Int("done", done).Int("total", total).Msg("applying")
		} else {
			last = time.Time{}
		}
	}
}
