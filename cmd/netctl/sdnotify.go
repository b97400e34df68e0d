package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/rs/zerolog"

	"github.com/netctl/netctl/reconciler"
)

// sdNotifier is netctl's side of systemd's Type=notify: READY=1 once the
// service does its job, STATUS= lines for `systemctl status`, WATCHDOG=1
// pings, STOPPING=1. Outside systemd (no NOTIFY_SOCKET) it does nothing.
type sdNotifier struct {
	log zerolog.Logger
}

// systemdNotifier returns the notifier of this process. Children started
// by netctl (the background DNS server) inherit NOTIFY_SOCKET but are not
// the service's main process: systemd sets SYSTEMD_EXEC_PID to that one,
// and only it notifies.
func (a *app) systemdNotifier() *sdNotifier {
	if os.Getenv("NOTIFY_SOCKET") == "" {
		return nil
	}
	if pid := os.Getenv("SYSTEMD_EXEC_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return nil
	}
	return &sdNotifier{log: a.log}
}

func (n *sdNotifier) notify(state string) {
	if n == nil {
		return
	}
	if _, err := daemon.SdNotify(false, state); err != nil {
		n.log.Warn().Err(err).Msg("systemd notify")
	}
}

// Ready tells systemd the service is up.
func (n *sdNotifier) Ready(status string) { n.notify(daemon.SdNotifyReady + "\nSTATUS=" + status) }

// Status updates the line `systemctl status` shows.
func (n *sdNotifier) Status(status string) { n.notify("STATUS=" + status) }

// Stopping tells systemd the service is shutting down on purpose.
func (n *sdNotifier) Stopping() { n.notify(daemon.SdNotifyStopping) }

// watchSystemd wraps the watcher's hooks: the watcher is ready once its
// first reconcile has converged (a dependent unit then finds the network
// in place), and the watchdog is fed while reconciles keep finishing. A
// reconcile stuck for longer than the watchdog period (a hung kernel call)
// stops the pings, and systemd restarts the watcher.
type watchSystemd struct {
	next reconciler.WatchHooks
	n    *sdNotifier

	mu    sync.Mutex
	ready bool
	since time.Time // start of the reconcile in flight; zero when idle
}

func (n *sdNotifier) watchHooks(next reconciler.WatchHooks) reconciler.WatchHooks {
	if n == nil {
		return next
	}
	return &watchSystemd{next: next, n: n}
}

func (w *watchSystemd) ReconcileStarted(trigger reconciler.WatchTrigger) {
	w.next.ReconcileStarted(trigger)
	w.mu.Lock()
	w.since = time.Now()
	w.mu.Unlock()
}

func (w *watchSystemd) ReconcileDone(rep *reconciler.WatchReport) {
	w.next.ReconcileDone(rep)
	w.mu.Lock()
	w.since = time.Time{}
	first := !w.ready
	ok := rep.Outcome == reconciler.OutcomeConverged || rep.Outcome == reconciler.OutcomeBlocked
	if ok {
		w.ready = true
	}
	w.mu.Unlock()

	status := fmt.Sprintf("project %s: %s (%d networks, %d containers) in %s", rep.Project, rep.Outcome,
		rep.Networks, rep.Containers, rep.Took.Round(time.Millisecond))
	if rep.Err != nil {
		status += ": " + rep.Err.Error()
	}
	if ok && first {
		w.n.Ready(status)
		return
	}
	w.n.Status(status)
}

func (w *watchSystemd) FileChecked(err error) {
	w.next.FileChecked(err)
	if err != nil {
		w.n.Status("the file cannot be applied (the last good topology stays in force): " + err.Error())
	}
}

// stalled reports whether a reconcile has run for longer than limit.
func (w *watchSystemd) stalled(limit time.Duration) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return !w.since.IsZero() && time.Since(w.since) > limit
}

// runWatchdog pings systemd's watchdog at half its period (WatchdogSec=)
// until ctx ends, skipping pings while a reconcile is stalled.
func (n *sdNotifier) runWatchdog(ctx context.Context, hooks reconciler.WatchHooks) {
	if n == nil {
		return
	}
	period, err := daemon.SdWatchdogEnabled(false)
	if err != nil || period <= 0 {
		return
	}
	w, _ := hooks.(*watchSystemd)
	tick := time.NewTicker(period / 2)
	defer tick.Stop()
	for {
		if w != nil && w.stalled(period) {
			n.log.Error().Dur("watchdog", period).Msg("a reconcile has run for longer than the watchdog period: no ping, systemd will restart the watcher")
		} else {
			n.notify(daemon.SdNotifyWatchdog)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
