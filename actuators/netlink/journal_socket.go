package netlink

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/netctl/netctl/internal/journal"
)

// journalSocket is where a journal answers under --root: beside the DNS
// server whose worker runs it, in the one directory a confined server may
// write (netctl-dns.service).
func journalSocket(root string) string { return filepath.Join(root, "dns", "journal.sock") }

// ErrJournalRunning: another journal answers for the root.
var ErrJournalRunning = journal.ErrRunning

// Serve answers questions on <root>/dns/journal.sock until ctx is done,
// then removes the socket (internal/journal).
func (j *Journal) Serve(ctx context.Context, root string) error {
	err := journal.Serve(ctx, journalSocket(root), func(q journal.Question) any { return toWire(j.Since(q.Epoch, q.Since)) })
	if err != nil && !errors.Is(err, journal.ErrRunning) {
		return fmt.Errorf("journal: %w", err)
	}
	return err
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
	var w wireAnswer
	if err := journal.Ask(ctx, journalSocket(root), journal.Question{Epoch: epoch, Since: since}, &w); err != nil {
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
