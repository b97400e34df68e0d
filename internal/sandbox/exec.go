package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/netctl/netctl/internal/syncbuf"
)

// pipeGrace is how long a finished command may leave its stdout/stderr
// open. A daemon that inherits them (say, a DNS server spawned by apply)
// would otherwise make Wait block until the daemon exits.
const pipeGrace = 5 * time.Second

// Result is the outcome of one command. Code is the exit status, or -1 when
// the command could not run, was killed by a signal, or timed out; the
// reason is then appended to Stderr.
type Result struct {
	Stdout, Stderr string
	Code           int
}

func (r Result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s\n--- stderr\n%s", r.Code, r.Stdout, r.Stderr)
}

func withDefaultTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, DefaultTimeout)
}

func run(ctx context.Context, argv []string) Result { return runInput(ctx, argv, nil) }

// runInput is run with stdin (nil: /dev/null).
func runInput(ctx context.Context, argv []string, stdin io.Reader) Result {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = commandEnv()
	cmd.Stdin = stdin
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = pipeGrace
	err := cmd.Run()
	res := Result{Code: 0}
	var note string
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case ctx.Err() != nil:
		res.Code = -1
		note = fmt.Sprintf("[sandbox] %s killed: %v", argv[0], ctx.Err())
	case errors.As(err, &exitErr):
		res.Code = exitErr.ExitCode()
		if res.Code < 0 {
			note = fmt.Sprintf("[sandbox] %s: %v", argv[0], err)
		}
	case errors.Is(err, exec.ErrWaitDelay):
		res.Code = cmd.ProcessState.ExitCode()
		note = fmt.Sprintf("[sandbox] %s exited but a child kept its stdout/stderr open for %s", argv[0], pipeGrace)
	default:
		res.Code = -1
		note = fmt.Sprintf("[sandbox] %v", err)
	}
	res.Stdout = stdout.String()
	res.Stderr = stderr.String()
	if note != "" {
		if res.Stderr != "" && !strings.HasSuffix(res.Stderr, "\n") {
			res.Stderr += "\n"
		}
		res.Stderr += note
	}
	return res
}

func (h *Host) netctlArgv(args []string) ([]string, error) {
	bin, err := binary()
	if err != nil {
		return nil, err
	}
	return append([]string{"nsenter", "--net=" + h.NetnsPath(), bin, "--root", h.root}, args...), nil
}

// Netctl runs `netctl --root <root> args...` inside the sandbox host with
// DefaultTimeout. It never fails the test itself (so it is safe from any
// goroutine); see MustNetctl.
func (h *Host) Netctl(args ...string) Result {
	h.t.Helper()
	return h.NetctlCtx(context.Background(), args...)
}

// NetctlCtx is Netctl bounded by ctx (DefaultTimeout if ctx has no deadline).
func (h *Host) NetctlCtx(ctx context.Context, args ...string) Result {
	h.t.Helper()
	argv, err := h.netctlArgv(args)
	if err != nil {
		return Result{Stderr: err.Error(), Code: -1}
	}
	start := time.Now()
	res := run(ctx, argv)
	h.t.Logf("sandbox %s: netctl %s -> exit %d (%s)", h.name, strings.Join(args, " "), res.Code,
		time.Since(start).Round(time.Millisecond))
	return res
}

// NetctlInput is Netctl with stdin (a topology for -f -, input for exec -i).
func (h *Host) NetctlInput(stdin string, args ...string) Result {
	h.t.Helper()
	argv, err := h.netctlArgv(args)
	if err != nil {
		return Result{Stderr: err.Error(), Code: -1}
	}
	res := runInput(context.Background(), argv, strings.NewReader(stdin))
	h.t.Logf("sandbox %s: netctl %s <stdin -> exit %d", h.name, strings.Join(args, " "), res.Code)
	return res
}

// NetctlCommand prepares `netctl --root <root> args...` in the sandbox
// host for a test that wires the process itself (a terminal as its stdin,
// say); the test starts it and waits for it.
func (h *Host) NetctlCommand(ctx context.Context, args ...string) (*exec.Cmd, error) {
	argv, err := h.netctlArgv(args)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = commandEnv()
	return cmd, nil
}

// MustNetctl is Netctl that fails t, showing all output, on a non-zero exit.
func (h *Host) MustNetctl(t testing.TB, args ...string) Result {
	t.Helper()
	res := h.Netctl(args...)
	if res.Code != 0 {
		t.Fatalf("netctl %s: %s", strings.Join(args, " "), res)
	}
	return res
}

// InNetns runs cmd in the network namespace at path (mounts and everything
// else stay those of the test process), with DefaultTimeout.
func (h *Host) InNetns(path string, cmd ...string) Result {
	return run(context.Background(), append([]string{"nsenter", "--net=" + path}, cmd...))
}

// InHost runs cmd in the sandbox host's network namespace.
func (h *Host) InHost(cmd ...string) Result {
	return h.InNetns(h.NetnsPath(), cmd...)
}

// InContainer runs cmd in the network namespace netctl keeps for a container.
func (h *Host) InContainer(project, name string, cmd ...string) Result {
	return h.InNetns(h.ContainerNetns(project, name), cmd...)
}

// Ping sends one echo request from a container to ip and reports whether a
// reply came within a second. It is one attempt by design: "must fail"
// assertions need it, and a converged apply leaves nothing to wait for.
func (h *Host) Ping(t testing.TB, project, from, ip string) bool {
	t.Helper()
	// One reply within two seconds, probing every 0.2 s: the first probe
	// right after wiring can be lost (ARP, a port still coming up) on a
	// loaded machine, which is no failure of the wiring.
	res := h.InContainer(project, from, "ping", "-c1", "-w2", "-i0.2", "-n", ip)
	if res.Code != 0 {
		t.Logf("ping %s/%s -> %s: %s", project, from, ip, res)
	}
	return res.Code == 0
}

// Proc is a long-running command (netctl watch) started by Start.
type Proc struct {
	cmd    *exec.Cmd
	argv   []string
	stdout syncbuf.Buffer
	stderr syncbuf.Buffer
	done   chan struct{}
	err    error // from Wait, valid once done is closed

	stopOnce sync.Once
	stopped  Result

	// StopTimeout is how long Stop waits after SIGTERM before SIGKILL.
	StopTimeout time.Duration
}

// Start launches `netctl --root <root> args...` in the sandbox host and
// returns at once. The host stops it at cleanup if the test did not. Call it
// from the goroutine of the test that created the host: it fails that test
// if the command cannot start.
func (h *Host) Start(args ...string) *Proc {
	h.t.Helper()
	argv, err := h.netctlArgv(args)
	if err != nil {
		h.t.Fatalf("sandbox: %v", err)
	}
	return h.start(argv)
}

func (h *Host) start(argv []string) *Proc {
	h.t.Helper()
	p := &Proc{argv: argv, done: make(chan struct{}), StopTimeout: 10 * time.Second}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Env = commandEnv()
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	p.cmd.WaitDelay = pipeGrace
	if err := p.cmd.Start(); err != nil {
		h.t.Fatalf("sandbox: start %s: %v", strings.Join(argv, " "), err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	h.mu.Lock()
	h.procs = append(h.procs, p)
	h.mu.Unlock()
	return p
}

// Pid is the process id (netctl itself: nsenter execs it without forking).
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Stdout is everything the process wrote to stdout so far.
func (p *Proc) Stdout() string { return p.stdout.String() }

// Stderr is everything the process wrote to stderr so far.
func (p *Proc) Stderr() string { return p.stderr.String() }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Signal sends sig to the process (SIGHUP and friends in watch tests).
func (p *Proc) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// WaitOutput waits until stdout or stderr contains substr, and reports
// whether it did before the timeout or the process's exit.
func (p *Proc) WaitOutput(substr string, timeout time.Duration) bool {
	deadline := time.After(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if strings.Contains(p.Stdout(), substr) || strings.Contains(p.Stderr(), substr) {
			return true
		}
		select {
		case <-deadline:
			return false
		case <-p.done:
			return strings.Contains(p.Stdout(), substr) || strings.Contains(p.Stderr(), substr)
		case <-tick.C:
		}
	}
}

// Stop ends the process: SIGTERM, then SIGKILL after StopTimeout. It returns
// the output and exit status, and may be called more than once.
func (p *Proc) Stop() Result {
	p.stopOnce.Do(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(p.StopTimeout):
				_ = p.cmd.Process.Kill()
				<-p.done
			}
		}
		res := Result{Stdout: p.Stdout(), Stderr: p.Stderr(), Code: p.cmd.ProcessState.ExitCode()}
		var exitErr *exec.ExitError
		if p.err != nil && !errors.As(p.err, &exitErr) {
			res.Stderr += fmt.Sprintf("\n[sandbox] %v", p.err)
		}
		if res.Code < 0 {
			res.Stderr += fmt.Sprintf("\n[sandbox] %s", p.cmd.ProcessState)
		}
		p.stopped = res
	})
	return p.stopped
}

// commandEnv is the environment of the commands the harness runs. A -race
// binary sleeps a second at exit by default (to let reports flush); at
// hundreds of netctl runs per suite that is most of its wall time.
func commandEnv() []string {
	env := os.Environ()
	if os.Getenv("GORACE") == "" {
		env = append(env, "GORACE=atexit_sleep_ms=0")
	}
	return env
}
