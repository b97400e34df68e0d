package files

import (
	"context"
	"errors"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/netctl/netctl/internal/beneath"
	"github.com/netctl/netctl/model"
)

func TestContainerRoundTripAndScope(t *testing.T) {
	ctx := context.Background()
	s := New(t.TempDir())
	web := &model.Container{
		Project: "shop", Name: "web", Hostname: "web-1", Mode: model.ModeBridge,
		Netns:      "/run/netctl/netns/shop/web",
		ExtraHosts: []model.HostEntry{{IP: netip.MustParseAddr("10.250.0.9"), Names: []string{"metrics"}}},
		Endpoints:  []*model.Endpoint{{Network: "shop/back", Aliases: []string{"api"}}},
		HostsFile:  "127.0.0.1\tlocalhost\n", ResolvFile: "nameserver 10.250.0.53\n",
	}
	db := &model.Container{Project: "shop", Name: "db", Hostname: "db", Mode: model.ModeHost}
	for _, c := range []*model.Container{web, db} {
		if err := s.WriteContainer(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	// The kernel side reports web's endpoint; files fill in the rest.
	st := model.NewState()
	st.Containers[web.ID()] = &model.Container{Project: "shop", Name: "web", Endpoints: []*model.Endpoint{{Network: "shop/back"}}}
	if err := observe(ctx, s, st, nil); err != nil {
		t.Fatal(err)
	}
	got := st.Containers[web.ID()]
	if got.Hostname != "web-1" || got.HostsFile != web.HostsFile || got.ResolvFile != web.ResolvFile ||
		len(got.ExtraHosts) != 1 || got.Endpoints[0].Aliases[0] != "api" {
		t.Errorf("web observed as %+v", got)
	}
	if c := st.Containers[db.ID()]; c == nil || c.Mode != model.ModeHost {
		t.Errorf("host-mode db, which exists only as files, observed as %+v", c)
	}
	// A scope reads only its containers.
	scoped := model.NewState()
	if err := observe(ctx, s, scoped, model.Scope{db.ID(): true}); err != nil {
		t.Fatal(err)
	}
	if len(scoped.Containers) != 1 || scoped.Containers[db.ID()] == nil {
		t.Errorf("scoped observe read %d containers", len(scoped.Containers))
	}
	if err := s.RemoveContainer(ctx, web); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(ContainerDir(s.root, "shop", "web")); !os.IsNotExist(err) {
		t.Errorf("files left after RemoveContainer: %v", err)
	}
}

func TestLockExcludes(t *testing.T) {
	root := t.TempDir()
	unlock, err := Lock(context.Background(), root, "lock", LockOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := Lock(ctx, root, "lock", LockOptions{}); err == nil {
		t.Fatal("a second holder got the lock")
	}
	unlock()
	again, err := Lock(context.Background(), root, "lock", LockOptions{})
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	again()
}

// A container directory without its settings (being written, or being
// removed) is no container, whether every container is read or a scope
// names it; nor is a scope's container that has no directory at all.
func TestContainerWithoutSettingsIsSkipped(t *testing.T) {
	ctx := context.Background()
	s := New(t.TempDir())
	db := &model.Container{Project: "shop", Name: "db", Hostname: "db", Mode: model.ModeHost}
	if err := s.WriteContainer(ctx, db); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(ContainerDir(s.root, "shop", "half"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, scope := range []model.Scope{nil, {"shop/db": true, "shop/half": true, "shop/none": true}} {
		st := model.NewState()
		if err := observe(ctx, s, st, scope); err != nil {
			t.Fatal(err)
		}
		if len(st.Containers) != 1 || st.Containers[db.ID()] == nil {
			t.Errorf("scope %v: observed %v, want only shop/db", scope, slices.Collect(maps.Keys(st.Containers)))
		}
	}
}

// observe is Read and its fill in one call, as the reconciler uses them.
func observe(ctx context.Context, s *Store, st *model.State, scope model.Scope) error {
	fill, err := s.Read(ctx, scope)
	if err != nil {
		return err
	}
	fill(st)
	return nil
}

// Containers read side by side, through buffers each reader reuses for
// files of every size, come out as they were written.
func TestReadManyContainers(t *testing.T) {
	ctx := context.Background()
	s := New(t.TempDir())
	written := writeContainers(t, s, 300)
	written[7].HostsFile = strings.Repeat("10.0.0.1\tbig\n", 1000)
	written[8].EnvFile = ""
	for _, c := range written[7:9] {
		if err := s.WriteContainer(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	st := model.NewState()
	if err := observe(ctx, s, st, nil); err != nil {
		t.Fatal(err)
	}
	if len(st.Containers) != len(written) {
		t.Fatalf("read %d containers, want %d", len(st.Containers), len(written))
	}
	for _, c := range written {
		got := st.Containers[c.ID()]
		if got.Hostname != c.Hostname || got.Mode != c.Mode || got.Netns != c.Netns ||
			!slices.EqualFunc(got.ExtraHosts, c.ExtraHosts, func(a, b model.HostEntry) bool {
				return a.IP == b.IP && slices.Equal(a.Names, b.Names)
			}) || !slices.Equal(got.DNS, c.DNS) ||
			got.HostsFile != c.HostsFile || got.ResolvFile != c.ResolvFile || got.EnvFile != c.EnvFile {
			t.Errorf("%s read as %+v, written as %+v", c.ID(), got, c)
		}
	}
}

// A link or a directory where a container's file should be is refused as
// when every file was opened from the root by its path: the settings
// fail the read, the other files read as empty.
func TestContainerFilesRefused(t *testing.T) {
	ctx := context.Background()
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret")
	if err := os.WriteFile(secret, []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	setup := func(t *testing.T, change func(dir string) error) *Store {
		t.Helper()
		s := New(t.TempDir())
		c := &model.Container{Project: "shop", Name: "web", Hostname: "web", Mode: model.ModeBridge,
			HostsFile: "hosts\n", ResolvFile: "resolv\n", EnvFile: "A=b\n"}
		if err := s.WriteContainer(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := change(ContainerDir(s.root, "shop", "web")); err != nil {
			t.Fatal(err)
		}
		return s
	}
	replace := func(name string, with func(path string) error) func(string) error {
		return func(dir string) error {
			p := filepath.Join(dir, name)
			if err := os.RemoveAll(p); err != nil {
				return err
			}
			return with(p)
		}
	}
	link := func(p string) error { return os.Symlink(secret, p) }
	mkdir := func(p string) error { return os.Mkdir(p, 0o700) }
	for _, tc := range []struct {
		name    string
		change  func(dir string) error
		wantErr string
	}{
		{"settings link", replace("settings.json", link), "symbolic link under the root"},
		{"settings directory", replace("settings.json", mkdir), "not a regular file"},
		{"settings not JSON", replace("settings.json", func(p string) error { return os.WriteFile(p, []byte("{"), 0o600) }),
			"unexpected end of JSON input"},
		{"container directory link", func(dir string) error {
			if err := os.Rename(dir, filepath.Join(outside, "moved")); err != nil {
				return err
			}
			return os.Symlink(filepath.Join(outside, "moved"), dir)
		}, "symbolic link under the root"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := setup(t, tc.change)
			_, err := s.Read(ctx, nil)
			settings := filepath.Join(ContainerDir(s.root, "shop", "web"), "settings.json")
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "read "+settings+": ") {
				t.Errorf("read: %v, want an error naming %s: %s", err, settings, tc.wantErr)
			}
			if strings.Contains(tc.wantErr, "link") && !errors.Is(err, beneath.ErrLink) {
				t.Errorf("read: %v, not ErrLink", err)
			}
		})
	}
	for _, name := range []string{Hosts, Resolv, Env} {
		for what, with := range map[string]func(string) error{"link": link, "directory": mkdir} {
			t.Run(name+" "+what, func(t *testing.T) {
				s := setup(t, replace(name, with))
				st := model.NewState()
				if err := observe(ctx, s, st, nil); err != nil {
					t.Fatal(err)
				}
				c := st.Containers["shop/web"]
				got := map[string]string{Hosts: c.HostsFile, Resolv: c.ResolvFile, Env: c.EnvFile}[name]
				if got != "" {
					t.Errorf("%s read as %q", name, got)
				}
			})
		}
	}
}
