package netlink

import (
	"fmt"

	vnl "github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// nsEntry is an open container namespace and a netlink handle inside it.
type nsEntry struct {
	ns netns.NsHandle
	h  *vnl.Handle
}

// nsHandle returns a netlink handle in the namespace at path, shared by
// the calls of one reconcile phase: a container's namespace, endpoints and
// route are set up through one socket instead of one per call (each
// costs an open and two namespace switches). The caller must not close it;
// Settle, DeleteNamespace and Close do.
func (l *Links) nsHandle(path string, follow bool) (*vnl.Handle, netns.NsHandle, error) {
	l.nsMu.Lock()
	e := l.nsCache[path]
	l.nsMu.Unlock()
	if e != nil {
		return e.h, e.ns, nil
	}
	ns, _, err := openNetns(path, follow)
	if err != nil {
		return nil, netns.None(), err
	}
	h, err := newHandle(ns)
	if err != nil {
		ns.Close()
		return nil, netns.None(), fmt.Errorf("namespace %s: %w", path, err)
	}
	l.nsMu.Lock()
	defer l.nsMu.Unlock()
	if old := l.nsCache[path]; old != nil {
		h.Close()
		ns.Close()
		return old.h, old.ns, nil
	}
	if l.nsCache == nil {
		l.nsCache = map[string]*nsEntry{}
	}
	l.nsCache[path] = &nsEntry{ns: ns, h: h}
	return h, ns, nil
}

// dropNsHandle closes the cached handle of path: an open namespace file
// would keep a deleted namespace, and its veths, alive.
func (l *Links) dropNsHandle(path string) {
	l.nsMu.Lock()
	e := l.nsCache[path]
	delete(l.nsCache, path)
	l.nsMu.Unlock()
	if e != nil {
		e.h.Close()
		e.ns.Close()
	}
}

// dropNsHandles closes every cached handle.
func (l *Links) dropNsHandles() {
	l.nsMu.Lock()
	cache := l.nsCache
	l.nsCache = nil
	l.nsMu.Unlock()
	for _, e := range cache {
		e.h.Close()
		e.ns.Close()
	}
}
