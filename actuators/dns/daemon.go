package dns

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/netctl/netctl/internal/beneath"
	"github.com/netctl/netctl/model"
)

// Paths under --root.
const (
	dirName     = "dns"
	projectsDir = "projects" // one <project>.json per project
	ctlSock     = "ctl.sock" // control socket: reload, status, stop
	pidFile     = "server.pid"
	lockFile    = "server.lock" // held by the running server
	logFile     = "server.log"
)

// Dir is where the DNS server keeps its files.
func Dir(root string) string { return filepath.Join(root, dirName) }

func projectPath(root, project string) string {
	return filepath.Join(Dir(root), projectsDir, project+".json")
}

// ErrRunning means another server already serves this root.
var ErrRunning = errors.New("a DNS server already serves this root")

// request and response are the control protocol: one JSON line each way
// per connection on ctl.sock.
type request struct {
	Op string `json:"op"` // "reload", "status", "ping", "stop"
}

type response struct {
	OK     bool   `json:"ok"`
	Error  string `json:"error,omitempty"`
	Status Status `json:"status"`
}

// Serve runs the server (the supervisor's worker) for root until ctx is
// done or a "stop" request comes: it takes the server lock (ErrRunning if
// another server holds it), writes its pid, loads every project file, and
// answers control requests on ctl.sock. SIGHUP reloads the files, as
// aardvark-dns. Its limits are sized to the descriptor limit, raised to
// the hard one first.
func Serve(ctx context.Context, root string, opts Options) error {
	log := opts.Log
	dir := Dir(root)
	release, err := claim(root, lockFile, pidFile)
	if err != nil {
		return fmt.Errorf("dns server: %w", err)
	}
	defer release()
	opts.Limits = opts.Limits.orDefaults(LimitsFor(RaiseNofile()))

	// The server's heap is small and answers allocate a little each:
	// collect less often, for steadier latency.
	debug.SetGCPercent(400)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv := New(opts)
	defer srv.Close()
	reload := func(why string) Status {
		st := srv.Reload(LoadConfig(root, log))
		log.Info().Str("why", why).Int("projects", len(st.Projects)).Msg("configuration loaded")
		return st
	}
	reload("start")

	sock := filepath.Join(dir, ctlSock)
	os.Remove(sock) // a stale socket of a dead server; we hold the lock
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return fmt.Errorf("dns server: control socket: %w", err)
	}
	defer os.Remove(sock)
	defer ln.Close()
	if err := os.Chmod(sock, 0o600); err != nil {
		return fmt.Errorf("dns server: %w", err)
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				reload("SIGHUP")
			}
		}
	}()
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	go stopWhenUnreachable(ctx, sock, cancel, log)
	log.Info().Int("pid", os.Getpid()).Str("root", root).Int("max_forwards", opts.Limits.Forwards).
		Int("max_tcp", opts.Limits.TCPConns).Msg("dns server started")
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				log.Info().Msg("dns server stopping")
				return nil
			}
			if outOfResources(err) {
				// Out of descriptors for a moment: the control socket
				// must outlive it, or apply loses the server.
				log.Warn().Err(err).Msg("control socket: out of resources")
				time.Sleep(50 * time.Millisecond)
				continue
			}
			return fmt.Errorf("dns server: control socket: %w", err)
		}
		go handleControl(conn, srv, reload, cancel, log)
	}
}

// unreachableCheck is how often the server checks that its control
// socket is still the one it listens on.
const unreachableCheck = 2 * time.Second

// stopWhenUnreachable stops the server once its control socket is gone or
// replaced (its --root removed, say): nobody can reload or stop it any
// more, and a server left behind would answer stale names and hold the
// gateway's port 53 until the namespace goes.
func stopWhenUnreachable(ctx context.Context, sock string, stop func(), log zerolog.Logger) {
	orig, err := os.Stat(sock)
	if err != nil {
		// Gone already (the root removed right after the server made
		// it): as unreachable as later.
		log.Warn().Err(err).Str("socket", sock).Msg("control socket gone: stopping")
		stop()
		return
	}
	t := time.NewTicker(unreachableCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if fi, err := os.Stat(sock); err != nil || !os.SameFile(fi, orig) {
			log.Warn().Str("socket", sock).Msg("control socket gone: stopping")
			stop()
			return
		}
	}
}

func handleControl(conn net.Conn, srv *Server, reload func(string) Status, stop func(), log zerolog.Logger) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	var req request
	line, err := bufio.NewReader(conn).ReadBytes('\n')
	if err == nil {
		err = json.Unmarshal(line, &req)
	}
	var resp response
	switch {
	case err != nil:
		resp.Error = "bad request: " + err.Error()
	case req.Op == "reload":
		resp.OK, resp.Status = true, reload("control request")
	case req.Op == "ping":
		// Liveness only: no lock taken, so a long reload is no hang.
		resp.OK, resp.Status = true, Status{Pid: os.Getpid()}
	case req.Op == "status":
		resp.OK, resp.Status = true, srv.Status()
	case req.Op == "stop":
		resp.OK, resp.Status = true, srv.Status()
		defer stop()
	default:
		resp.Error = fmt.Sprintf("unknown op %q", req.Op)
	}
	b, _ := json.Marshal(resp)
	if _, err := conn.Write(append(b, '\n')); err != nil {
		log.Debug().Err(err).Msg("control reply")
	}
}

// LoadConfig reads every project file under root. A file that cannot be
// read is reported in its project's status and serves nothing.
func LoadConfig(root string, log zerolog.Logger) Config {
	paths, err := projectFiles(root)
	if err != nil {
		log.Error().Err(err).Msg("list configuration")
	}
	var cfg Config
	for _, path := range paths {
		project := strings.TrimSuffix(filepath.Base(path), ".json")
		b, err := beneath.ReadFile(root, path)
		if err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				log.Error().Err(err).Str("project", project).Msg("read configuration")
			}
			continue
		}
		p := Project{Hash: hash(b)}
		if d, ok := loadDecoded(root, project, p.Hash); ok {
			p.DNS = d
			cfg.Projects = append(cfg.Projects, p)
			continue
		}
		var d model.DNS
		if err := json.Unmarshal(b, &d); err != nil || d.Project != project {
			if err == nil {
				err = fmt.Errorf("names project %q", d.Project)
			}
			p.DNS = &model.DNS{Project: project}
			p.Problem = fmt.Sprintf("bad configuration %s: %v", path, err)
			log.Error().Err(err).Str("file", path).Msg("configuration")
		} else {
			p.DNS = &d
		}
		cfg.Projects = append(cfg.Projects, p)
	}
	return cfg
}

func hash(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}
