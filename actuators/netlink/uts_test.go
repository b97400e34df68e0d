package netlink

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/model"
)

// A container's UTS namespace: made with its network namespace, its
// hostname read back and repaired, a crash leftover (a plain file) taken
// over, removed with the container.
func TestUTSNamespace(t *testing.T) {
	s := newSandbox(t)
	ctx := context.Background()
	c := s.container("p", "db")
	c.Hostname = "database"
	if err := s.links.EnsureNamespace(ctx, c); err != nil {
		t.Fatal(err)
	}
	path := s.links.utsPath(c)
	if got := s.observe().Containers[c.ID()].UTSHostname; got != "database" {
		t.Errorf("UTSHostname = %q, want database", got)
	}
	if self, _ := os.Hostname(); self == "database" {
		t.Fatal("the test's own hostname changed")
	}

	// Changed by hand: observed, and EnsureNamespace sets it back.
	if err := onUTSThread(func(orig int) error { return setHostnameAt(path, "changed", orig) }); err != nil {
		t.Fatal(err)
	}
	if got := s.observe().Containers[c.ID()].UTSHostname; got != "changed" {
		t.Errorf("UTSHostname after a change = %q", got)
	}
	if err := s.links.EnsureNamespace(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got := s.observe().Containers[c.ID()].UTSHostname; got != "database" {
		t.Errorf("UTSHostname after repair = %q", got)
	}

	// Unmounted (a crash before the mount leaves the same plain file).
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil {
		t.Fatal(err)
	}
	if got := s.observe().Containers[c.ID()].UTSHostname; got != "" {
		t.Errorf("UTSHostname of a plain file = %q", got)
	}
	if err := s.links.EnsureNamespace(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got := s.observe().Containers[c.ID()].UTSHostname; got != "database" {
		t.Errorf("UTSHostname after remount = %q", got)
	}

	if err := deleteAndSettle(ctx, s.links, c); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("UTS namespace left: %v", err)
	}

	// A host mode container has no UTS namespace of netctl's, a
	// netns_path one its runtime's: neither has a hostname to read.
	names, err := s.links.readUTS(ctx, []target{{project: "p", name: "tool"}, {project: "p", name: "ext", external: true}})
	if err != nil || len(names) != 2 || names[0] != "" || names[1] != "" {
		t.Errorf("no UTS namespace of netctl's: %q, %v", names, err)
	}
}

// Observing the hostnames costs a few system calls per container: at 1000
// containers it must stay in the milliseconds. (Making them is logged too:
// go test -run TestUTSObserveCost -v ./actuators/netlink.)
func TestUTSObserveCost(t *testing.T) {
	s := newSandbox(t)
	const n = 1000
	var targets []target
	hostnames := map[string]string{}
	made := time.Now()
	for i := range n {
		c := &model.Container{Project: "p", Name: fmt.Sprintf("c%d", i), Mode: model.ModeBridge, Hostname: fmt.Sprintf("h%d", i)}
		path := s.links.utsPath(c)
		if err := createMountPoint(path); err != nil {
			t.Fatal(err)
		}
		if err := onUTSThread(func(orig int) error { return newUTSAt(path, c.Hostname, orig) }); err != nil {
			t.Fatal(err)
		}
		targets = append(targets, target{project: c.Project, name: c.Name})
		hostnames[c.Name] = c.Hostname
	}
	t.Logf("made %d UTS namespaces in %s (%s each)", n, time.Since(made), time.Since(made)/n)
	start := time.Now()
	names, err := s.links.readUTS(context.Background(), targets)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	for i, tg := range targets {
		if names[i] != hostnames[tg.name] {
			t.Fatalf("%s: hostname %q, want %q", tg.name, names[i], hostnames[tg.name])
		}
	}
	t.Logf("observed %d UTS hostnames in %s (%s each)", n, took, took/n)
	if took > 2*time.Second {
		t.Errorf("observing %d UTS hostnames took %s", n, took)
	}
}
