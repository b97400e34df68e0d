// Package files keeps what the kernel cannot hold, under netctl's --root:
// per-container hosts and resolv.conf files and the settings of networks and
// containers (labels, hostnames, aliases). Every write is atomic.
package files

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/netctl/netctl/model"
)

// sharedDir names the directory of objects no single project owns (the
// default network); project names are DNS labels, so it can't collide.
const sharedDir = "_"

// Store is the files actuator.
type Store struct {
	root string

	mu         sync.Mutex
	prefetched *containerReads
}

// New returns a store rooted at root.
func New(root string) *Store { return &Store{root: root} }

// containerReads are the container files of one scope, read ahead.
type containerReads struct {
	scope model.Scope
	files []containerFiles
	err   error
}

type networkSettings struct {
	Driver   string            `json:"driver"`
	Internal bool              `json:"internal"`
	ICC      bool              `json:"icc"`
	IPRange  string            `json:"ip_range,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
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

// Observe fills file-backed fields into st and adds objects that exist
// only as files.
func (s *Store) Observe(ctx context.Context, st *model.State, scope model.Scope) error {
	if err := s.observeNetworks(st); err != nil {
		return err
	}
	return s.observeContainers(ctx, st, scope)
}

func (s *Store) observeNetworks(st *model.State) error {
	paths, err := filepath.Glob(filepath.Join(s.root, "networks", "*", "*.json"))
	if err != nil {
		return err
	}
	for _, path := range paths {
		project := filepath.Base(filepath.Dir(path))
		if project == sharedDir {
			project = ""
		}
		name := strings.TrimSuffix(filepath.Base(path), ".json")
		var ns networkSettings
		if err := readJSON(path, &ns); err != nil {
			return err
		}
		id := model.NetworkID(project, name)
		n := st.Networks[id]
		if n == nil {
			// The bridge is gone but its settings remain: report the
			// network without a bridge so the plan creates or forgets it.
			n = &model.Network{Project: project, Name: name}
			st.Networks[id] = n
		}
		n.Driver, n.Internal, n.ICC, n.Labels = ns.Driver, ns.Internal, ns.ICC, ns.Labels
		if ns.IPRange != "" {
			if p, err := netip.ParsePrefix(ns.IPRange); err == nil {
				n.IPRange = p
			}
		}
	}
	return nil
}

func (s *Store) observeContainers(ctx context.Context, st *model.State, scope model.Scope) error {
	s.mu.Lock()
	pre := s.prefetched
	s.prefetched = nil
	s.mu.Unlock()
	var r containerReads
	if pre != nil && maps.Equal(pre.scope, scope) && (pre.scope == nil) == (scope == nil) {
		r = *pre
	} else {
		r = s.readContainers(ctx, scope)
	}
	if r.err != nil {
		return r.err
	}
	read := r.files
	for _, f := range read {
		id := model.ContainerID(f.project, f.name)
		c := st.Containers[id]
		if c == nil {
			c = &model.Container{Project: f.project, Name: f.name, Netns: f.settings.Netns, External: f.settings.External}
			st.Containers[id] = c
		}
		cs := f.settings
		c.Hostname, c.Mode, c.ExtraHosts, c.DNS, c.Node = cs.Hostname, cs.Mode, cs.ExtraHosts, cs.DNS, cs.Node
		for _, ep := range c.Endpoints {
			ep.Aliases = cs.Aliases[ep.Network]
		}
		c.HostsFile, c.ResolvFile, c.EnvFile = f.hosts, f.resolv, f.env
	}
	return nil
}

// Prefetch implements reconciler.Prefetcher: the reconciler reads the
// container files while it reads the namespaces, and Observe then uses them.
func (s *Store) Prefetch(ctx context.Context, scope model.Scope) {
	r := s.readContainers(ctx, scope)
	s.mu.Lock()
	s.prefetched = &r
	s.mu.Unlock()
}

// readContainers reads the files of the containers in scope. Three small
// reads per container: at a thousand containers, reading them side by side
// halves the wall time.
func (s *Store) readContainers(ctx context.Context, scope model.Scope) containerReads {
	r := containerReads{scope: scope}
	paths, err := s.settingsPaths(scope)
	if err != nil {
		r.err = err
		return r
	}
	read := make([]containerFiles, len(paths))
	errs := make([]error, len(paths))
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(8, len(paths)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				read[i], errs[i] = readContainerFiles(paths[i])
			}
		}()
	}
	for i := range paths {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if r.err = ctx.Err(); r.err == nil {
		r.err = errors.Join(errs...)
	}
	r.files = read
	return r
}

// settingsPaths lists the containers' settings files: of every container,
// or of those in scope, found by name rather than by listing.
func (s *Store) settingsPaths(scope model.Scope) ([]string, error) {
	if scope == nil {
		return filepath.Glob(filepath.Join(s.root, "containers", "*", "*", "settings.json"))
	}
	var paths []string
	for id := range scope {
		project, name, ok := model.SplitID(id)
		if !ok || strings.ContainsAny(project+name, "/\x00") || project == ".." || name == ".." {
			continue
		}
		path := filepath.Join(ContainerDir(s.root, project, name), "settings.json")
		if _, err := os.Stat(path); err == nil {
			paths = append(paths, path)
		}
	}
	return paths, nil
}

// containerFiles is what one container's directory holds.
type containerFiles struct {
	project, name      string
	settings           containerSettings
	hosts, resolv, env string
}

func readContainerFiles(settingsPath string) (containerFiles, error) {
	dir := filepath.Dir(settingsPath)
	f := containerFiles{project: filepath.Base(filepath.Dir(dir)), name: filepath.Base(dir)}
	if err := readJSON(settingsPath, &f.settings); err != nil {
		return f, err
	}
	f.hosts = readOptional(filepath.Join(dir, Hosts))
	f.resolv = readOptional(filepath.Join(dir, Resolv))
	f.env = readOptional(filepath.Join(dir, Env))
	return f, nil
}

// WriteNetwork records the network's settings.
func (s *Store) WriteNetwork(_ context.Context, n *model.Network) error {
	ns := networkSettings{Driver: n.Driver, Internal: n.Internal, ICC: n.ICC, Labels: n.Labels}
	if n.IPRange.IsValid() {
		ns.IPRange = n.IPRange.String()
	}
	return writeJSON(s.networkPath(n), ns)
}

// RemoveNetwork forgets the network's settings.
func (s *Store) RemoveNetwork(_ context.Context, n *model.Network) error {
	return removeAll(s.networkPath(n))
}

// WriteContainer writes the container's settings, hosts and resolv.conf.
// The settings go last: their presence marks the container as written.
func (s *Store) WriteContainer(_ context.Context, c *model.Container) error {
	dir := ContainerDir(s.root, c.Project, c.Name)
	if err := WriteAtomic(filepath.Join(dir, Hosts), []byte(c.HostsFile)); err != nil {
		return err
	}
	if err := WriteAtomic(filepath.Join(dir, Resolv), []byte(c.ResolvFile)); err != nil {
		return err
	}
	if err := writeOptional(filepath.Join(dir, Env), c.EnvFile); err != nil {
		return err
	}
	cs := containerSettings{Hostname: c.Hostname, Mode: c.Mode, Netns: c.Netns, External: c.External, Node: c.Node,
		ExtraHosts: c.ExtraHosts, DNS: c.DNS}
	for _, ep := range c.Endpoints {
		if len(ep.Aliases) > 0 {
			if cs.Aliases == nil {
				cs.Aliases = map[string][]string{}
			}
			cs.Aliases[ep.Network] = ep.Aliases
		}
	}
	return writeJSON(filepath.Join(dir, "settings.json"), cs)
}

// RemoveContainer deletes the container's files.
func (s *Store) RemoveContainer(_ context.Context, c *model.Container) error {
	return removeAll(ContainerDir(s.root, c.Project, c.Name))
}

func removeAll(path string) error {
	if err := os.RemoveAll(path); err != nil {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return WriteAtomic(path, append(b, '\n'))
}

func readOptional(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return string(b)
}

// WriteAtomic writes data to path through a temporary file and a rename,
// so readers (and a crash) see the old or the new content, never half.
func WriteAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if old, err := os.ReadFile(path); err == nil && string(old) == string(data) {
		return nil
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// writeOptional writes a file that exists only when it has content.
func writeOptional(path, content string) error {
	if content == "" {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", path, err)
		}
		return nil
	}
	return WriteAtomic(path, []byte(content))
}
