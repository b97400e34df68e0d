// Package netlink is netctl's link-layer actuator: it reads and writes
// bridges, network namespaces, veth endpoints and routes through netlink.
//
// Every host-side request goes through sockets opened in the host namespace
// given to New (a vishvananda/netlink handle for changes, a lean dump socket
// for Observe), and every container-side request through a socket opened
// in that container's namespace. Nothing depends on the namespace the
// calling thread happens to be in, so a test can hand in a sandbox namespace
// as "host" and the machine's own namespace is never touched.
package netlink

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/netctl/netctl/internal/nlraw"
	"github.com/netctl/netctl/model"
	"github.com/rs/zerolog"
	vnl "github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Links implements reconciler.Links. Its methods are safe for concurrent
// use; calls for different containers may run in parallel.
type Links struct {
	root string
	// inst is the instance the root is: only its marks are netctl's here
	// (derived from the root's path; SetInstance sets the recorded one).
	inst model.Instance
	host *vnl.Handle
	// hostID identifies the host namespace, so that an external namespace
	// path that resolves to the host itself is never wired as a container.
	hostID nsID
	log    zerolog.Logger

	// hostDump reads the host for Observe; its socket was opened in the
	// host namespace like host's.
	hostDump *nlraw.Conn

	// nsCache holds the container namespaces of the current phase (see
	// nsEntry), bridges the ifindexes of the bridges endpoints were
	// attached to in it, so that each is looked up once per phase.
	nsMu    sync.Mutex
	nsCache map[string]*nsEntry
	nsClock uint64
	bridges map[string]int

	// hostReq sends the requests vishvananda's handle cannot express on a
	// socket of its own in the host namespace, so that they need not wait
	// for a dump on hostDump.
	hostReq *nlraw.Conn

	// deletes holds the links DeleteBridge and DeleteEndpoint delete;
	// Settle deletes them in one request.
	deletes *nlraw.DeleteQueue

	// pending are host veth ends of namespaces DeleteNamespace unmounted,
	// which the kernel destroys asynchronously; Settle waits for them.
	pendingMu sync.Mutex
	pending   []pendingEnd

	// journal: a full Observe asks root's journal what changed since the
	// saved readings and reads only that (journal.go). One-shot commands
	// turn it on; watch reads the world at its resyncs.
	journal bool

	// dirMu orders the creation of files under <root>/netns/<project> and
	// <root>/attached/<project> against the removal of those directories
	// when they become empty.
	dirMu sync.Mutex
}

// New returns a Links that keeps its namespace mounts and attachment records
// under root and treats host as the host's network namespace. host is only
// used during New; the caller keeps ownership of it.
func New(root string, host netns.NsHandle, log zerolog.Logger) (*Links, error) {
	if !filepath.IsAbs(root) {
		return nil, fmt.Errorf("netlink actuator: root %q is not an absolute path", root)
	}
	if !host.IsOpen() {
		return nil, errors.New("netlink actuator: host namespace handle is not open")
	}
	// Every file below is opened beneath the root (internal/beneath),
	// which must exist; checking who owns it is the caller's job
	// (files.PrepareRoot).
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("netlink actuator: %w", err)
	}
	id, err := fdNsID(int(host))
	if err != nil {
		return nil, fmt.Errorf("netlink actuator: host namespace: %w", err)
	}
	h, err := newHandle(host)
	if err != nil {
		return nil, fmt.Errorf("netlink actuator: host namespace: %w", err)
	}
	dump, err := nlraw.OpenAt(host)
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("netlink actuator: host namespace: %w", err)
	}
	req, err := nlraw.OpenAt(host)
	if err != nil {
		h.Close()
		dump.Close()
		return nil, fmt.Errorf("netlink actuator: host namespace: %w", err)
	}
	return &Links{
		root:     filepath.Clean(root),
		inst:     model.InstanceOf(root),
		host:     h,
		hostID:   id,
		hostDump: dump,
		hostReq:  req,
		deletes:  nlraw.NewDeleteQueue(req),
		log:      log,
	}, nil
}

// Close releases the host netlink sockets.
func (l *Links) Close() error {
	l.dropNsHandles()
	l.host.Close()
	return errors.Join(l.hostReq.Close(), l.hostDump.Close())
}

// newHandle opens a route-netlink handle in ns. Only NETLINK_ROUTE is asked
// for: the default set would also open xfrm and netfilter sockets, which
// nothing here uses, at two more namespace switches each.
func newHandle(ns netns.NsHandle) (*vnl.Handle, error) {
	h, err := vnl.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("open netlink socket: %w", err)
	}
	return h, nil
}

func (l *Links) netnsDir() string    { return model.NetnsDir(l.root) }
func (l *Links) attachedDir() string { return filepath.Join(l.root, "attached") }

// ownedNetnsPath is where an owned container's namespace is mounted.
func (l *Links) ownedNetnsPath(project, name string) string {
	return model.NetnsPath(l.root, project, name)
}

// attachedPath is where an external container's attachment is recorded.
func (l *Links) attachedPath(project, name string) string {
	return filepath.Join(l.attachedDir(), project, name)
}

// queueDelete queues an owned link for deletion in Settle's one batched
// request (deleting links one by one serialises an RCU wait per link).
func (l *Links) queueDelete(link vnl.Link) error {
	return l.deletes.Add(link.Attrs().Index, link.Attrs().Name)
}

// flushDeletes deletes the queued links.
func (l *Links) flushDeletes() error {
	n, err := l.deletes.Flush()
	if n > 0 {
		l.log.Debug().Int("links", n).Msg("deleted queued links in one batch")
	}
	return err
}
