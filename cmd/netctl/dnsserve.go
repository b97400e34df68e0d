package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/vishvananda/netns"

	dnsact "github.com/netctl/netctl/actuators/dns"
	"github.com/netctl/netctl/actuators/files"
	"github.com/netctl/netctl/actuators/firewall"
	"github.com/netctl/netctl/actuators/firewall/iptables"
	nlact "github.com/netctl/netctl/actuators/netlink"
	"github.com/netctl/netctl/model"
)

// serveDNS runs the background DNS server for --root in the foreground:
// the supervisor, which runs the server itself as its worker (`dns serve
// --worker`, which only serves). Started by apply, it leaves at once when
// a supervisor already looks after the root. Under systemd
// (netctl-dns.service, Type=notify) it is ready once its server answers;
// when another supervisor (started by a plain apply) holds the root it
// reports ready, since names are served, and takes over when that one
// exits.
func (a *app) serveDNS(ctx context.Context, worker bool) error {
	if worker {
		stop := a.startJournal(ctx)
		defer stop()
		err := dnsact.Serve(ctx, a.root, dnsact.Options{Log: a.log})
		if errors.Is(err, dnsact.ErrRunning) {
			// Not 0: the supervisor reads 0 as "stopped on request".
			a.log.Info().Str("root", a.root).Msg("a DNS server already runs for this root")
			return &exitError{code: 3}
		}
		return err
	}
	sd := a.systemdNotifier()
	if sd != nil {
		go a.dnsReady(ctx, sd)
	}
	for {
		err := dnsact.Supervise(ctx, a.root, a.dnsArgv(true), a.log)
		if !errors.Is(err, dnsact.ErrRunning) {
			if err == nil {
				sd.Stopping()
			}
			return err
		}
		if sd == nil {
			a.log.Info().Str("root", a.root).Msg("a DNS server already runs for this root")
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

// dnsReady tells systemd the server is ready once it answers on its
// control socket (this process's server or the one holding the root).
func (a *app) dnsReady(ctx context.Context, sd *sdNotifier) {
	names := a.names()
	for {
		if st, err := names.Status(ctx); err == nil {
			sd.Ready(fmt.Sprintf("serving %d projects under %s (server pid %d)", len(st.Projects), a.root, dnsact.Pid(a.root)))
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// startJournal runs the root's journals (actuators/netlink's, of the
// kernel's announcements, and actuators/files', of the containers' files)
// in the DNS server's worker, the process one-shot commands find running
// between them, beside the server: their start (a dump of the host's
// links, a walk of the containers' directories) does not delay the names.
// Without them (no CAP_NET_BROADCAST, say) the commands read every
// namespace or every container's files, as before; so nothing here is
// fatal.
func (a *app) startJournal(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := a.runJournal(ctx); err != nil {
			a.log.Info().Err(err).Msg("no journal: one-shot commands read every namespace")
		}
	})
	wg.Go(func() {
		if err := a.runFilesJournal(ctx); err != nil {
			a.log.Info().Err(err).Msg("no files journal: one-shot commands read every container's files")
		}
	})
	wg.Go(func() {
		if err := a.runRulesRefresh(ctx); err != nil {
			a.log.Info().Err(err).Msg("no read-back of the rules here: commands read them back themselves")
		}
	})
	return func() {
		cancel()
		wg.Wait()
	}
}

// runFilesJournal keeps the files journal until ctx is done.
func (a *app) runFilesJournal(ctx context.Context) error {
	j, err := files.OpenJournal(a.root)
	if err != nil {
		return err
	}
	return keepJournal(ctx, j.Run, j.Serve)
}

// runJournal keeps the namespaces' journal until ctx is done.
func (a *app) runJournal(ctx context.Context) error {
	return a.inHost(func(inst model.Instance, host netns.NsHandle) error {
		j, err := nlact.OpenJournal(a.root, host, inst, a.log)
		if err != nil {
			return err
		}
		return keepJournal(ctx, j.Run, func(ctx context.Context) error { return j.Serve(ctx, a.root) })
	})
}

// runRulesRefresh reads the iptables rules back for the commands that hand
// it off after their restores (actuators/firewall/iptables/refresh.go),
// until ctx is done.
func (a *app) runRulesRefresh(ctx context.Context) error {
	return a.inHost(func(inst model.Instance, host netns.NsHandle) error {
		open := func(mode string) (*iptables.Backend, error) {
			return iptables.New(iptables.Config{Mode: mode, Instance: inst, CacheRoot: a.root, Log: a.log,
				Generation: firewall.IptablesGeneration(host)})
		}
		return iptables.ServeRefresh(ctx, a.root, open, a.log)
	})
}

// inHost runs f with the root's instance and the host namespace (this
// process's).
func (a *app) inHost(f func(inst model.Instance, host netns.NsHandle) error) error {
	inst, err := files.Instance(a.root)
	if err != nil {
		return err
	}
	host, err := netns.Get()
	if err != nil {
		return err
	}
	defer host.Close()
	return f(inst, host)
}

// keepJournal drains a journal (run, until stop closes) while it answers
// questions (serve, until ctx is done).
func keepJournal(ctx context.Context, run func(stop <-chan struct{}), serve func(context.Context) error) error {
	stop := make(chan struct{})
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		run(stop)
	}()
	defer func() {
		close(stop)
		<-ran
	}()
	return serve(ctx)
}
