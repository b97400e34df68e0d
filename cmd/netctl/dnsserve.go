package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	dnsact "github.com/netctl/netctl/actuators/dns"
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
