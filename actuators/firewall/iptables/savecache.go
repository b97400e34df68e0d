package iptables

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/netctl/netctl/internal/beneath"
)

// The saved reading: iptables-nft keeps its rules in nf_tables, whose
// ruleset has a generation id that every committed transaction moves on,
// whoever commits it (iptables-nft, nft, firewalld, Docker, netctl's own
// nftables backend). The last iptables-save and ip6tables-save output is
// kept under --root with the generation it was read at; while the
// generation has not moved, the ruleset is the one that output shows and
// the two commands (the larger part of a no-op reconcile at thousands of
// published ports) need not run.
//
// Why a reused reading is the kernel's current ruleset:
//   - A reading is saved only when the generation read before the two
//     commands started equals the one read after both ended: no
//     transaction was committed in between, so the output is the ruleset
//     of that generation. (Read after the dump only, a transaction landing
//     between the dump and the read would pair an old output with a new
//     generation; read before only, one landing during the dump would be
//     missed.)
//   - Nothing is ever saved for a ruleset netctl predicts (after its own
//     restore, say): only what the commands printed. A crash between a
//     transaction and the next reading leaves a saved reading of an older
//     generation, which no longer matches; the file is replaced atomically
//     (beneath.WriteFile), so a crash while saving leaves the old reading
//     or the new, never a mix.
//   - The generation is comparable only within one namespace of one boot:
//     the key holds the boot id and the namespace's cookie (never reused
//     while the kernel runs, unlike the namespace's inode), so a namespace
//     made anew, or a reboot with --root on disk, never matches a reading
//     of another ruleset that happens to have the same generation id.
//   - Writers need no lock (ls and inspect observe without the --root
//     lock): every saved file is a whole, self-keyed reading that is
//     true of its generation, and a rename replaces it at once, so two
//     commands saving side by side leave one of two true readings.
//   - Another netctl instance (another --root) keeps its own saved
//     reading; its restores move the generation like anyone's. The output
//     holds every instance's rules anyway (classify picks this instance's).
//   - The key also holds the flavour and the commands' paths: another
//     iptables gets its own reading.
//   - What iptables-save prints besides rules and chains, the built-in
//     chains' packet counters, changes without a transaction; the parser
//     ignores it (parseSave keeps the chain's name only).
//   - The 32-bit id would have to wrap around exactly between two reads,
//     2^32 transactions apart, to match a changed ruleset.
//
// iptables-legacy keeps its rules in x_tables, which has no generation:
// in that flavour the commands always run.

// Generation identifies one version of the nf_tables ruleset of a network
// namespace (nftables.Generation: the caller reads it).
type Generation struct {
	Boot  string
	NetNS uint64
	ID    uint32
}

// saveCacheMagic starts the file and names its format's version: a
// change of the format changes the version, and a file of another version
// is read as no saved reading.
const saveCacheMagic = "netctl iptables-save reading v1"

// saveCachePath is where the saved reading lives under --root.
func saveCachePath(root string) string { return filepath.Join(root, "cache", "iptables-save") }

// savedReading is the output of both commands, and what it was read with.
type savedReading struct {
	gen         Generation
	mode        string // "nft"
	save, save6 string // the commands' paths
	v4, v6      string // their output
}

// matches reports whether s is the reading of gen by the same commands.
func (s savedReading) matches(gen Generation, mode, save, save6 string) bool {
	return s.gen == gen && s.mode == mode && s.save == save && s.save6 == save6
}

// encodeSaved writes s: a header of "key value" lines, then each output
// as "v4 LENGTH" (or v6) followed by that many bytes.
func encodeSaved(s savedReading) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\nboot %s\nnetns %d\ngenid %d\nmode %s\nsave %s\nsave6 %s\n",
		saveCacheMagic, s.gen.Boot, s.gen.NetNS, s.gen.ID, s.mode, s.save, s.save6)
	fmt.Fprintf(&b, "v4 %d\n%s", len(s.v4), s.v4)
	fmt.Fprintf(&b, "v6 %d\n%s", len(s.v6), s.v6)
	return b.Bytes()
}

// decodeSaved reads what encodeSaved wrote; anything else is an error.
func decodeSaved(data []byte) (savedReading, error) {
	var s savedReading
	r := bufio.NewReader(bytes.NewReader(data))
	line := func() (string, error) {
		l, err := r.ReadString('\n')
		if err != nil {
			return "", fmt.Errorf("saved iptables reading: truncated: %w", err)
		}
		return strings.TrimSuffix(l, "\n"), nil
	}
	field := func(key string) (string, error) {
		l, err := line()
		if err != nil {
			return "", err
		}
		v, ok := strings.CutPrefix(l, key+" ")
		if !ok {
			return "", fmt.Errorf("saved iptables reading: want %q, got %q", key, l)
		}
		return v, nil
	}
	magic, err := line()
	if err != nil {
		return s, err
	}
	if magic != saveCacheMagic {
		return s, fmt.Errorf("saved iptables reading: unknown format %q", magic)
	}
	var netns, genid string
	for _, f := range []struct {
		key string
		dst *string
	}{{"boot", &s.gen.Boot}, {"netns", &netns}, {"genid", &genid}, {"mode", &s.mode}, {"save", &s.save}, {"save6", &s.save6}} {
		if *f.dst, err = field(f.key); err != nil {
			return s, err
		}
	}
	if s.gen.NetNS, err = strconv.ParseUint(netns, 10, 64); err != nil {
		return s, fmt.Errorf("saved iptables reading: netns: %w", err)
	}
	id, err := strconv.ParseUint(genid, 10, 32)
	if err != nil {
		return s, fmt.Errorf("saved iptables reading: genid: %w", err)
	}
	s.gen.ID = uint32(id)
	for _, f := range []struct {
		key string
		dst *string
	}{{"v4", &s.v4}, {"v6", &s.v6}} {
		v, err := field(f.key)
		if err != nil {
			return s, err
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > len(data) {
			return s, fmt.Errorf("saved iptables reading: bad length %q", v)
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(r, buf); err != nil {
			return s, fmt.Errorf("saved iptables reading: %s truncated: %w", f.key, err)
		}
		*f.dst = string(buf)
	}
	if _, err := r.ReadByte(); err != io.EOF {
		return s, errors.New("saved iptables reading: trailing data")
	}
	return s, nil
}

// loadSaved returns the saved reading under root when it is gen's, read
// by the same commands.
func (b *Backend) loadSaved(gen Generation) (savedReading, bool) {
	data, err := beneath.ReadFile(b.cacheRoot, saveCachePath(b.cacheRoot))
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			b.log.Debug().Err(err).Msg("saved iptables reading unreadable")
		}
		return savedReading{}, false
	}
	s, err := decodeSaved(data)
	if err != nil {
		b.log.Debug().Err(err).Msg("saved iptables reading ignored")
		return savedReading{}, false
	}
	return s, s.matches(gen, b.mode, b.save, b.save6)
}

// storeSaved keeps s under root; failing to is no error (the next
// reading runs the commands). True when it was kept.
func (b *Backend) storeSaved(s savedReading) bool {
	if err := beneath.WriteFile(b.cacheRoot, saveCachePath(b.cacheRoot), encodeSaved(s), 0o600); err != nil {
		b.log.Debug().Err(err).Msg("cannot save the iptables reading")
		return false
	}
	return true
}
