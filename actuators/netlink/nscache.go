package netlink

import (
	"fmt"
	"sync"

	vnl "github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/netctl/netctl/internal/nlraw"
)

// nsCacheMax bounds the namespaces kept open between calls: two file
// descriptors each, and a reconcile of 10,000 containers must not run out
// of them. A container's calls come one after the other, and a few
// containers are wired at once, so a few dozen entries serve every call
// but a container's first.
const nsCacheMax = 64

// nsEntry is an open container namespace with a netlink socket inside it,
// shared by the calls of one reconcile phase: a container's namespace,
// endpoints and route are set up through one socket instead of one per
// call (each costs an open and two namespace switches).
type nsEntry struct {
	ns   netns.NsHandle
	conn *nlraw.Conn

	// refs counts the calls using the entry, used orders the last uses;
	// both are guarded by Links.nsMu. Only an unused entry is evicted.
	refs int
	used uint64
	mu   sync.Mutex
	// noRoutes is set, for each family (0: IPv4, 1: IPv6), when this
	// process created the namespace, until it sets a default route of
	// that family there: the namespace then has no such route to replace
	// or remove, and the default route needs no read first.
	noRoutes [2]bool
	h        *vnl.Handle // for the repairing paths, opened on first use
}

// takeNoRoutes reports whether the namespace has no default route of the
// family yet (v6: IPv6), and forgets it: the caller is about to add one.
func (e *nsEntry) takeNoRoutes(v6 bool) bool {
	i := 0
	if v6 {
		i = 1
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	v := e.noRoutes[i]
	e.noRoutes[i] = false
	return v
}

// handle returns a vishvananda handle in the namespace, for the repairing
// paths, which read and change links field by field.
func (e *nsEntry) handle() (*vnl.Handle, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.h == nil {
		h, err := newHandle(e.ns)
		if err != nil {
			return nil, err
		}
		e.h = h
	}
	return e.h, nil
}

func (e *nsEntry) close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.h != nil {
		e.h.Close()
	}
	e.conn.Close()
	e.ns.Close()
}

// nsEntry returns the namespace at path with a socket in it, kept open
// for the calls that follow. The caller calls release when done with it,
// and must not close it; eviction, Settle, DeleteNamespace and Close do.
func (l *Links) nsEntry(path string, follow bool) (e *nsEntry, release func(), err error) {
	l.nsMu.Lock()
	e = l.nsCache[path]
	if e != nil {
		l.useLocked(e)
	}
	l.nsMu.Unlock()
	if e == nil {
		ns, _, err := openNetns(path, follow)
		if err != nil {
			return nil, nil, err
		}
		conn, err := nlraw.OpenAt(ns)
		if err != nil {
			ns.Close()
			return nil, nil, fmt.Errorf("namespace %s: %w", path, err)
		}
		e = l.keepNsEntry(path, &nsEntry{ns: ns, conn: conn}, true)
	}
	return e, func() { l.releaseNsEntry(e) }, nil
}

// keepNsEntry caches e for path, in use when use is set, unless another
// goroutine was first: then e is closed and the cached one returned.
func (l *Links) keepNsEntry(path string, e *nsEntry, use bool) *nsEntry {
	l.nsMu.Lock()
	defer l.nsMu.Unlock()
	if old := l.nsCache[path]; old != nil {
		e.close()
		e = old
	}
	l.nsClock++
	e.used = l.nsClock
	if use {
		e.refs++
	}
	if l.nsCache[path] == nil {
		if l.nsCache == nil {
			l.nsCache = map[string]*nsEntry{}
		}
		l.nsCache[path] = e
		l.evictLocked(path)
	}
	return e
}

func (l *Links) useLocked(e *nsEntry) {
	l.nsClock++
	e.used = l.nsClock
	e.refs++
}

func (l *Links) releaseNsEntry(e *nsEntry) {
	l.nsMu.Lock()
	e.refs--
	l.nsMu.Unlock()
}

// evictLocked closes the least recently used unused entries beyond
// nsCacheMax, other than keep's.
func (l *Links) evictLocked(keep string) {
	for len(l.nsCache) > nsCacheMax {
		var oldest string
		for path, e := range l.nsCache {
			if e.refs == 0 && path != keep && (oldest == "" || e.used < l.nsCache[oldest].used) {
				oldest = path
			}
		}
		if oldest == "" {
			return // all in use
		}
		l.nsCache[oldest].close()
		delete(l.nsCache, oldest)
	}
}

// nsHandle returns a vishvananda handle and the namespace at path (see
// nsEntry).
func (l *Links) nsHandle(path string, follow bool) (*vnl.Handle, netns.NsHandle, func(), error) {
	e, release, err := l.nsEntry(path, follow)
	if err != nil {
		return nil, netns.None(), nil, err
	}
	h, err := e.handle()
	if err != nil {
		release()
		return nil, netns.None(), nil, fmt.Errorf("namespace %s: %w", path, err)
	}
	return h, e.ns, release, nil
}

// dropNsHandle closes the cached entry of path: an open namespace file
// would keep a deleted namespace, and its veths, alive.
func (l *Links) dropNsHandle(path string) {
	l.nsMu.Lock()
	e := l.nsCache[path]
	delete(l.nsCache, path)
	l.nsMu.Unlock()
	if e != nil {
		e.close()
	}
}

// dropNsHandles closes every cached entry, and forgets the bridges'
// ifindexes: the next phase looks them up again.
func (l *Links) dropNsHandles() {
	l.nsMu.Lock()
	cache := l.nsCache
	l.nsCache = nil
	l.bridges = nil
	l.nsMu.Unlock()
	for _, e := range cache {
		e.close()
	}
}
