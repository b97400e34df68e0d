package netlink

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netctl/netctl/model"
)

func TestDeleteNamespaceRemovesVeths(t *testing.T) {
	s, n, web, db := twoContainers(t)
	if err := deleteAndSettle(context.Background(), s.links, web); err != nil {
		t.Fatal(err)
	}
	// The kernel destroys the namespace asynchronously; DeleteNamespace
	// waits for it, so the veth is gone right away.
	if s.hostLink("nct-web0") != nil {
		t.Error("host veth outlived the namespace")
	}
	if _, err := os.Lstat(web.Netns); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("mount point still there: %v", err)
	}
	st := s.observe()
	if _, ok := st.Containers[web.ID()]; ok {
		t.Errorf("deleted container observed: %+v", st.Containers[web.ID()])
	}
	if !st.Containers[db.ID()].Endpoints[0].HostOK {
		t.Error("the other container suffered")
	}
	if got := st.Networks[n.ID()].Foreign; len(got) != 0 {
		t.Errorf("Foreign = %v", got)
	}
	if err := deleteAndSettle(context.Background(), s.links, web); err != nil {
		t.Errorf("deleting again: %v", err)
	}
	// The project directory goes with its last namespace.
	if err := deleteAndSettle(context.Background(), s.links, db); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(db.Netns)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("project dir left: %v", err)
	}
}

func TestDeleteNamespaceHeldElsewhere(t *testing.T) {
	s, _, web, _ := twoContainers(t)
	// Someone keeps the namespace alive (a shell entered into it): the
	// veths stay with it, so DeleteNamespace deletes them itself.
	keep := filepath.Join(s.dir, "keep")
	if err := createMountPoint(keep); err != nil {
		t.Fatal(err)
	}
	s.mustIn(s.hostPath, "mount", "--bind", web.Netns, keep)
	if err := deleteAndSettle(context.Background(), s.links, web); err != nil {
		t.Fatal(err)
	}
	if s.hostLink("nct-web0") != nil {
		t.Error("host veth left behind")
	}
}

func TestEnsureNamespaceOverLeftoverFile(t *testing.T) {
	s := newSandbox(t)
	c := s.container("p", "c")
	// A crash between creating the mount point and mounting on it.
	if err := createMountPoint(c.Netns); err != nil {
		t.Fatal(err)
	}
	got := s.observe().Containers[c.ID()]
	if got == nil || got.NetnsOK {
		t.Fatalf("plain file observed as %+v", got)
	}
	if err := s.links.EnsureNamespace(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if got := s.observe().Containers[c.ID()]; !got.NetnsOK || !got.LoUp {
		t.Errorf("after EnsureNamespace: %+v", *got)
	}
	ns, _, err := openNetns(c.Netns, false)
	if err != nil {
		t.Fatal(err)
	}
	ns.Close()
	// And a plain file is deleted like a namespace.
	if err := deleteAndSettle(context.Background(), s.links, c); err != nil {
		t.Fatal(err)
	}
	if err := createMountPoint(c.Netns); err != nil {
		t.Fatal(err)
	}
	if err := deleteAndSettle(context.Background(), s.links, c); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(c.Netns); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("plain file left: %v", err)
	}
}

func TestEnsureNamespaceRefusesOtherPaths(t *testing.T) {
	s := newSandbox(t)
	for _, c := range []*model.Container{
		{Project: "p", Name: "c", Netns: filepath.Join(s.dir, "elsewhere")},
		{Project: "p", Name: "..", Netns: s.links.ownedNetnsPath("p", "..")},
		{Project: "p", Name: "c", External: true, Netns: s.hostPath}, // the host itself
		{Project: "p", Name: "c", External: true, Netns: "/proc/self/ns/mnt"},
		{Project: "p", Name: "c", External: true, Netns: "relative/path"},
	} {
		if err := s.links.EnsureNamespace(context.Background(), c); err == nil {
			t.Errorf("EnsureNamespace(%+v) succeeded", *c)
		}
	}
	if _, err := os.Stat(filepath.Join(s.dir, "elsewhere")); err == nil {
		t.Error("created a namespace outside root")
	}
}

func TestExternalNamespace(t *testing.T) {
	s := newSandbox(t)
	ctx := context.Background()
	n := s.network("p", "net", "nct-ext", "172.25.0.0/24")
	s.ensureBridge(n)
	extPath := filepath.Join(s.dir, "ext")
	s.newNetns(extPath)
	ext := &model.Container{Project: "p", Name: "side", External: true, Netns: extPath}
	s.wire(ext, n, endpoint(n, "eth0", "nct-side0", "172.25.0.7"))
	own := s.container("p", "own")
	s.wire(own, n, endpoint(n, "eth0", "nct-own0", "172.25.0.8"))
	s.ping(own.Netns, "172.25.0.7")

	record, err := os.ReadFile(s.links.attachedPath("p", "side"))
	if err != nil || string(record) != extPath {
		t.Errorf("record = %q, %v", record, err)
	}
	c := s.observe().Containers[ext.ID()]
	if c == nil || !c.External || !c.NetnsOK || !c.LoUp || c.Netns != extPath || len(c.Endpoints) != 1 ||
		!c.Endpoints[0].HostOK || !c.Endpoints[0].PeerOK {
		t.Fatalf("external container observed as %+v", c)
	}

	if err := deleteAndSettle(ctx, s.links, ext); err != nil {
		t.Fatal(err)
	}
	if s.hostLink("nct-side0") != nil {
		t.Error("host veth left")
	}
	if _, _, err := openNetns(extPath, true); err != nil {
		t.Errorf("external namespace gone: %v", err)
	}
	if out := s.mustIn(extPath, "ip", "-o", "link"); strings.Contains(out, "eth0") || !strings.Contains(out, "lo") {
		t.Errorf("links left in external namespace:\n%s", out)
	}
	if _, err := os.Stat(s.links.attachedPath("p", "side")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("record left: %v", err)
	}
	if _, ok := s.observe().Containers[ext.ID()]; ok {
		t.Error("forgotten container still observed")
	}
}

func TestExternalNamespaceDies(t *testing.T) {
	s := newSandbox(t)
	ctx := context.Background()
	n := s.network("p", "net", "nct-ext", "172.26.0.0/24")
	s.ensureBridge(n)
	extPath := filepath.Join(s.dir, "ext")
	s.newNetns(extPath)
	ext := &model.Container{Project: "p", Name: "side", External: true, Netns: extPath}
	s.wire(ext, n, endpoint(n, "eth0", "nct-side0", "172.26.0.7"))

	// The process owning the namespace exits.
	if _, err := unmountAll(extPath); err != nil {
		t.Fatal(err)
	}
	c := s.observe().Containers[ext.ID()]
	if c == nil || c.NetnsOK || !c.External || c.Netns != extPath {
		t.Fatalf("dead external container observed as %+v", c)
	}
	if err := deleteAndSettle(ctx, s.links, c); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.observe().Containers[ext.ID()]; ok {
		t.Error("dead external container still observed after DeleteNamespace")
	}
}

func TestOrphanHostVethObserved(t *testing.T) {
	s, n, web, _ := twoContainers(t)
	// The namespace's mount disappears behind netctl's back while
	// something else holds the namespace: the veth lives on with no
	// container namespace netctl knows.
	keep := filepath.Join(s.dir, "keep")
	if err := createMountPoint(keep); err != nil {
		t.Fatal(err)
	}
	s.mustIn(s.hostPath, "mount", "--bind", web.Netns, keep)
	if _, err := unmountAll(web.Netns); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(web.Netns); err != nil {
		t.Fatal(err)
	}
	c := s.observe().Containers[web.ID()]
	if c == nil || c.NetnsOK || len(c.Endpoints) != 1 {
		t.Fatalf("orphan observed as %+v", c)
	}
	ep := c.Endpoints[0]
	if ep.HostIf != "nct-web0" || ep.Network != n.ID() || ep.PeerOK || !ep.HostOK {
		t.Errorf("orphan endpoint = %+v", *ep)
	}
	// What the reconciler does with it: delete the observed container.
	if err := deleteAndSettle(context.Background(), s.links, c); err != nil {
		t.Fatal(err)
	}
	if s.hostLink("nct-web0") != nil {
		t.Error("orphan veth left")
	}
}

// deleteAndSettle deletes a namespace and waits for the kernel to finish,
// as the reconciler does at the end of a phase.
func deleteAndSettle(ctx context.Context, l *Links, c *model.Container) error {
	if err := l.DeleteNamespace(ctx, c); err != nil {
		return err
	}
	return l.Settle(ctx)
}

// settled finishes a deletion as the reconciler does at the end of a phase:
// queued deletions happen in Settle.
func settled(ctx context.Context, l *Links, err error) error {
	if err != nil {
		return err
	}
	return l.Settle(ctx)
}

// A SIGKILL between creating a namespace and bringing lo up leaves it
// mounted, lo down and without any routing table; observing it must not
// fail (it used to wedge every command of the root with "list routes: no
// such file or directory") but report it as drift to finish.
func TestObserveHalfMadeNamespace(t *testing.T) {
	s := newSandbox(t)
	c := s.container("p", "half")
	s.newNetns(c.Netns)
	st := s.observe()
	got := st.Containers[c.ID()]
	if got == nil || !got.NetnsOK || got.LoUp {
		t.Fatalf("half-made namespace observed as %+v, want NetnsOK with lo down", got)
	}
	if err := s.links.EnsureNamespace(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if got := s.observe().Containers[c.ID()]; got == nil || !got.LoUp {
		t.Errorf("after EnsureNamespace: %+v, want lo up", got)
	}
}
