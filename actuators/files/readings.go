package files

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/rs/zerolog"

	"github.com/netctl/netctl/internal/beneath"
	"github.com/netctl/netctl/internal/journal"
)

// The containers' files as a full Read last saw them, kept under --root
// with the files journal's count at the moment it asked (journal.go says
// why a reading the journal heard nothing about since is still true).

// UseJournal makes a full Read reuse the saved readings of the containers
// whose files the journal heard nothing about; log says how many.
func (s *Store) UseJournal(on bool, log zerolog.Logger) { s.journal, s.log = on, log }

func journalSocket(root string) string { return filepath.Join(root, "dns", "files-journal.sock") }

func readingsPath(root string) string { return filepath.Join(root, "cache", "files-readings") }

// Serve answers questions on <root>/dns/files-journal.sock until ctx is
// done (internal/journal).
func (j *Journal) Serve(ctx context.Context) error {
	return journal.Serve(ctx, journalSocket(j.root), func(q journal.Question) any { return j.Since(q.Epoch, q.Since) })
}

func askJournal(ctx context.Context, root string, epoch, since uint64) (FilesAnswer, error) {
	var a FilesAnswer
	if err := journal.Ask(ctx, journalSocket(root), journal.Question{Epoch: epoch, Since: since}, &a); err != nil {
		return FilesAnswer{}, fmt.Errorf("files journal: %w", err)
	}
	if a.Epoch == 0 {
		return FilesAnswer{}, errors.New("files journal: answer without an epoch")
	}
	return a, nil
}

// savedFiles is one container's files as read: the settings' JSON and the
// three files' contents.
type savedFiles struct{ settings, hosts, resolv, env string }

// readingSet is a Read's journal answer and the saved readings it lets
// the Read reuse.
type readingSet struct {
	answer  FilesAnswer
	saved   map[string]savedFiles // usable readings by container ID; nil: none
	touched map[string]bool
}

// openReadings asks the journal about the saved readings; nil when there
// is no journal to ask (or the store does not use it).
func (s *Store) openReadings(ctx context.Context) *readingSet {
	if !s.journal {
		return nil
	}
	epoch, seq, body, ok := s.readingsHeader()
	a, err := askJournal(ctx, s.root, epoch, seq)
	if err != nil {
		return nil
	}
	rs := &readingSet{answer: a}
	if !ok || a.All || epoch != a.Epoch {
		return rs
	}
	saved, err := decodeFiles(body)
	if err != nil {
		return rs
	}
	rs.saved = saved
	rs.touched = make(map[string]bool, len(a.Touched))
	for _, id := range a.Touched {
		rs.touched[id] = true
	}
	return rs
}

// reuse returns the saved reading of the container id when the journal
// heard nothing of it since.
func (rs *readingSet) reuse(project, name string) (containerFiles, bool) {
	if rs == nil || rs.saved == nil {
		return containerFiles{}, false
	}
	id := project + "/" + name
	sf, ok := rs.saved[id]
	if !ok || rs.touched[id] {
		return containerFiles{}, false
	}
	f := containerFiles{project: project, name: name, raw: sf.settings, hosts: sf.hosts, resolv: sf.resolv, env: sf.env}
	if json.Unmarshal([]byte(sf.settings), &f.settings) != nil {
		return containerFiles{}, false
	}
	return f, true
}

// settleReadings saves what this Read knows to be true at the journal's count:
// what it read, and (a scoped Read) the saved readings the journal heard
// nothing of since.
func (s *Store) settleReadings(rs *readingSet, read []containerFiles, reused int, full bool) {
	if rs == nil {
		return
	}
	out := make(map[string]savedFiles, len(read))
	if !full {
		for id, sf := range rs.saved {
			if !rs.touched[id] {
				out[id] = sf
			}
		}
	}
	for _, f := range read {
		id := f.project + "/" + f.name
		delete(out, id)
		if !f.absent {
			out[id] = savedFiles{settings: f.raw, hosts: f.hosts, resolv: f.resolv, env: f.env}
		}
	}
	s.log.Debug().Int("files_reused", reused).Int("files_read", len(read)-reused).Uint64("journal", rs.answer.Seq).
		Msg("files readings")
	if full && reused == len(out) && len(rs.saved) == len(out) {
		return // all reused: the saved file says the same, at an older count that is as true
	}
	// A cache: when it cannot be written, the next Read reads the files.
	_ = beneath.WriteFile(s.root, readingsPath(s.root), encodeFiles(rs.answer.Epoch, rs.answer.Seq, out), 0o600)
}

// filesMagic starts the file and names its format's version.
const filesMagic = "netctl files readings v1\n"

// readingsHeader reads the saved readings' file: its journal epoch and
// count, and the rest.
func (s *Store) readingsHeader() (epoch, seq uint64, body []byte, ok bool) {
	b, err := beneath.ReadFile(s.root, readingsPath(s.root))
	if err != nil || !bytes.HasPrefix(b, []byte(filesMagic)) {
		return 0, 0, nil, false
	}
	line, body, found := bytes.Cut(b[len(filesMagic):], []byte{'\n'})
	if !found {
		return 0, 0, nil, false
	}
	e, q, found := strings.Cut(string(line), " ")
	epoch, err1 := strconv.ParseUint(e, 10, 64)
	seq, err2 := strconv.ParseUint(q, 10, 64)
	if !found || err1 != nil || err2 != nil {
		return 0, 0, nil, false
	}
	return epoch, seq, body, true
}

// encodeFiles writes the header line and, per container, its ID and four
// contents, each a uvarint length and the bytes.
func encodeFiles(epoch, seq uint64, files map[string]savedFiles) []byte {
	n := len(filesMagic) + 48
	for id, f := range files {
		n += len(id) + len(f.settings) + len(f.hosts) + len(f.resolv) + len(f.env) + 5*binary.MaxVarintLen32
	}
	b := make([]byte, 0, n)
	b = append(b, filesMagic...)
	b = strconv.AppendUint(b, epoch, 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, '\n')
	b = binary.AppendUvarint(b, uint64(len(files)))
	for id, f := range files {
		for _, v := range [...]string{id, f.settings, f.hosts, f.resolv, f.env} {
			b = binary.AppendUvarint(b, uint64(len(v)))
			b = append(b, v...)
		}
	}
	return b
}

// decodeFiles is encodeFiles' body read back; a file cut short or with
// bytes to spare is no reading.
func decodeFiles(body []byte) (map[string]savedFiles, error) {
	all := string(body) // one copy; the fields are slices of it
	count, k := binary.Uvarint(body)
	if k <= 0 || count > uint64(len(body)) {
		return nil, errors.New("files readings: bad count")
	}
	pos := k
	field := func() (string, error) {
		l, k := binary.Uvarint(body[pos:])
		if k <= 0 || l > uint64(len(body)-pos-k) {
			return "", errors.New("files readings: cut short")
		}
		pos += k
		v := all[pos : pos+int(l)]
		pos += int(l)
		return v, nil
	}
	out := make(map[string]savedFiles, count)
	for range count {
		var v [5]string
		for i := range v {
			var err error
			if v[i], err = field(); err != nil {
				return nil, err
			}
		}
		out[v[0]] = savedFiles{settings: v[1], hosts: v[2], resolv: v[3], env: v[4]}
	}
	if pos != len(body) {
		return nil, errors.New("files readings: trailing bytes")
	}
	return out, nil
}
