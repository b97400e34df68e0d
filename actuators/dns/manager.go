package dns

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/actuators/files"
	"github.com/netctl/netctl/internal/beneath"
	"github.com/netctl/netctl/model"
)

// Manager is the DNS actuator (reconciler.Names): it keeps one file per
// project under <root>/dns/projects and a background server (Serve) that
// serves them, started on demand and detached from the command that
// started it, as netavark does with aardvark-dns.
type Manager struct {
	root string
	// argv starts the server, e.g. {"/usr/bin/netctl", "--root", root,
	// "dns", "serve"}; it must end up calling Serve for root.
	argv []string
	log  zerolog.Logger
	// StartTimeout bounds how long a new server may take to answer.
	StartTimeout time.Duration
	// ReloadTimeout bounds a reload of a running server; one that takes
	// longer is hung, and replaced.
	ReloadTimeout time.Duration

	// known is, by project, the configuration this process last wrote or
	// read, with the hash of its file: while the file hashes the same,
	// Observe takes it instead of decoding the file again (~0.2 s at
	// 10,000 containers; a reconcile reads it before and after a change,
	// and watch at every reconcile). Any other content is decoded.
	mu    sync.Mutex
	known map[string]knownConfig
}

// knownConfig is a project's configuration and the hash of the file
// holding exactly it.
type knownConfig struct {
	hash string
	cfg  model.DNS
}

// remember keeps cfg as the content of a file hashing to h.
func (m *Manager) remember(h string, cfg *model.DNS) {
	k := knownConfig{hash: h, cfg: *cfg}
	k.cfg.Serving, k.cfg.Problem = false, ""
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.known == nil {
		m.known = map[string]knownConfig{}
	}
	m.known[cfg.Project] = k
}

// recall returns a copy of the project's known configuration when its
// file hashes to h. The copy shares its slices: configurations are never
// changed in place, only replaced.
func (m *Manager) recall(project, h string) (*model.DNS, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.known[project]
	if !ok || k.hash != h {
		return nil, false
	}
	d := k.cfg
	return &d, true
}

// NewManager returns the actuator for root. argv starts the supervisor
// (Supervise), which runs the server itself.
func NewManager(root string, argv []string, log zerolog.Logger) *Manager {
	return &Manager{root: root, argv: argv, log: log, StartTimeout: 10 * time.Second, ReloadTimeout: 5 * time.Second}
}

// Observe reads each project's file and asks the server what it serves.
func (m *Manager) Observe(ctx context.Context, st *model.State) error {
	paths, err := projectFiles(m.root)
	if err != nil || len(paths) == 0 {
		return err
	}
	status, serr := m.request(ctx, "status", time.Second)
	supervised := m.supervised()
	for _, path := range paths {
		b, err := beneath.ReadFile(m.root, path)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return fmt.Errorf("dns: %w", err)
		}
		project := strings.TrimSuffix(filepath.Base(path), ".json")
		h := hash(b)
		d, ok := m.recall(project, h)
		if !ok {
			// Kept by another command: remembered, so that this one's
			// verification does not read it again.
			if d, ok = loadDecoded(m.root, project, h); ok {
				m.remember(h, d)
			}
		}
		if !ok {
			d = &model.DNS{}
			if err := json.Unmarshal(b, d); err != nil || d.Project != project {
				// Unreadable: report it as an empty configuration, which
				// the plan rewrites (or removes).
				d = &model.DNS{Project: project, Problem: "unreadable " + path}
			} else {
				m.remember(h, d)
				m.saveDecoded(h, d)
			}
		}
		if d.Problem == "" {
			d.Problem = problem(status, serr, project, h)
		}
		if d.Problem == "" && !supervised {
			d.Problem = "not supervised"
		}
		d.Serving = d.Problem == ""
		if st.DNS == nil {
			st.DNS = map[string]*model.DNS{}
		}
		st.DNS[project] = d
	}
	return nil
}

func problem(st Status, err error, project, want string) string {
	if err != nil {
		return "not running"
	}
	ps, ok := st.Projects[project]
	switch {
	case !ok:
		return "does not serve this project"
	case ps.Hash != want:
		return "serves an older configuration"
	case len(ps.Problems) > 0:
		return strings.Join(ps.Problems, "; ")
	}
	return ""
}

// EnsureDNS writes the project's file and has the server load it,
// starting the server when none runs; it returns once the new
// configuration is live and every listener of the project is bound.
func (m *Manager) EnsureDNS(ctx context.Context, cfg *model.DNS) error {
	// Compact: the server parses the whole file on every reload, and at
	// 10,000 containers the indented form is twice the size (3.3 MB) and
	// costs twice the time to write and to read (~100 + 150 ms).
	b, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("dns %s: %w", cfg.Project, err)
	}
	b = append(b, '\n')
	if err := beneath.WriteFile(m.root, projectPath(m.root, cfg.Project), b, 0o600); err != nil {
		return fmt.Errorf("dns %s: %w", cfg.Project, err)
	}
	h := hash(b)
	m.remember(h, cfg)
	m.saveDecoded(h, cfg)
	st, err := m.reload(ctx)
	if err != nil {
		return fmt.Errorf("dns %s: %w", cfg.Project, err)
	}
	if p := problem(st, nil, cfg.Project, h); p != "" {
		return fmt.Errorf("dns %s: server: %s", cfg.Project, p)
	}
	return nil
}

// RemoveDNS removes the project's file; the server reloads, or stops when
// no project is left.
func (m *Manager) RemoveDNS(ctx context.Context, project string) error {
	if err := beneath.Remove(m.root, projectPath(m.root, project)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("dns %s: %w", project, err)
	}
	_ = beneath.Remove(m.root, decodedPath(m.root, project)) // a cache: stale is harmless, left is litter
	if hasProjects(m.root) {
		if _, err := m.reload(ctx); err != nil {
			return fmt.Errorf("dns %s: %w", project, err)
		}
		return nil
	}
	return m.Stop(ctx)
}

// Stop stops the server, if one runs, and waits for it and its
// supervisor to be gone (the supervisor exits once the worker is gone and
// no project is left). A server that does not answer is killed.
func (m *Manager) Stop(ctx context.Context) error {
	if _, err := m.request(ctx, "stop", 2*time.Second); err != nil && !notRunning(err) {
		m.log.Warn().Err(err).Msg("DNS server does not answer: killing it")
		killHolder(ctx, m.root, lockFile)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		// While they run, their records answer (cheap); once both are
		// gone, one reading of the kernel's lock table confirms it.
		sup, worker := recordedPid(m.root, supervisorPid), recordedPid(m.root, pidFile)
		if sup == 0 && worker == 0 {
			held := files.LockHolders(filepath.Join(Dir(m.root), supervisorLock), filepath.Join(Dir(m.root), lockFile))
			if held[0] == 0 && held[1] == 0 {
				return nil
			}
			sup = held[0]
		}
		if sup > 0 && stopped(sup) {
			killHolder(ctx, m.root, supervisorLock)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return errors.New("dns: server did not stop within 10s")
}

func (m *Manager) supervisorPid() int {
	return holder(m.root, supervisorLock, supervisorPid)
}

// supervised reports whether a live supervisor looks after the server.
func (m *Manager) supervised() bool {
	pid := m.supervisorPid()
	return pid > 0 && !stopped(pid)
}

// reload has the server load the project files. A server that is gone,
// stopped or does not answer within ReloadTimeout is replaced (never
// waited for again and again), and a missing or stopped supervisor too.
func (m *Manager) reload(ctx context.Context) (Status, error) {
	if pid := workerPid(m.root); pid == 0 || !stopped(pid) {
		st, err := m.request(ctx, "reload", m.ReloadTimeout)
		if err == nil {
			if !m.supervised() {
				exited, err := m.superviseAgain(ctx)
				if err != nil {
					return st, err
				}
				// Until it holds its lock, Observe would report the
				// server unsupervised, and a reconcile that verifies
				// quickly would plan this reload again.
				if err := m.awaitSupervisor(ctx, exited); err != nil {
					return st, err
				}
			}
			return st, nil
		}
		if !notRunning(err) || workerPid(m.root) != 0 {
			m.log.Warn().Err(err).Msg("DNS server does not answer: replacing it")
		}
	} else {
		m.log.Warn().Int("pid", pid).Msg("DNS server is stopped: replacing it")
	}
	if pid := workerPid(m.root); pid > 0 {
		killHolder(ctx, m.root, lockFile)
	}
	exited, err := m.superviseAgain(ctx)
	if err != nil {
		return Status{}, err
	}
	return m.awaitServer(ctx, exited)
}

// superviseAgain starts a supervisor unless a live one runs; a stopped
// one is killed first. exited reports the new supervisor's exit (nil
// channel when none was started).
func (m *Manager) superviseAgain(ctx context.Context) (<-chan error, error) {
	if pid := m.supervisorPid(); pid > 0 {
		if !stopped(pid) {
			return nil, nil
		}
		m.log.Warn().Int("pid", pid).Msg("DNS supervisor is stopped: replacing it")
		killHolder(ctx, m.root, supervisorLock)
	}
	return m.start()
}

// start launches a detached supervisor (own session, stdio to the log
// file), which starts the server.
func (m *Manager) start() (<-chan error, error) {
	if len(m.argv) == 0 {
		return nil, errors.New("no command to start the DNS server")
	}
	if err := prepareDir(m.root); err != nil {
		return nil, err
	}
	logPath := filepath.Join(Dir(m.root), logFile)
	lf, err := openLog(m.root)
	if err != nil {
		return nil, err
	}
	defer lf.Close()
	cmd := exec.Command(m.argv[0], m.argv[1:]...)
	cmd.Dir = "/"
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start DNS server: %w", err)
	}
	exited := make(chan error, 1)
	// Reaps it if it dies while this process lives (watch); a one-shot
	// apply exits and the supervisor is inherited by init.
	go func() { exited <- cmd.Wait() }()
	m.log.Info().Int("pid", cmd.Process.Pid).Str("log", logPath).Msg("started DNS server")
	return exited, nil
}

// awaitSupervisor waits until a live supervisor holds its lock, at most
// StartTimeout; exited, when not nil, reports the one just started giving
// up.
func (m *Manager) awaitSupervisor(ctx context.Context, exited <-chan error) error {
	deadline := time.Now().Add(m.StartTimeout)
	for !m.supervised() {
		select {
		case werr := <-exited:
			if !m.supervised() {
				return fmt.Errorf("DNS supervisor exited at once (%v): %s", werr, tail(m.root))
			}
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("DNS supervisor did not start within %s: %s", m.StartTimeout, tail(m.root))
		}
	}
	return nil
}

// serverPoll is how often awaitServer asks a starting server. An ask of
// a server not listening yet is a failed connect to a Unix socket, next to
// free, while a cold apply waits the half-interval on average: at 10 ms
// that was ~5 ms of a 50 ms apply of ten containers.
const serverPoll = 2 * time.Millisecond

// awaitServer waits until a server answers a reload, at most
// StartTimeout; exited, when not nil, reports a supervisor that gave up.
func (m *Manager) awaitServer(ctx context.Context, exited <-chan error) (Status, error) {
	deadline := time.Now().Add(m.StartTimeout)
	for {
		st, err := m.request(ctx, "reload", m.ReloadTimeout)
		if err == nil {
			return st, nil
		}
		if exited == nil && m.supervisorPid() == 0 {
			// The supervisor relied on went away (it stops once no
			// project is left, and one may just have been written).
			if exited, err = m.start(); err != nil {
				return Status{}, err
			}
		}
		select {
		case werr := <-exited:
			if m.supervisorPid() == 0 {
				return Status{}, fmt.Errorf("DNS server exited at once (%v): %s", werr, tail(m.root))
			}
			exited = nil // another supervisor took over
		case <-ctx.Done():
			return Status{}, ctx.Err()
		case <-time.After(serverPoll):
		}
		if time.Now().After(deadline) {
			return Status{}, fmt.Errorf("DNS server did not answer within %s: %v; %s", m.StartTimeout, err, tail(m.root))
		}
	}
}

// request sends one control request to the server and waits for its reply.
func (m *Manager) request(ctx context.Context, op string, timeout time.Duration) (Status, error) {
	return ask(ctx, m.root, op, timeout)
}

// ask sends one control request to root's server and waits, at most
// timeout, for its reply.
func ask(ctx context.Context, root, op string, timeout time.Duration) (Status, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", filepath.Join(Dir(root), ctlSock))
	if err != nil {
		return Status{}, err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	b, _ := json.Marshal(request{Op: op})
	if _, err := conn.Write(append(b, '\n')); err != nil {
		return Status{}, err
	}
	line, err := bufio.NewReader(conn).ReadBytes('\n')
	if err != nil {
		return Status{}, fmt.Errorf("%s: %w", op, err)
	}
	var resp response
	if err := json.Unmarshal(line, &resp); err != nil {
		return Status{}, fmt.Errorf("%s: %w", op, err)
	}
	if !resp.OK {
		return resp.Status, fmt.Errorf("%s: %s", op, resp.Error)
	}
	return resp.Status, nil
}

func notRunning(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ECONNREFUSED)
}

// tail is the end of the server's log, for errors.
func tail(root string) string {
	path := filepath.Join(Dir(root), logFile)
	b, err := beneath.ReadFile(root, path)
	if err != nil {
		return ""
	}
	s := strings.TrimSpace(string(b))
	if len(s) > 600 {
		s = s[len(s)-600:]
	}
	return "log " + path + ": " + s
}

// Pid is the running server's pid from its pid file, 0 when none.
func Pid(root string) int {
	b, err := beneath.ReadFile(root, filepath.Join(Dir(root), pidFile))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// Status asks the running server what it serves.
func (m *Manager) Status(ctx context.Context) (Status, error) {
	st, err := m.request(ctx, "status", 5*time.Second)
	if notRunning(err) {
		return st, errors.New("no DNS server runs for this root")
	}
	return st, err
}
