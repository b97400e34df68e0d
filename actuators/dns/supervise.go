package dns

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/rs/zerolog"
)

// Supervision. The background server is two processes: a supervisor
// (`netctl dns serve`, holding supervisor.lock) and the worker it runs
// (`netctl dns serve --worker`, holding server.lock, the listeners and
// ctl.sock). The supervisor asks the worker for its status every second
// and replaces it when it is gone, stopped (SIGSTOP) or does not answer,
// so names come back within seconds without waiting for the next apply.
// The supervisor does not need to be the worker's parent: it finds the
// worker through the kernel's lock table, so a new supervisor adopts a
// worker whose supervisor died. The Manager, in turn, replaces a dead or
// stopped supervisor at the next apply (Observe reports it).
const (
	supervisorLock = "supervisor.lock"
	supervisorPid  = "supervisor.pid"

	probeEvery   = time.Second
	probeTimeout = time.Second
	// maxFails unanswered probes in a row mark the worker as hung.
	maxFails = 3
	// A worker that lived less than stableAfter is restarted with a
	// growing delay, up to maxBackoff: a crash loop costs little.
	stableAfter = 10 * time.Second
	maxBackoff  = 30 * time.Second
	// A worker this supervisor started that runs without holding the
	// server lock for lockless is stuck (it takes the lock first thing
	// and lets go of it last): it is killed, and its exit handled as a
	// crash.
	lockless = 10 * time.Second
)

// Supervise runs the supervisor for root until ctx is done (it then stops
// the worker) or, once a worker has served under it, no project needs
// names any more and the worker is gone (down stopped it). worker is the command
// that runs the worker (Serve).
func Supervise(ctx context.Context, root string, worker []string, log zerolog.Logger) error {
	if len(worker) == 0 {
		return errors.New("dns supervisor: no worker command")
	}
	release, err := claim(root, supervisorLock, supervisorPid)
	if err != nil {
		return fmt.Errorf("dns supervisor: %w", err)
	}
	defer release()
	s := &supervisor{root: root, argv: worker, log: log, backoff: probeEvery}
	log.Info().Int("pid", os.Getpid()).Str("root", root).Msg("dns supervisor started")
	return s.run(ctx)
}

type supervisor struct {
	root string
	argv []string
	log  zerolog.Logger

	exited  chan error  // the worker's exit, when this supervisor started it
	proc    *os.Process // that worker, while exited is not nil
	ours    bool        // the last worker was started by this supervisor
	started time.Time
	backoff time.Duration
}

// health is what one probe found.
type health int

const (
	healthy   health = iota
	absent           // no worker holds the server lock
	unhealthy        // a worker holds it but does not answer (yet)
)

func (s *supervisor) probe(ctx context.Context) health {
	if _, err := ask(ctx, s.root, "ping", probeTimeout); err == nil {
		return healthy
	}
	if workerPid(s.root) == 0 {
		return absent
	}
	return unhealthy
}

func (s *supervisor) run(ctx context.Context) error {
	fails := 0
	served := false    // a server answered this supervisor
	cleanStop := false // this supervisor's own server exited 0: stopped on request
	var absentSince time.Time
	for {
		wait := probeEvery
		h := s.probe(ctx)
		if h != absent {
			absentSince = time.Time{}
		}
		switch h {
		case healthy:
			fails = 0
			served = true
			if time.Since(s.started) > stableAfter {
				s.backoff = probeEvery
			}
		case absent:
			fails = 0
			if s.exited != nil {
				// Our worker has let go of its lock and socket and not
				// exited yet, or not taken them yet. Only its exit tells
				// a stop on request (down: exit 0, and this supervisor
				// stops too) from a crash: a worker started in that
				// window would serve no project and outlive down, which
				// then timed out waiting for it. The window is short,
				// but a probe a second lands in it now and then, more
				// often on a loaded machine.
				if absentSince.IsZero() {
					absentSince = time.Now()
				} else if time.Since(absentSince) > lockless {
					s.log.Warn().Int("pid", s.proc.Pid).Dur("without_lock", time.Since(absentSince)).
						Msg("dns worker stuck without its lock: killing it")
					_ = s.proc.Kill()
				}
				break
			}
			// A server stopped on request once no project was left
			// (down) stops the supervisor too: its own server exited 0,
			// or an adopted one that served went away. A crash is
			// restarted; at start a server runs even with no project
			// yet (a systemd unit starts before any apply).
			if (cleanStop || (served && !s.ours)) && !hasProjects(s.root) {
				s.log.Info().Msg("no project needs names: dns supervisor stopping")
				return nil
			}
			if !s.started.IsZero() && time.Since(s.started) < s.backoff {
				wait = s.backoff - time.Since(s.started)
				break
			}
			if !s.started.IsZero() && time.Since(s.started) < stableAfter {
				s.backoff = min(2*s.backoff, maxBackoff)
			}
			if err := s.start(); err != nil {
				s.log.Error().Err(err).Msg("start dns worker")
			}
		case unhealthy:
			fails++
			pid := workerPid(s.root)
			if pid > 0 && (stopped(pid) || fails >= maxFails) {
				s.log.Warn().Int("pid", pid).Bool("stopped", stopped(pid)).Int("unanswered", fails).
					Msg("dns worker hung: replacing it")
				killHolder(ctx, s.root, lockFile)
				fails = 0
				wait = 0
			}
		}
		select {
		case <-ctx.Done():
			s.stopWorker()
			return nil
		case err := <-s.exited:
			s.exited, s.proc = nil, nil
			absentSince = time.Time{}
			cleanStop = err == nil
			s.log.Info().AnErr("status", err).Msg("dns worker exited")
			if cleanStop && !hasProjects(s.root) {
				// Stopped on request (down) and no project left: its
				// locks went with it, nobody else starts a worker; a
				// probe would only make down wait longer.
				s.log.Info().Msg("no project needs names: dns supervisor stopping")
				return nil
			}
		case <-time.After(wait):
		}
	}
}

// start runs a new worker, its output appended to the server log.
func (s *supervisor) start() error {
	lf, err := openLog(s.root)
	if err != nil {
		return err
	}
	defer lf.Close()
	cmd := exec.Command(s.argv[0], s.argv[1:]...)
	cmd.Dir = "/"
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		return err
	}
	s.started, s.ours = time.Now(), true
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	s.exited, s.proc = exited, cmd.Process
	s.log.Info().Int("pid", cmd.Process.Pid).Msg("dns worker started")
	return nil
}

// stopWorker asks the worker to stop, and kills it when it does not.
func (s *supervisor) stopWorker() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := ask(ctx, s.root, "stop", 2*time.Second); err != nil {
		killHolder(ctx, s.root, lockFile)
	}
}

// workerPid is the pid of the process holding the server lock, 0 when
// none does.
func workerPid(root string) int { return holder(root, lockFile, pidFile) }

// killHolder SIGKILLs the process holding the lock file name and waits
// (at most 5 s) until the lock is free: the kernel releases it with the
// process. A SIGKILL is delivered to a stopped process too.
func killHolder(ctx context.Context, root, name string) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	path := filepath.Join(Dir(root), name)
	for {
		pid := lockHolder(path)
		if pid == 0 || pid == os.Getpid() || !isServer(pid, root) {
			return
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
		select {
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}
