package netlink

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// journalSocket is where a journal answers under --root: beside the DNS
// server whose worker runs it, in the one directory a confined server may
// write (netctl-dns.service).
func journalSocket(root string) string { return filepath.Join(root, "dns", "journal.sock") }

// journalQuestion is one request on the socket: what happened since the
// count Since of the journal of epoch Epoch.
type journalQuestion struct {
	Epoch uint64
	Since uint64
}

// ErrJournalRunning: another journal answers for the root.
var ErrJournalRunning = errors.New("journal: another journal answers for this root")

// Serve answers questions on <root>/dns/journal.sock until ctx is done,
// then removes the socket. It holds <root>/dns/journal.lock meanwhile,
// so that a socket left by a journal that died is replaced and the socket
// of one that lives never is.
func (j *Journal) Serve(ctx context.Context, root string) error {
	path := journalSocket(root)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(filepath.Dir(path), "journal.lock"), os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return ErrJournalRunning
		}
		return fmt.Errorf("journal: lock: %w", err)
	}
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	defer os.Remove(path)
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("journal: %w", err)
	}
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("journal: %w", err)
		}
		go j.answer(conn)
	}
}

func (j *Journal) answer(conn net.Conn) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReaderSize(conn, 256).ReadSlice('\n')
	var q journalQuestion
	if err == nil {
		err = json.Unmarshal(line, &q)
	}
	if err != nil {
		return
	}
	b, _ := json.Marshal(toWire(j.Since(q.Epoch, q.Since)))
	_, _ = conn.Write(append(b, '\n'))
}

// wireAnswer is a JournalAnswer on the socket. The namespace ids go as
// one string of "id container" lines: a JSON object of thousands of keys
// cost both sides more than the rest of a no-op's question.
type wireAnswer struct {
	Epoch   uint64
	Seq     uint64
	All     bool
	Touched []string
	HostSeq uint64
	Lost    uint64
	NSIDs   string
}

func toWire(a JournalAnswer) wireAnswer {
	var b strings.Builder
	for id, c := range a.NSIDs {
		b.WriteString(strconv.FormatInt(int64(id), 10))
		b.WriteByte(' ')
		b.WriteString(c)
		b.WriteByte('\n')
	}
	return wireAnswer{Epoch: a.Epoch, Seq: a.Seq, All: a.All, Touched: a.Touched, HostSeq: a.HostSeq, Lost: a.Lost,
		NSIDs: b.String()}
}

func fromWire(w wireAnswer) (JournalAnswer, error) {
	a := JournalAnswer{Epoch: w.Epoch, Seq: w.Seq, All: w.All, Touched: w.Touched, HostSeq: w.HostSeq,
		Lost: w.Lost, NSIDs: map[int32]string{}}
	for line := range strings.Lines(w.NSIDs) {
		id, c, ok := strings.Cut(strings.TrimSuffix(line, "\n"), " ")
		n, err := strconv.ParseInt(id, 10, 32)
		if !ok || err != nil || c == "" {
			return JournalAnswer{}, fmt.Errorf("journal: bad namespace id line %q", line)
		}
		a.NSIDs[int32(n)] = c
	}
	return a, nil
}

// askJournal asks root's journal what it heard since (epoch, since); an
// error means there is no journal to trust.
func askJournal(ctx context.Context, root string, epoch, since uint64) (JournalAnswer, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", journalSocket(root))
	if err != nil {
		return JournalAnswer{}, err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	b, _ := json.Marshal(journalQuestion{Epoch: epoch, Since: since})
	if _, err := conn.Write(append(b, '\n')); err != nil {
		return JournalAnswer{}, err
	}
	var w wireAnswer
	if err := json.NewDecoder(bufio.NewReader(conn)).Decode(&w); err != nil {
		return JournalAnswer{}, fmt.Errorf("journal: %w", err)
	}
	a, err := fromWire(w)
	if err != nil {
		return JournalAnswer{}, err
	}
	if a.Epoch == 0 {
		return JournalAnswer{}, fmt.Errorf("journal: answer without an epoch")
	}
	return a, nil
}
