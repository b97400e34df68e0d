package files

import (
	"context"
	"net/netip"
	"os"
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
	if err := s.Observe(ctx, st, nil); err != nil {
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
	if err := s.Observe(ctx, scoped, model.Scope{db.ID(): true}); err != nil {
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
