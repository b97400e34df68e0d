package netlink

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"

	vnl "github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// Deleting a link costs the kernel an RCU synchronisation (20-30 ms), under
// the rtnl lock: deleting bridges and veths one by one serialises those
// waits. The kernel deletes every link of a group in one request, with one
// batched unregistration, so deletions are queued by moving the link into
// a group of our own and carried out together by Settle.

// queuedDelete is a link waiting in the delete group.
type queuedDelete struct {
	index int
	name  string
}

// newDeleteGroup picks this process's delete group: "nd" and 16 random bits.
func newDeleteGroup() uint32 {
	var b [2]byte
	_, _ = rand.Read(b[:])
	return 0x6e640000 | uint32(binary.NativeEndian.Uint16(b[:]))
}

// queueDelete moves an owned link into the delete group.
func (l *Links) queueDelete(link vnl.Link) error {
	if err := l.host.LinkSetGroup(link, int(l.deleteGroup)); err != nil {
		if linkGone(err) {
			return nil
		}
		return err
	}
	l.pendingMu.Lock()
	l.deletes = append(l.deletes, queuedDelete{index: link.Attrs().Index, name: link.Attrs().Name})
	l.pendingMu.Unlock()
	return nil
}

// flushDeletes deletes the queued links: the whole group in one request
// when every link in it is one we queued, else (a foreign link happens to
// carry the same group) one by one, so that nothing else is ever deleted.
func (l *Links) flushDeletes() error {
	l.pendingMu.Lock()
	queued := l.deletes
	l.deletes = nil
	l.pendingMu.Unlock()
	if len(queued) == 0 {
		return nil
	}
	want := make(map[int]bool, len(queued))
	for _, q := range queued {
		want[q.index] = true
	}
	links, err := l.hostLinks()
	if err != nil {
		return err
	}
	inGroup, clean := 0, true
	for _, lk := range links {
		if lk.group == l.deleteGroup {
			inGroup++
			clean = clean && want[lk.index]
		}
	}
	if inGroup == 0 {
		return nil
	}
	if clean {
		req := nl.NewNetlinkRequest(unix.RTM_DELLINK, 0)
		req.AddData(nl.NewIfInfomsg(unix.AF_UNSPEC))
		req.AddData(nl.NewRtAttr(unix.IFLA_GROUP, nl.Uint32Attr(l.deleteGroup)))
		if err := l.hostReq.do(req); err != nil {
			return fmt.Errorf("delete %d links: %w", inGroup, err)
		}
		l.log.Debug().Int("links", inGroup).Msg("deleted queued links in one batch")
		return nil
	}
	for _, q := range queued {
		link, err := l.host.LinkByIndex(q.index)
		if err != nil || link.Attrs().Group != l.deleteGroup {
			continue // gone, or no longer the link we queued
		}
		if err := l.host.LinkDel(link); err != nil && !linkGone(err) {
			return fmt.Errorf("delete %s: %w", q.name, err)
		}
	}
	return nil
}
