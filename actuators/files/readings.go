package files

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"

	"github.com/rs/zerolog"

	"github.com/netctl/netctl/internal/beneath"
	"github.com/netctl/netctl/internal/cachefile"
	"github.com/netctl/netctl/internal/journal"
	"github.com/netctl/netctl/model"
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

// savedFiles is one container's files as read: the settings (decoded)
// and the three files' contents.
type savedFiles struct {
	settings           containerSettings
	hosts, resolv, env string
}

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
	id := model.ContainerID(project, name)
	sf, ok := rs.saved[id]
	if !ok || rs.touched[id] {
		return containerFiles{}, false
	}
	return containerFiles{project: project, name: name, settings: sf.settings, hosts: sf.hosts, resolv: sf.resolv,
		env: sf.env}, true
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
		id := model.ContainerID(f.project, f.name)
		delete(out, id)
		if !f.absent {
			out[id] = savedFiles{settings: f.settings, hosts: f.hosts, resolv: f.resolv, env: f.env}
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
const filesMagic = "netctl files readings v2"

// readingsHeader reads the saved readings' file: its journal epoch and
// count, and the rest.
func (s *Store) readingsHeader() (epoch, seq uint64, body []byte, ok bool) {
	b, err := beneath.ReadFile(s.root, readingsPath(s.root))
	if err != nil {
		return 0, 0, nil, false
	}
	return splitFiles(b)
}

// splitFiles splits a readings file into its header's epoch and count and
// the rest; false when it is not one.
func splitFiles(b []byte) (epoch, seq uint64, body []byte, ok bool) {
	hd, body, ok := cachefile.SplitHeader(b, filesMagic)
	return hd.Epoch, hd.Seq, body, ok
}

// encodeFiles writes the header and, per container, its ID, settings and
// three files.
func encodeFiles(epoch, seq uint64, files map[string]savedFiles) []byte {
	n := 64
	for id, f := range files {
		n += len(id) + len(f.hosts) + len(f.resolv) + len(f.env) + 128
	}
	w := cachefile.Writer{B: make([]byte, 0, n)}
	w.Header(filesMagic, cachefile.Header{Epoch: epoch, Seq: seq})
	w.U(uint64(len(files)))
	for id, f := range files {
		w.Str(id)
		writeSettings(&w, &f.settings)
		w.Str(f.hosts)
		w.Str(f.resolv)
		w.Str(f.env)
	}
	return w.B
}

// decodeFiles is encodeFiles' body read back; a file cut short or with
// bytes to spare is no reading.
func decodeFiles(body []byte) (map[string]savedFiles, error) {
	r := cachefile.NewReader(body)
	n := r.Count()
	out := make(map[string]savedFiles, n)
	for range n {
		id := r.Str()
		f := savedFiles{settings: readSettings(r), hosts: r.Str(), resolv: r.Str(), env: r.Str()}
		if r.Err() != nil {
			break
		}
		out[id] = f
	}
	if err := r.End("files readings"); err != nil {
		return nil, err
	}
	return out, nil
}

// writeSettings encodes what reading settings.json decoded (nil and empty
// apart, as the JSON decoded them).
func writeSettings(w *cachefile.Writer, s *containerSettings) {
	w.Str(s.Hostname)
	w.Str(string(s.Mode))
	w.Str(s.Netns)
	w.Flag(s.External)
	w.Len(s.Aliases == nil, len(s.Aliases))
	for _, network := range slices.Sorted(maps.Keys(s.Aliases)) {
		w.Str(network)
		w.Strs(s.Aliases[network])
	}
	w.Len(s.ExtraHosts == nil, len(s.ExtraHosts))
	for _, h := range s.ExtraHosts {
		w.Addr(h.IP)
		w.Strs(h.Names)
	}
	w.Addrs(s.DNS)
	w.Str(s.Node)
	w.Flag(s.PublishAll)
}

func readSettings(r *cachefile.Reader) containerSettings {
	s := containerSettings{Hostname: r.Str(), Mode: model.Mode(r.ShortStr()), Netns: r.Str(), External: r.Flag()}
	if n, ok := r.Len(); ok {
		s.Aliases = make(map[string][]string, n)
		for range n {
			network := r.ShortStr()
			s.Aliases[network] = r.Strs()
		}
	}
	if n, ok := r.Len(); ok {
		s.ExtraHosts = make([]model.HostEntry, n)
		for i := range s.ExtraHosts {
			s.ExtraHosts[i] = model.HostEntry{IP: r.Addr(), Names: r.Strs()}
		}
	}
	s.DNS = r.Addrs()
	s.Node = r.ShortStr()
	s.PublishAll = r.Flag()
	return s
}
