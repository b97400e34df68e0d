// Package files keeps what the kernel cannot hold, under netctl's --root:
// per-container hosts and resolv.conf files and the settings of networks and
// containers (labels, hostnames, aliases). Every write is atomic, and no
// file under the root is opened through a symbolic link (internal/beneath).
package files

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/internal/beneath"
	"github.com/netctl/netctl/model"
)

// sharedDir names the directory of objects no single project owns (the
// default network); project names are DNS labels, so it can't collide.
const sharedDir = "_"

// Store is the files actuator.
type Store struct {
	root    string
	journal bool // a full Read reuses what the files journal vouches for (readings.go)
	log     zerolog.Logger
}

// New returns a store rooted at root.
func New(root string) *Store { return &Store{root: root, log: zerolog.Nop()} }

type networkSettings struct {
	Driver   string            `json:"driver"`
	Internal bool              `json:"internal"`
	ICC      bool              `json:"icc"`
	IPRange  string            `json:"ip_range,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
	// MasqueradeV6 is only ever true on a dual-stack network.
	MasqueradeV6 bool `json:"masquerade_v6,omitempty"`
}

type containerSettings struct {
	Hostname   string              `json:"hostname"`
	Mode       model.Mode          `json:"mode"`
	Netns      string              `json:"netns,omitempty"`
	External   bool                `json:"external,omitempty"`
	Aliases    map[string][]string `json:"aliases,omitempty"` // by network ID
	ExtraHosts []model.HostEntry   `json:"extra_hosts,omitempty"`
	DNS        []netip.Addr        `json:"dns,omitempty"`
	Node       string              `json:"node,omitempty"` // overlay topologies
	PublishAll bool                `json:"publish_all,omitempty"`
}

// Hosts and Resolv are the file names of a container's hosts and resolv.conf.
const (
	Hosts  = "hosts"
	Resolv = "resolv.conf"
	// Env holds the legacy link env vars (NAME=value lines).
	Env = "env"
)

func projectDir(project string) string {
	if project == "" {
		return sharedDir
	}
	return project
}

func (s *Store) networkPath(n *model.Network) string {
	return filepath.Join(s.root, "networks", projectDir(n.Project), n.Name+".json")
}

// ContainerDir is where a container's files live.
func ContainerDir(root, project, name string) string {
	return filepath.Join(root, "containers", project, name)
}

// Read implements reconciler.Files: it reads the networks' settings and
// the files of the containers in scope, and returns what puts them into an
// observed state.
func (s *Store) Read(ctx context.Context, scope model.Scope) (func(*model.State), error) {
	networks, err := s.readNetworks()
	if err != nil {
		return nil, err
	}
	containers, err := s.readContainers(ctx, scope)
	if err != nil {
		return nil, err
	}
	return func(st *model.State) {
		fillNetworks(st, networks)
		fillContainers(st, containers)
	}, nil
}

// networkFile is one network's settings as read from its file.
type networkFile struct {
	project, name string
	settings      networkSettings
}

func (s *Store) readNetworks() ([]networkFile, error) {
	paths, err := filepath.Glob(filepath.Join(s.root, "networks", "*", "*.json"))
	if err != nil {
		return nil, err
	}
	read := make([]networkFile, 0, len(paths))
	for _, path := range paths {
		f := networkFile{project: filepath.Base(filepath.Dir(path)), name: strings.TrimSuffix(filepath.Base(path), ".json")}
		if f.project == sharedDir {
			f.project = ""
		}
		if err := readJSON(s.root, path, &f.settings); err != nil {
			return nil, err
		}
		read = append(read, f)
	}
	return read, nil
}

func fillNetworks(st *model.State, read []networkFile) {
	for _, f := range read {
		id := model.NetworkID(f.project, f.name)
		n := st.Networks[id]
		if n == nil {
			// The bridge is gone but its settings remain: report the
			// network without a bridge so the plan creates or forgets it.
			n = &model.Network{Project: f.project, Name: f.name}
			st.Networks[id] = n
		}
		ns := f.settings
		n.Driver, n.Internal, n.ICC, n.Labels = ns.Driver, ns.Internal, ns.ICC, ns.Labels
		n.MasqueradeV6 = ns.MasqueradeV6
		if ns.IPRange != "" {
			if p, err := netip.ParsePrefix(ns.IPRange); err == nil {
				n.IPRange = p
			}
		}
	}
}

func fillContainers(st *model.State, read []containerFiles) {
	for _, f := range read {
		id := model.ContainerID(f.project, f.name)
		c := st.Containers[id]
		if c == nil {
			c = &model.Container{Project: f.project, Name: f.name, Netns: f.settings.Netns, External: f.settings.External}
			st.Containers[id] = c
		}
		cs := f.settings
		c.Hostname, c.Mode, c.ExtraHosts, c.DNS, c.Node = cs.Hostname, cs.Mode, cs.ExtraHosts, cs.DNS, cs.Node
		c.PublishAll = cs.PublishAll
		for _, ep := range c.Endpoints {
			ep.Aliases = cs.Aliases[ep.Network]
		}
		c.HostsFile, c.ResolvFile, c.EnvFile = f.hosts, f.resolv, f.env
	}
}

// readContainers reads the files of the containers in scope. Three small
// reads per container: at a thousand containers, reading them side by side
// halves the wall time.
func (s *Store) readContainers(ctx context.Context, scope model.Scope) ([]containerFiles, error) {
	paths, err := s.settingsPaths(scope)
	if err != nil {
		return nil, err
	}
	root, err := beneath.OpenRoot(s.root)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	rs := s.openReadings(ctx)
	full := scope == nil
	read := make([]containerFiles, len(paths))
	errs := make([]error, len(paths))
	reused := 0
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(8, len(paths)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := reader{root: root}
			for i := range next {
				read[i], errs[i] = r.container(paths[i])
			}
		}()
	}
	for i := range paths {
		if ctx.Err() != nil {
			break
		}
		if full {
			if f, ok := rs.reuse(containerOf(paths[i])); ok {
				read[i] = f
				reused++
				continue
			}
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	s.settleReadings(rs, read, reused, full)
	return slices.DeleteFunc(read, func(f containerFiles) bool { return f.absent }), nil
}

// settingsPaths lists the containers' settings files: of every container,
// or of those in scope, found by name rather than by listing.
func (s *Store) settingsPaths(scope model.Scope) ([]string, error) {
	if scope == nil {
		return s.allSettingsPaths()
	}
	var paths []string
	for id := range scope {
		project, name, ok := model.SplitID(id)
		if !ok || strings.ContainsAny(project+name, "/\x00") || project == ".." || name == ".." {
			continue
		}
		// Not checked here: a container without settings is skipped when
		// they are read.
		paths = append(paths, filepath.Join(ContainerDir(s.root, project, name), "settings.json"))
	}
	return paths, nil
}

// allSettingsPaths lists containers/<project>/<name>/settings.json without
// looking into each container's directory (a glob of the same pattern
// opened and listed every one of them: eleven system calls a container);
// a directory without settings is skipped when they are read.
func (s *Store) allSettingsPaths() ([]string, error) {
	dir := filepath.Join(s.root, "containers")
	projects, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var paths []string
	for _, p := range projects {
		if !isDirOrLink(p) {
			continue
		}
		names, err := os.ReadDir(filepath.Join(dir, p.Name()))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOTDIR) {
				continue // removed meanwhile; a link to a file
			}
			return nil, err
		}
		for _, n := range names {
			if isDirOrLink(n) {
				paths = append(paths, filepath.Join(dir, p.Name(), n.Name(), "settings.json"))
			}
		}
	}
	return paths, nil
}

// isDirOrLink: a link is listed too, for the read below the root to
// refuse it loudly as a glob's match would have been.
func isDirOrLink(e fs.DirEntry) bool { return e.IsDir() || e.Type()&fs.ModeSymlink != 0 }

// containerFiles is what one container's directory holds.
type containerFiles struct {
	project, name      string
	settings           containerSettings
	hosts, resolv, env string
	absent             bool // no settings: not a container (yet, or any more)
}

// reader reads containers' files, one after the other, into a buffer it
// keeps: most are a few hundred bytes.
type reader struct {
	root *beneath.Root
	buf  []byte
}

// container reads the files of the container whose settings are at
// settingsPath.
func (r *reader) container(settingsPath string) (containerFiles, error) {
	dir := filepath.Dir(settingsPath)
	project, name := containerOf(settingsPath)
	f := containerFiles{project: project, name: name}
	b, err := r.read(settingsPath)
	if errors.Is(err, fs.ErrNotExist) {
		f.absent = true // being written, or being removed
		return f, nil
	}
	if err == nil {
		err = json.Unmarshal(b, &f.settings)
	}
	if err != nil {
		return f, fmt.Errorf("read %s: %w", settingsPath, err)
	}
	// dir is clean (filepath.Dir's): no filepath.Join needed to Clean it
	// again, a few percent of the CPU of reading.
	f.hosts = r.optional(dir + "/" + Hosts)
	f.resolv = r.optional(dir + "/" + Resolv)
	f.env = r.optional(dir + "/" + Env)
	return f, nil
}

// containerOf is the project and name of the container whose settings
// are at settingsPath (<root>/containers/<project>/<name>/settings.json).
func containerOf(settingsPath string) (project, name string) {
	dir := filepath.Dir(settingsPath)
	return filepath.Base(filepath.Dir(dir)), filepath.Base(dir)
}

// read returns path's content, in r's buffer until the next read.
func (r *reader) read(path string) ([]byte, error) {
	b, err := r.root.ReadFileBuf(path, r.buf)
	if err == nil {
		r.buf = b
	}
	return b, err
}

// optional returns path's content, or "" if it cannot be read.
func (r *reader) optional(path string) string {
	b, err := r.read(path)
	if err != nil {
		return ""
	}
	return string(b)
}

// WriteNetwork records the network's settings.
func (s *Store) WriteNetwork(_ context.Context, n *model.Network) error {
	ns := networkSettings{Driver: n.Driver, Internal: n.Internal, ICC: n.ICC, Labels: n.Labels,
		MasqueradeV6: n.EnableIPv6 && n.MasqueradeV6}
	if n.IPRange.IsValid() {
		ns.IPRange = n.IPRange.String()
	}
	return writeJSON(s.root, s.networkPath(n), ns)
}

// RemoveNetwork forgets the network's settings.
func (s *Store) RemoveNetwork(_ context.Context, n *model.Network) error {
	return removeAll(s.root, s.networkPath(n))
}

// WriteContainer writes the container's settings, hosts and resolv.conf.
// The settings go last: their presence marks the container as written.
// hosts and resolv.conf are world-readable, as /etc's are (a program that
// drops privileges in `netctl exec` still resolves names); the env file
// holds other containers' `env` values and is root's alone.
func (s *Store) WriteContainer(_ context.Context, c *model.Container) error {
	dir := ContainerDir(s.root, c.Project, c.Name)
	if err := writeFile(s.root, filepath.Join(dir, Hosts), []byte(c.HostsFile), 0o644); err != nil {
		return err
	}
	if err := writeFile(s.root, filepath.Join(dir, Resolv), []byte(c.ResolvFile), 0o644); err != nil {
		return err
	}
	if err := writeOptional(s.root, filepath.Join(dir, Env), c.EnvFile); err != nil {
		return err
	}
	cs := containerSettings{Hostname: c.Hostname, Mode: c.Mode, Netns: c.Netns, External: c.External, Node: c.Node,
		ExtraHosts: c.ExtraHosts, DNS: c.DNS, PublishAll: c.PublishAll}
	for _, ep := range c.Endpoints {
		if len(ep.Aliases) > 0 {
			if cs.Aliases == nil {
				cs.Aliases = map[string][]string{}
			}
			cs.Aliases[ep.Network] = ep.Aliases
		}
	}
	return writeJSON(s.root, filepath.Join(dir, "settings.json"), cs)
}

// RemoveContainer deletes the container's files.
func (s *Store) RemoveContainer(_ context.Context, c *model.Container) error {
	return removeAll(s.root, ContainerDir(s.root, c.Project, c.Name))
}

func removeAll(root, path string) error {
	if err := beneath.RemoveAll(root, path); err != nil {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return nil
}

func readJSON(root, path string, v any) error {
	b, err := beneath.ReadFile(root, path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return nil
}

// writeJSON writes settings, which only netctl reads: 0600.
func writeJSON(root, path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return writeFile(root, path, append(b, '\n'), 0o600)
}

func writeFile(root, path string, data []byte, perm os.FileMode) error {
	if err := beneath.WriteFile(root, path, data, perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// writeOptional writes a file (0600) that exists only when it has content.
func writeOptional(root, path, content string) error {
	if content == "" {
		if err := beneath.Remove(root, path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", path, err)
		}
		return nil
	}
	return writeFile(root, path, []byte(content), 0o600)
}
