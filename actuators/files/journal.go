package files

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/internal/journal"
	"github.com/netctl/netctl/model"
)

// The files journal. The kernel announces no change of a container's
// files to a process that is not watching, so a one-shot command read
// every container's four files (a fifth of a no-op's CPU at hundreds of
// containers). The DNS server's worker, which outlives the commands,
// keeps a Journal: an inotify watch on <root>/containers, on each project
// directory and on each container's directory, and a count, per
// container, of the last event that concerned it. A full Read keeps what
// it read under --root (readings.go) with the journal's count at the
// moment it asked, and the next one reads again only the containers the
// journal heard of since.
//
// Why a container's files not read again are as they were:
//   - The kernel queues an inotify event before the system call that made
//     the change returns (a write, a rename, a chmod, an unlink), and the
//     journal drains its queue before it answers: a change made before
//     the question is counted in the answer.
//   - A directory the journal starts watching (a container made, a
//     project made, or every one after a queue overflow) counts as a
//     change of its containers: what happened there before went unheard.
//   - An overflowed queue, a watch that could not be placed, or a journal
//     started anew (another epoch) make every reading older than that
//     useless.
//   - What inotify does not report is not covered: a write through a
//     memory map, a mount placed over a file, a write through another
//     name of the same file (a hard link in another directory). None is a
//     way netctl or a container edits these files; `NETCTL_JOURNAL=off`
//     reads everything.
//   - Only one-shot commands use the readings; watch reads the files at
//     every reconcile, as before.

// Journal counts the inotify events of each container's directory. Its
// methods are safe for concurrent use.
type Journal struct {
	root  string
	epoch uint64

	mu      sync.Mutex
	file    *os.File       // the inotify descriptor, closed by Run when it ends
	fd      int            // file's number (os.File.Fd would make it blocking); -1 once closed
	ledger  journal.Ledger // each container's last event; a loss: a watch placed anew, an overflow
	watches map[int32]watched
	walked  bool  // every directory is watched (false: walk at the next question)
	pruneAt int   // the ledger's size that makes it forget the gone
	broken  error // the descriptor failed: every answer is "anything"
	buf     []byte
}

// watched is what a watch descriptor watches: <root>/containers (project
// ""), a project's directory (name ""), or a container's.
type watched struct{ project, name string }

const (
	// Any change of a directory's entries or of the files in it.
	containerEvents = unix.IN_MODIFY | unix.IN_ATTRIB | unix.IN_CLOSE_WRITE | unix.IN_CREATE | unix.IN_DELETE |
		unix.IN_MOVED_FROM | unix.IN_MOVED_TO | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF
	dirEvents = unix.IN_CREATE | unix.IN_DELETE | unix.IN_MOVED_FROM | unix.IN_MOVED_TO |
		unix.IN_DELETE_SELF | unix.IN_MOVE_SELF
)

// OpenJournal starts watching root's container files. It needs read
// access to <root>/containers and nothing else; a root without
// containers yet is watched from the first question after they appear.
func OpenJournal(root string) (*Journal, error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("files journal: %w", err)
	}
	var e [8]byte
	if _, err := rand.Read(e[:]); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("files journal: epoch: %w", err)
	}
	j := &Journal{root: root, file: os.NewFile(uintptr(fd), "inotify-journal"), fd: fd, epoch: binary.NativeEndian.Uint64(e[:]) | 1,
		watches: map[int32]watched{}, buf: make([]byte, 64<<10)}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.walkLocked()
	return j, nil
}

func (j *Journal) containersDir() string { return filepath.Join(j.root, "containers") }

// walkLocked watches every directory anew. Whatever happened before
// counts for nothing (lost); without <root>/containers it leaves walked
// false, to try again at the next question.
func (j *Journal) walkLocked() {
	j.ledger.Next()
	j.ledger.Lose()
	j.walked = false
	if err := j.watchLocked(j.containersDir(), watched{}); err != nil {
		return
	}
	projects, err := os.ReadDir(j.containersDir())
	if err != nil {
		return
	}
	for _, p := range projects {
		if p.IsDir() && !strings.HasPrefix(p.Name(), ".") {
			j.watchProjectLocked(p.Name())
		}
	}
	j.walked = j.broken == nil
}

// watchLocked adds (or renews) the watch of dir as w.
func (j *Journal) watchLocked(dir string, w watched) error {
	mask := uint32(dirEvents)
	if w.name != "" {
		mask = containerEvents
	}
	if j.broken != nil {
		return j.broken
	}
	wd, err := unix.InotifyAddWatch(j.fd, dir, mask|unix.IN_ONLYDIR|unix.IN_DONT_FOLLOW)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) && !errors.Is(err, unix.ENOTDIR) {
			// Out of watches (fs.inotify.max_user_watches), say: a
			// directory nobody watches would be trusted. The journal
			// ends, and gives back the watches it holds, which other
			// programs of the user (an editor, `netctl watch`) need.
			j.breakLocked(fmt.Errorf("files journal: watch %s: %w", dir, err))
		}
		return err
	}
	j.watches[int32(wd)] = w
	return nil
}

// watchProjectLocked watches a project's directory and the directories
// of its containers, each counted as changed.
func (j *Journal) watchProjectLocked(project string) {
	dir := filepath.Join(j.containersDir(), project)
	if err := j.watchLocked(dir, watched{project: project}); err != nil {
		return
	}
	names, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, n := range names {
		if n.IsDir() && !strings.HasPrefix(n.Name(), ".") {
			j.watchContainerLocked(project, n.Name())
		}
	}
}

func (j *Journal) watchContainerLocked(project, name string) {
	j.ledger.Touch(model.ContainerID(project, name))
	_ = j.watchLocked(filepath.Join(j.containersDir(), project, name), watched{project: project, name: name})
}

// Run drains the queue as events arrive, so that it does not overflow
// between questions, until stop is closed or the journal breaks; it then
// closes the descriptor, which gives the watches back.
func (j *Journal) Run(stop <-chan struct{}) {
	_ = journal.Drain(j.file, stop, func() bool {
		j.mu.Lock()
		defer j.mu.Unlock()
		return j.drainLocked() != nil // false: wait for more
	})
	// Every answer from now on is "anything", and none reads the
	// descriptor: its number may be reused once it is closed.
	j.mu.Lock()
	if j.broken == nil {
		j.broken = errors.New("files journal closed")
	}
	j.fd = -1
	j.mu.Unlock()
	j.file.Close()
}

// breakLocked ends the journal: every answer from now on is "anything",
// and Run stops and closes the descriptor (never here: a close waits for
// Run's hold on it, and Run may be waiting for this lock).
func (j *Journal) breakLocked(why error) {
	if j.broken == nil {
		j.broken = why
	}
	journal.Wake(j.file)
}

// drainLocked reads every queued event.
func (j *Journal) drainLocked() error {
	if j.broken != nil {
		return j.broken
	}
	for {
		n, err := unix.Read(j.fd, j.buf)
		switch {
		case errors.Is(err, unix.EAGAIN):
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			j.broken = fmt.Errorf("files journal: read: %w", err)
			return j.broken
		}
		j.eventsLocked(j.buf[:n])
	}
}

// eventsLocked counts a buffer of struct inotify_event.
func (j *Journal) eventsLocked(b []byte) {
	for len(b) >= unix.SizeofInotifyEvent {
		ev := (*unix.InotifyEvent)(unsafe.Pointer(&b[0]))
		end := unix.SizeofInotifyEvent + int(ev.Len)
		if end > len(b) {
			break
		}
		name, _, _ := bytes.Cut(b[unix.SizeofInotifyEvent:end], []byte{0}) // NUL-padded
		b = b[end:]
		j.eventLocked(ev.Wd, ev.Mask, string(name))
	}
}

func (j *Journal) eventLocked(wd int32, mask uint32, name string) {
	j.ledger.Next()
	if mask&unix.IN_Q_OVERFLOW != 0 {
		j.walkLocked() // every watch renewed, everything before lost
		return
	}
	w, ok := j.watches[wd]
	if mask&unix.IN_IGNORED != 0 {
		delete(j.watches, wd)
	}
	switch {
	case !ok:
	case w.name != "": // a container's directory: anything is a change
		j.ledger.Touch(model.ContainerID(w.project, w.name))
	case mask&(unix.IN_DELETE_SELF|unix.IN_MOVE_SELF|unix.IN_IGNORED) != 0:
		// The containers' or a project's directory itself went away or
		// moved: its containers' watches may now name the wrong
		// containers. Watch everything anew.
		j.walkLocked()
	case mask&unix.IN_ISDIR == 0 || strings.HasPrefix(name, "."):
	case w.project == "": // a project's directory made, removed or renamed
		if mask&unix.IN_MOVED_FROM != 0 {
			j.walkLocked()
		} else if mask&(unix.IN_CREATE|unix.IN_MOVED_TO) != 0 {
			j.watchProjectLocked(name)
		}
	default: // a container's directory made, removed or renamed
		j.ledger.Touch(model.ContainerID(w.project, name))
		if mask&(unix.IN_CREATE|unix.IN_MOVED_TO) != 0 {
			j.watchContainerLocked(w.project, name)
		}
	}
	if j.ledger.Len() > max(journal.MaxRemembered, j.pruneAt) {
		// Forget the containers whose directory is no longer watched
		// (gone), and with them every reading older than their last
		// change.
		live := make(map[string]bool, len(j.watches))
		for _, w := range j.watches {
			if w.name != "" {
				live[model.ContainerID(w.project, w.name)] = true
			}
		}
		j.ledger.Forget(func(id string) bool { return !live[id] })
		j.pruneAt = 2 * j.ledger.Len() // all alive: not again at once
	}
}

// FilesAnswer is what the journal heard since a count of its own.
type FilesAnswer struct {
	Epoch uint64
	Seq   uint64
	// All: the count asked about is not this journal's, or events were
	// lost since: anything may have changed.
	All bool
	// Touched are the containers with an event since (when not All).
	Touched []string
}

// Since answers what the journal heard after its count since, in its
// epoch, once every event queued until now is counted.
func (j *Journal) Since(epoch, since uint64) FilesAnswer {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.walked && j.broken == nil {
		j.walkLocked()
	}
	j.drainLocked() // a failure is kept in j.broken
	a := FilesAnswer{Epoch: j.epoch, Seq: j.ledger.Seq()}
	touched, known := j.ledger.Since(since)
	a.All = j.broken != nil || !j.walked || epoch != j.epoch || !known
	if !a.All {
		a.Touched = touched
	}
	return a
}
