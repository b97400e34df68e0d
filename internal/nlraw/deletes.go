package nlraw

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

// Deleting a link costs the kernel an RCU synchronisation (20-30 ms) under
// the rtnl lock: deleting bridges and veths one by one serialises those
// waits. The kernel deletes every link of a group in one request, with one
// batched unregistration, so a DeleteQueue moves each link into a group of
// its own and Flush deletes them together.

// DeleteQueue batches link deletions in one namespace. Safe for concurrent
// use.
type DeleteQueue struct {
	conn  *Conn
	group uint32

	mu     sync.Mutex
	queued []queuedDelete
}

type queuedDelete struct {
	index int
	name  string
}

// NewDeleteQueue returns a queue deleting through conn, with a link group
// of its own: "nd" and 16 random bits, so that it names only this queue.
func NewDeleteQueue(conn *Conn) *DeleteQueue {
	var b [2]byte
	_, _ = rand.Read(b[:])
	return &DeleteQueue{conn: conn, group: 0x6e640000 | uint32(binary.NativeEndian.Uint16(b[:]))}
}

// Group is the queue's link group.
func (q *DeleteQueue) Group() uint32 { return q.group }

// Add moves the link into the queue's group; a link already gone is not
// an error.
func (q *DeleteQueue) Add(index int, name string) error {
	if err := q.conn.SetGroup(index, q.group); err != nil {
		if errors.Is(err, unix.ENODEV) {
			return nil
		}
		return err
	}
	q.mu.Lock()
	q.queued = append(q.queued, queuedDelete{index: index, name: name})
	q.mu.Unlock()
	return nil
}

// Flush deletes the queued links and reports how many links it deleted:
// the whole group in one request when every link in it is one the queue
// added, else (a foreign link happens to carry the same group) one by one,
// so that nothing else is ever deleted.
func (q *DeleteQueue) Flush() (int, error) {
	q.mu.Lock()
	queued := q.queued
	q.queued = nil
	q.mu.Unlock()
	if len(queued) == 0 {
		return 0, nil
	}
	want := make(map[int]bool, len(queued))
	for _, d := range queued {
		want[d.index] = true
	}
	links, err := q.conn.Links()
	if err != nil {
		return 0, fmt.Errorf("list links: %w", err)
	}
	inGroup := make(map[int]bool)
	clean := true
	for _, l := range links {
		if l.Group == q.group {
			inGroup[l.Index] = true
			clean = clean && want[l.Index]
		}
	}
	if len(inGroup) == 0 {
		return 0, nil
	}
	if clean {
		if err := q.conn.DeleteGroup(q.group); err != nil {
			return 0, fmt.Errorf("delete %d links: %w", len(inGroup), err)
		}
		return len(inGroup), nil
	}
	n := 0
	for _, d := range queued {
		if !inGroup[d.index] {
			continue // gone, or no longer the link we queued
		}
		if err := q.conn.DeleteLink(d.index); err != nil && !errors.Is(err, unix.ENODEV) {
			return n, fmt.Errorf("delete %s: %w", d.name, err)
		}
		n++
	}
	return n, nil
}
