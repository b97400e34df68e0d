package iptables

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/internal/beneath"
	"github.com/netctl/netctl/internal/journal"
)

// The read-back, handed off. After its own restore a command reads the
// rules back for two reasons: to verify the batch, and to save a reading
// of the new generation for the next command (savecache.go). The first
// the restore's outcome already answers: iptables-nft-restore commits each
// table in one transaction, whole or not at all, and a success is trusted
// (the reconciler takes the batch's objects as written instead, so that a
// later batch in the same command reads the rules first). The second does
// not need the command to wait: the DNS server's worker, the process that
// runs between commands, reads the rules instead (ServeRefresh) while the
// command finishes and returns, ~35 ms sooner at 1,000 published ports.
//
// The worker's reading is made and kept exactly as a command's (runSaves:
// both commands' output, saved only when the generation did not move while
// they ran); nothing is predicted. It holds a lock file from the moment it
// takes the job on (before it answers) until its reading is saved, and a
// command that finds the saved reading stale while that lock is held
// waits for it and looks again instead of running the same commands beside
// it. A worker that dies mid-way leaves the lock free (the kernel drops it
// with the process) and no reading of the new generation: the next command
// reads the rules itself.

// RefreshSocket is where the worker takes read-backs handed off for the
// instance at root.
func RefreshSocket(root string) string { return filepath.Join(root, "dns", "iptables-save.sock") }

// refreshLockPath is the lock a refresh holds while it runs.
func refreshLockPath(root string) string {
	return filepath.Join(root, "cache", "iptables-save.refreshing")
}

const (
	// handOffTimeout bounds the question: the worker answers once it holds
	// the lock, at once unless it is stuck, in which case the command reads
	// the rules itself.
	handOffTimeout = 250 * time.Millisecond
	// refreshWait bounds a command's wait for a refresh under way (one at
	// 10,000 published ports takes ~0.5 s); past it, the command reads the
	// rules itself.
	refreshWait = 10 * time.Second
)

// refreshQuestion names the commands whose reading is wanted: the worker
// takes the job only when it would run the same ones (the saved reading's
// key holds them).
type refreshQuestion struct {
	Mode, Save, Save6 string
}

type refreshAnswer struct {
	Accepted bool
}

// HandOff asks the worker to read the rules back and save the reading;
// true when it took the job on. Only the nft flavour keeps readings.
func (b *Backend) HandOff(ctx context.Context) bool {
	if b.refreshSocket == "" || !b.keepsReadings() {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, handOffTimeout)
	defer cancel()
	var a refreshAnswer
	if err := journal.Ask(ctx, b.refreshSocket, refreshQuestion{Mode: b.mode, Save: b.save, Save6: b.save6}, &a); err != nil {
		b.log.Debug().Err(err).Msg("no worker to read the rules back: reading them here")
		return false
	}
	if !a.Accepted {
		b.log.Debug().Msg("the worker declined the rules' read-back: reading them here")
	}
	return a.Accepted
}

// awaitRefresh waits, when a refresh is under way, until it is over;
// true when it waited (the saved reading may then be current).
func (b *Backend) awaitRefresh(ctx context.Context) bool {
	if b.refreshSocket == "" {
		return false
	}
	f, err := beneath.OpenFile(b.cacheRoot, refreshLockPath(b.cacheRoot), os.O_RDONLY, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	start := time.Now()
	for waited := false; ; waited = true {
		err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB)
		if err == nil {
			_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
			if waited {
				b.log.Debug().Dur("waited", time.Since(start)).Msg("waited for the worker's reading of the rules")
			}
			return waited
		}
		if !errors.Is(err, unix.EWOULDBLOCK) || ctx.Err() != nil || time.Since(start) > refreshWait {
			return false
		}
		time.Sleep(time.Millisecond)
	}
}

// refresher is the worker's side: one refresh at a time, and one more
// after it when a job came in meanwhile (the rules may have changed after
// the running one read its generation).
type refresher struct {
	root string
	open func(mode string) (*Backend, error)
	log  zerolog.Logger

	mu       sync.Mutex
	backends map[string]*Backend // by mode
	lock     *os.File            // held while running
	running  bool
	again    bool
}

// ServeRefresh takes the read-backs commands hand off for the instance at
// root until ctx is done; open opens the backend of a flavour as the
// commands do. A process that could not do the job (no nft flavour, no
// nf_tables generation: no CAP_NET_ADMIN, say; a read-only --root, as
// under the shipped DNS unit) does not offer it.
func ServeRefresh(ctx context.Context, root string, open func(mode string) (*Backend, error), log zerolog.Logger) error {
	rf := &refresher{root: root, open: open, log: log, backends: map[string]*Backend{}}
	b, err := rf.backend("nft")
	if err != nil {
		return err
	}
	if _, ok := b.currentGeneration(); !ok {
		return errors.New("cannot read the nf_tables generation")
	}
	lock, err := rf.openLock()
	if err != nil {
		return err
	}
	lock.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	return journal.Serve(ctx, RefreshSocket(root), func(q refreshQuestion) any { return rf.take(ctx, &wg, q) })
}

// take starts a refresh, or asks for one more after the running one.
func (rf *refresher) take(ctx context.Context, wg *sync.WaitGroup, q refreshQuestion) refreshAnswer {
	rf.mu.Lock()
	defer rf.mu.Unlock()
	b, err := rf.backend(q.Mode)
	if err != nil || b.save != q.Save || b.save6 != q.Save6 {
		rf.log.Debug().Err(err).Str("mode", q.Mode).Str("save", q.Save).Msg("rules' read-back declined: other commands")
		return refreshAnswer{}
	}
	if rf.running {
		rf.again = true
		return refreshAnswer{Accepted: true}
	}
	// Opened anew each time: a cache directory made again since would
	// hold another file, which commands would find free.
	lock, err := rf.openLock()
	if err != nil {
		rf.log.Debug().Err(err).Msg("rules' read-back declined: no lock")
		return refreshAnswer{}
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		lock.Close()
		return refreshAnswer{}
	}
	rf.lock, rf.running = lock, true
	wg.Go(func() { rf.run(ctx, b) })
	return refreshAnswer{Accepted: true}
}

func (rf *refresher) openLock() (*os.File, error) {
	if err := beneath.MkdirAll(rf.root, filepath.Join(rf.root, "cache"), 0o700); err != nil {
		return nil, err
	}
	return beneath.OpenFile(rf.root, refreshLockPath(rf.root), os.O_RDWR|os.O_CREATE, 0o600)
}

func (rf *refresher) backend(mode string) (*Backend, error) {
	if b := rf.backends[mode]; b != nil {
		return b, nil
	}
	b, err := rf.open(mode)
	if err != nil {
		return nil, err
	}
	rf.backends[mode] = b
	return b, nil
}

// run reads the rules until no job is left, then frees the lock.
func (rf *refresher) run(ctx context.Context, b *Backend) {
	for {
		start := time.Now()
		saved, err := b.refreshSaved(ctx)
		rf.log.Debug().Err(err).Bool("saved", saved).Dur("took", time.Since(start)).Msg("rules read back for the next command")
		rf.mu.Lock()
		if !rf.again || ctx.Err() != nil {
			rf.running = false
			rf.lock.Close() // frees the lock
			rf.lock = nil
			rf.mu.Unlock()
			return
		}
		rf.again = false
		rf.mu.Unlock()
	}
}

// refreshSaved saves a reading of the current generation unless there is
// one; true when a reading of the generation is saved.
func (b *Backend) refreshSaved(ctx context.Context) (bool, error) {
	gen, ok := b.currentGeneration()
	if !ok {
		return false, errors.New("no nf_tables generation")
	}
	if _, ok := b.loadSaved(gen); ok {
		return true, nil
	}
	_, _, stored, err := b.runSaves(ctx, gen, true)
	return stored, err
}
