package files

import (
	"context"
	"maps"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

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
