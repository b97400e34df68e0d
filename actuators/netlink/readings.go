package netlink

import (
	"context"
	"maps"
	"net/netip"
	"path/filepath"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/internal/beneath"
	"github.com/netctl/netctl/internal/cachefile"
	"github.com/netctl/netctl/internal/nlraw"
	"github.com/netctl/netctl/model"
)

// The saved readings: what the last observations read in each
// container's namespace, with the journal's count at the moment it asked
// (journal.go says why a reading the journal heard nothing about since is
// still true). The file is replaced atomically and holds a whole set of
// readings true at its count, so a crash or two commands writing side by
// side leave a usable file or one the journal's answer discards.

// readingsMagic names the file's format: a reading of another format is
// none.
const readingsMagic = "netctl namespace readings v1"

func readingsPath(root string) string { return filepath.Join(root, "cache", "netns-readings") }

type savedReadings struct {
	Magic      string
	Instance   string
	Epoch, Seq uint64
	Containers map[string]nsReading // by container ID
}

// The host's dumps (links, addresses, routes) of the last full
// observation that read them, in a file of their own: at thousands of
// containers they are larger than the namespaces' readings, and read only
// while the journal heard no change of anything on the host since.
const hostDumpsMagic = "netctl host dumps v1"

func hostDumpsPath(root string) string { return filepath.Join(root, "cache", "host-dumps") }

// nsReading is readContainer's result for one namespace, and the
// namespace's identity.
type nsReading struct {
	Path     string
	Dev, Ino uint64
	GW, GW6  netip.Addr
	IfNames  []string
	LoUp     bool
	Peers    []peerReading
}

type peerReading struct {
	Mark             string
	Index, PeerIndex int
	// NSID is the id the host knows the namespace by, from the host end.
	NSID     int32
	Endpoint model.Endpoint
}

// readingSet is one observation's use of the saved readings: a full one
// reuses them, a scoped one (a verification) only saves what it read.
type readingSet struct {
	// hostReused: the host's view came from the saved dumps.
	hostReused bool
	answer     JournalAnswer
	saved      *savedReadings // nil: nothing to reuse
	touched    map[string]bool
	// reused are the readings taken, by target index (the workers each
	// write their own slots).
	reused []*nsReading
}

// openReadings asks the journal what changed since the saved readings;
// nil when there is no journal to ask (nothing is reused, and nothing
// saved).
func (l *Links) openReadings(ctx context.Context, targets int) *readingSet {
	if !l.journal {
		return nil
	}
	// The header asks the question; the containers' readings are decoded
	// only when the answer makes them usable.
	hd, body, ok := l.readingsHeader()
	a, err := askJournal(ctx, l.root, hd.Epoch, hd.Seq)
	if err != nil {
		l.log.Debug().Err(err).Msg("no journal: every namespace is read")
		return nil
	}
	rs := &readingSet{answer: a, reused: make([]*nsReading, targets)}
	if !ok || a.All || hd.Epoch != a.Epoch {
		return rs
	}
	if saved, err := decodeReadingsBody(hd, body); err == nil {
		rs.saved = saved
		rs.touched = make(map[string]bool, len(a.Touched))
		for _, id := range a.Touched {
			rs.touched[id] = true
		}
	}
	return rs
}

// readingsHeader reads the saved readings' file, and returns its header
// and the rest; false when there is none of this instance's.
func (l *Links) readingsHeader() (cachefile.Header, []byte, bool) {
	b, err := beneath.ReadFile(l.root, readingsPath(l.root))
	if err != nil {
		return cachefile.Header{}, nil, false
	}
	hd, body, ok := cachefile.SplitHeader(b, readingsMagic)
	if !ok || hd.Instance != string(l.inst) {
		return cachefile.Header{}, nil, false
	}
	return hd, body, true
}

// reuse returns the saved reading of tg's namespace when the journal heard
// nothing of it since, and the mount still holds the namespace read; nil
// when the namespace must be read.
func (l *Links) reuse(rs *readingSet, i int, tg target) *nsView {
	if rs == nil || rs.saved == nil || tg.external {
		return nil
	}
	id := model.ContainerID(tg.project, tg.name)
	r, ok := rs.saved.Containers[id]
	if !ok || rs.touched[id] || r.Path != tg.path || len(r.Peers) == 0 {
		return nil
	}
	for _, p := range r.Peers {
		if rs.answer.NSIDs[p.NSID] != id {
			return nil
		}
	}
	var st unix.Stat_t
	if err := unix.Lstat(tg.path, &st); err != nil || uint64(st.Dev) != r.Dev || st.Ino != r.Ino {
		return nil
	}
	if !l.freshAcceptRA(r.Peers) {
		return nil
	}
	rs.reused[i] = &r
	c := &model.Container{Project: tg.project, Name: tg.name, Netns: tg.path, NetnsOK: true,
		DefaultGateway: r.GW, DefaultGatewayV6: r.GW6, IfNames: slices.Clone(r.IfNames), LoUp: r.LoUp}
	v := &nsView{c: c, ns: nsID{dev: r.Dev, ino: r.Ino}}
	for _, p := range r.Peers {
		ep := p.Endpoint
		v.peers = append(v.peers, peerEnd{ep: &ep, mark: p.Mark, index: p.Index, peerIndex: p.PeerIndex})
	}
	return v
}

// cachedHost returns the host's view from the saved dumps for a full
// observation, when the journal heard nothing change there, and lost
// nothing, since they were read; nil when the host must be read.
func (l *Links) cachedHost(rs *readingSet, full bool) *hostView {
	if rs == nil || !full {
		return nil
	}
	b, err := beneath.ReadFile(l.root, hostDumpsPath(l.root))
	if err != nil {
		return nil
	}
	hd, h, err := decodeHostDumps(b)
	a := rs.answer
	if err != nil || hd.Instance != string(l.inst) || hd.Epoch != a.Epoch || hd.Seq < a.HostSeq || hd.Seq < a.Lost ||
		hd.Seq > a.Seq {
		return nil
	}
	rs.hostReused = true
	return newHostView(h.Links, h.Addrs, h.Routes)
}

// freshAcceptRA reads again the accept_ra of the dual-stack endpoints
// (r.Peers' own copy): a sysctl, whose changes nobody announces. One
// request each, from the host's side (by the namespace's id), instead of
// the namespace's three dumps; false when the link is not the one read.
func (l *Links) freshAcceptRA(peers []peerReading) bool {
	for i := range peers {
		p := &peers[i]
		if !p.Endpoint.AddrV6.IsValid() {
			continue
		}
		k, err := l.hostReq.LinkIn(p.NSID, p.Index)
		if err != nil || k.Alias != p.Mark || k.Name != p.Endpoint.IfName {
			return false
		}
		p.Endpoint.AcceptRA = k.AcceptRA
	}
	return true
}

// unconfirmed lists the reused readings whose host ends, as the host's
// links are now, are no longer the ones the reading was paired with (the
// same link, in the same namespace id): those namespaces are read again.
func (rs *readingSet) unconfirmed(hostLinks map[int]nlraw.Link) []int {
	if rs == nil {
		return nil
	}
	var out []int
	for i, r := range rs.reused {
		if r == nil {
			continue
		}
		for _, p := range r.Peers {
			h, ok := hostLinks[p.PeerIndex]
			if !ok || h.Alias != p.Mark || int32(h.LinkNSID) != p.NSID {
				out = append(out, i)
				rs.reused[i] = nil
				break
			}
		}
	}
	return out
}

// saveReadings keeps this observation's readings, and the kept ones,
// for the next, unless they are the saved ones already. It runs before
// the endpoints are matched, which fills in their host side.
func (l *Links) saveReadings(rs *readingSet, hostLinks map[int]nlraw.Link, targets []target, seen []*nsView,
	kept map[string]nsReading) {
	out := savedReadings{Magic: readingsMagic, Instance: string(l.inst), Epoch: rs.answer.Epoch, Seq: rs.answer.Seq,
		Containers: make(map[string]nsReading, len(seen)+len(kept))}
	maps.Copy(out.Containers, kept)
	fresh := 0
	for i, v := range seen {
		if targets[i].external || !v.c.NetnsOK || len(v.peers) == 0 {
			continue
		}
		r := nsReading{Path: targets[i].path, Dev: v.ns.dev, Ino: v.ns.ino, GW: v.c.DefaultGateway,
			GW6: v.c.DefaultGatewayV6, IfNames: v.c.IfNames, LoUp: v.c.LoUp}
		ok := true
		for _, p := range v.peers {
			h, found := hostLinks[p.peerIndex]
			if !found || h.Alias != p.mark || h.LinkNSID < 0 {
				ok = false // no pairing to check next time
				break
			}
			ep := p.ep
			r.Peers = append(r.Peers, peerReading{Mark: p.mark, Index: p.index, PeerIndex: p.peerIndex,
				NSID: int32(h.LinkNSID), Endpoint: model.Endpoint{Network: ep.Network, IfName: ep.IfName,
					MAC: ep.MAC, MTU: ep.MTU, Addr: ep.Addr, AddrV6: ep.AddrV6, AcceptRA: ep.AcceptRA, PeerOK: ep.PeerOK}})
		}
		if !ok {
			continue
		}
		out.Containers[v.c.ID()] = r
		if rs.reused[i] == nil {
			fresh++
		}
	}
	if fresh == 0 && rs.saved != nil && rs.saved.Seq == rs.answer.Seq && len(out.Containers) == len(rs.saved.Containers) {
		return
	}
	if err := beneath.WriteFile(l.root, readingsPath(l.root), encodeReadings(&out), 0o600); err != nil {
		l.log.Debug().Err(err).Msg("save namespace readings")
	}
}

// settleReadings reads again the namespaces whose reused readings the
// host's links do not confirm, and saves the observation's readings: of a
// full one, all of them; of a scoped one, its own and the saved ones the
// journal heard nothing of since.
func (l *Links) settleReadings(rs *readingSet, host0 *hostView, targets []target, seen []*nsView, full bool) error {
	hostLinks := make(map[int]nlraw.Link, len(host0.links))
	for _, k := range host0.links {
		hostLinks[k.Index] = k
	}
	if again := rs.unconfirmed(hostLinks); len(again) > 0 {
		t, err := nlraw.LockThread()
		if err != nil {
			return err
		}
		defer t.Release()
		for _, i := range again {
			v, err := l.readContainer(t, targets[i])
			if err != nil {
				return err
			}
			v.c.UTSHostname = seen[i].c.UTSHostname
			seen[i] = v
		}
	}
	reused := len(rs.reused) - countNil(rs.reused)
	l.log.Debug().Int("reused", reused).Int("read", len(seen)-reused).Bool("host_reused", rs.hostReused).
		Uint64("journal", rs.answer.Seq).Msg("namespace readings")
	// The host's dumps of a full observation that read them (a scoped one
	// reads only part of them).
	if full && !rs.hostReused {
		b := encodeHostDumps(string(l.inst), rs.answer.Epoch, rs.answer.Seq, &host0.dumps)
		if err := beneath.WriteFile(l.root, hostDumpsPath(l.root), b, 0o600); err != nil {
			l.log.Debug().Err(err).Msg("save the host's dumps")
		}
	}
	var kept map[string]nsReading
	if !full && rs.saved != nil {
		kept = make(map[string]nsReading, len(rs.saved.Containers))
		for id, r := range rs.saved.Containers {
			if !rs.touched[id] {
				kept[id] = r
			}
		}
		for _, tg := range targets {
			delete(kept, model.ContainerID(tg.project, tg.name))
		}
	}
	l.saveReadings(rs, hostLinks, targets, seen, kept)
	return nil
}

func countNil[T any](s []*T) int {
	n := 0
	for _, p := range s {
		if p == nil {
			n++
		}
	}
	return n
}
