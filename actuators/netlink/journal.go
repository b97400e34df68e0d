package netlink

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"os"
	"sync"

	"github.com/rs/zerolog"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/internal/journal"
	"github.com/netctl/netctl/internal/nlraw"
	"github.com/netctl/netctl/model"
)

// The journal. A one-shot command keeps nothing between runs but the
// kernel, so to repair drift anywhere it read every container's namespace
// (three dumps each, most of a no-op's cost at thousands of containers).
// A process that outlives the commands (the DNS server's worker) keeps a
// Journal instead: it hears the kernel's announcements as watch does and
// counts, for each container, the last one that concerned it. An Observe
// keeps what it read in each namespace under --root (readings.go) with the
// journal's count at the moment it asked, and the next full one reads
// again only the containers the journal heard of since.
//
// Why a namespace not read again is as it was:
//   - The kernel queues an announcement on the journal's socket before the
//     request that made the change returns, and the journal drains its
//     socket before it answers: anything changed before the question is
//     counted in the answer.
//   - A namespace the host has no id for announces nothing to the host. A
//     reading is reused only when the container's host end, as the host's
//     links are now, names a namespace id the journal hears as that
//     container's, and the journal counts the learning of an id as a
//     change of its container (what the namespace announced before then
//     went unheard).
//   - The kernel passes another namespace's announcements on only to a
//     socket opened with CAP_NET_BROADCAST: without it no journal opens.
//   - Lost announcements (the socket overflowed) make every reading older
//     than the loss useless, as does a journal started anew (another epoch).
//   - What the kernel never announces is not taken from a reading: a
//     dual-stack endpoint's accept_ra (a sysctl) is asked afresh, and the
//     namespace's identity is checked with a stat of its mount.
//   - The host's own dumps (links, addresses, routes) are reused only
//     while the host's namespace announced no change of any of them,
//     whoever's: the subscription's filter, which keeps netctl's, does not
//     apply to that count.
//   - Only one-shot commands use the readings; watch reads the world at
//     its resyncs, as before.
//   - What the journal may get wrong costs a read, never a reading: an
//     announcement it cannot place, or one about a namespace it maps to
//     the wrong container, only makes it count a change.

// UseJournal makes a full Observe reuse the saved readings of the
// namespaces the journal heard nothing about (see above).
func (l *Links) UseJournal(on bool) { l.journal = on }

// CanReadAhead reports whether a scoped Observe taken now is as good as
// one taken later in the apply (the reconciler's verification, read while
// its last phases run): not while the journal is wanted but not running
// yet (a first apply starts it with the DNS server's worker), since a
// reading taken without it is not kept for the next command.
func (l *Links) CanReadAhead() bool {
	if !l.journal {
		return true
	}
	_, err := os.Stat(journalSocket(l.root))
	return err == nil
}

// Journal counts the kernel's announcements about each container. Its
// methods are safe for concurrent use.
type Journal struct {
	sub   *subscription
	fd    int
	dump  *nlraw.Conn // the subscription's host dumps
	epoch uint64

	mu sync.Mutex
	// ledger counts the announcements, and the last of each container; a
	// loss is an overflow or a datagram that did not parse.
	ledger  journal.Ledger
	hostSeq uint64 // seq of the host namespace's last change of anything
	reseed  bool   // the socket overflowed: relearn the links once drained
	pruneAt int    // touched's size that makes forgetGone run
	broken  error  // the socket failed: every answer is "anything"
	buf     []byte
	oob     []byte
}

// JournalAnswer is what the journal heard since a count of its own.
type JournalAnswer struct {
	Epoch uint64
	Seq   uint64
	// All: the count asked about is not this journal's, or announcements
	// were lost since: anything may have changed.
	All bool
	// Touched are the containers announced since (when not All).
	Touched []string
	// HostSeq is the count of the host namespace's last change of any
	// link, address or route, netctl's or not; Lost, of the last loss.
	// Dumps of the host read at a count at or after both are still true.
	HostSeq, Lost uint64
	// NSIDs are the namespace ids the journal hears, with the container
	// each belongs to.
	NSIDs map[int32]string
}

// OpenJournal subscribes a journal to the announcements of the host
// namespace host (the calling process's own: a confined process cannot
// enter another) and of every namespace the host has an id for. It needs
// CAP_NET_BROADCAST and no other capability.
func OpenJournal(root string, host netns.NsHandle, inst model.Instance, log zerolog.Logger) (*Journal, error) {
	// The few parts of a Links a subscription uses: no handle of
	// vishvananda's, whose sockets always enter the namespace.
	dump, err := nlraw.OpenAt(host)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	l := &Links{root: root, inst: inst, log: log, hostDump: dump}
	fd, err := eventSocketIn(host)
	if err != nil {
		dump.Close()
		if errors.Is(err, unix.EPERM) {
			return nil, fmt.Errorf("journal: %w (the kernel passes the containers' announcements on only with CAP_NET_BROADCAST)", err)
		}
		return nil, fmt.Errorf("journal: %w", err)
	}
	var e [8]byte
	if _, err := rand.Read(e[:]); err != nil {
		unix.Close(fd)
		dump.Close()
		return nil, fmt.Errorf("journal: epoch: %w", err)
	}
	j := &Journal{
		sub: &subscription{links: l, owned: map[int32]owned{}, nsids: map[int32]string{},
			learnt: []string{}},
		fd:    fd,
		dump:  dump,
		epoch: binary.NativeEndian.Uint64(e[:]) | 1, // never 0, which no reading holds
		buf:   make([]byte, 64<<10),
		oob:   make([]byte, unix.CmsgSpace(4)),
	}
	if err := j.sub.seed(); err != nil {
		unix.Close(fd)
		dump.Close()
		return nil, fmt.Errorf("journal: %w", err)
	}
	j.sub.learnt = j.sub.learnt[:0] // what the seed learnt precedes any reading
	return j, nil
}

// Run drains the socket as announcements arrive, so that it does not
// overflow between questions, until stop is closed; it then closes the
// journal's socket.
func (j *Journal) Run(stop <-chan struct{}) {
	f := os.NewFile(uintptr(j.fd), "netlink-journal")
	var drainErr error
	err := journal.Drain(f, stop, func() bool {
		j.mu.Lock()
		defer j.mu.Unlock()
		drainErr = j.drainLocked(false)
		return drainErr != nil // false: wait for more
	})
	if err := errors.Join(drainErr, err); err != nil {
		j.sub.links.log.Warn().Err(err).Msg("journal: no more announcements")
	}
	// Every answer from now on is "anything", and none reads the socket:
	// its number may be reused once it is closed.
	j.mu.Lock()
	if j.broken == nil {
		j.broken = errors.New("journal closed")
	}
	j.fd = -1
	j.mu.Unlock()
	f.Close()
	j.dump.Close()
}

// drainLocked reads every announcement queued on the socket; for a
// question, it also relearns the links after an overflow.
func (j *Journal) drainLocked(question bool) error {
	if j.broken != nil {
		return j.broken
	}
	for {
		n, oobn, _, _, err := unix.Recvmsg(j.fd, j.buf, j.oob, unix.MSG_DONTWAIT)
		switch {
		case errors.Is(err, unix.EAGAIN):
			if j.reseed && question {
				// When asked, not in the background: a dump of the host's
				// links (its kernel cost grows with the square of the
				// veths) while thousands of namespaces are made or torn
				// down would feed the burst that overflowed the socket.
				// Until then, what is heard counts for nothing anyway.
				if err := j.sub.seed(); err != nil {
					j.broken = fmt.Errorf("journal: relearn links after an overflow: %w", err)
					return j.broken
				}
				j.reseed = false
				j.ledger.Next()
				j.ledger.Lose() // what was heard with stale links counts for nothing
				j.sub.learnt = j.sub.learnt[:0]
				continue
			}
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ENOBUFS):
			j.ledger.Next()
			j.ledger.Lose()
			j.reseed = true
			continue
		case err != nil:
			j.broken = fmt.Errorf("journal: receive: %w", err)
			return j.broken
		}
		nsid := nsidOf(j.oob[:oobn])
		scope, hit := j.sub.relevant(j.buf[:n], nsid)
		host := nsid < 0 && hostChange(j.buf[:n])
		if !hit && !host && len(j.sub.learnt) == 0 {
			continue
		}
		j.ledger.Next()
		if hit && scope == nil {
			j.ledger.Lose()
		}
		if host {
			j.hostSeq = j.ledger.Seq()
		}
		for id := range scope {
			j.ledger.Touch(id)
		}
		for _, id := range j.sub.learnt {
			j.ledger.Touch(id)
		}
		j.sub.learnt = j.sub.learnt[:0]
		if j.ledger.Len() > max(journal.MaxRemembered, j.pruneAt) {
			j.forgetGone()
			j.pruneAt = 2 * j.ledger.Len() // all alive: not again at once
		}
	}
}

// forgetGone drops the counts of containers no namespace id names any
// more, and answers "anything" to questions older than what it dropped.
func (j *Journal) forgetGone() {
	live := make(map[string]bool, len(j.sub.nsids))
	for _, id := range j.sub.nsids {
		live[id] = true
	}
	j.ledger.Forget(func(id string) bool { return !live[id] })
}

// Since answers what the journal heard after its count since, in its
// epoch, once every announcement queued until now is counted.
func (j *Journal) Since(epoch, since uint64) JournalAnswer {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.drainLocked(true) // a failure is kept in j.broken
	return j.answerLocked(epoch, since)
}

func (j *Journal) answerLocked(epoch, since uint64) JournalAnswer {
	a := JournalAnswer{Epoch: j.epoch, Seq: j.ledger.Seq(), HostSeq: j.hostSeq, Lost: j.ledger.Lost(),
		NSIDs: maps.Clone(j.sub.nsids)}
	touched, known := j.ledger.Since(since)
	a.All = j.broken != nil || epoch != j.epoch || !known
	if !a.All {
		a.Touched = touched
	}
	return a
}

// hostChange reports whether a datagram of the host namespace announces a
// link, address or route changed, whoever's: a full observation reads the
// host's links, addresses and routes whole (the subscription's filter
// keeps only netctl's). A datagram that does not parse counts as one.
func hostChange(b []byte) bool {
	change := false
	err := nlraw.Messages(b, func(h nlraw.Header, _ []byte) error {
		switch h.Type {
		case unix.RTM_NEWLINK, unix.RTM_DELLINK, unix.RTM_NEWADDR, unix.RTM_DELADDR,
			unix.RTM_NEWROUTE, unix.RTM_DELROUTE:
			change = true
		}
		return nil
	})
	return change || err != nil
}
