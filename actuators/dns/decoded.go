package dns

import (
	"net/netip"
	"path/filepath"

	"github.com/netctl/netctl/internal/beneath"
	"github.com/netctl/netctl/internal/cachefile"
	"github.com/netctl/netctl/model"
)

// The decoded configurations. A one-shot command reads every project's
// file to compare it with the topology, and decoding its JSON was ~8 % of
// a no-op's CPU at hundreds of containers. What a command decoded or wrote
// is kept in <root>/cache/dns/<project>, in the encoding of the readings
// (internal/cachefile), with the hash of the file it stands for: the same
// bytes decode to the same configuration, so a kept one whose hash is the
// file's is what decoding the file would give. A cache: a file that cannot
// be read or written only means the JSON is decoded.

const decodedMagic = "netctl dns config v1"

func decodedPath(root, project string) string { return filepath.Join(root, "cache", "dns", project) }

// loadDecoded returns the project's kept configuration when it stands for
// the file of hash h. The server takes it too when it reloads: an apply
// keeps what it writes before it asks for the reload (~5 ms of JSON at
// 1,000 containers, on the apply's path).
func loadDecoded(root, project, h string) (*model.DNS, bool) {
	b, err := beneath.ReadFile(root, decodedPath(root, project))
	if err != nil {
		return nil, false
	}
	_, body, ok := cachefile.SplitHeader(b, decodedMagic)
	if !ok {
		return nil, false
	}
	r := cachefile.NewReader(body)
	if r.Str() != h {
		return nil, false
	}
	d := readDNS(r)
	if r.End("dns config") != nil || d.Project != project {
		return nil, false
	}
	return d, true
}

// saveDecoded keeps cfg as the configuration of the file of hash h.
func (m *Manager) saveDecoded(h string, cfg *model.DNS) {
	w := cachefile.Writer{B: make([]byte, 0, 4096)}
	w.Header(decodedMagic, cachefile.Header{})
	w.Str(h)
	writeDNS(&w, cfg)
	_ = beneath.WriteFile(m.root, decodedPath(m.root, cfg.Project), w.B, 0o600)
}

func writeDNS(w *cachefile.Writer, d *model.DNS) {
	w.Str(d.Project)
	w.Len(d.Networks == nil, len(d.Networks))
	for _, n := range d.Networks {
		w.Str(n.ID)
		w.Str(n.Bridge)
		w.Prefix(n.Subnet)
		w.Prefix(n.SubnetV6)
		w.Addr(n.Gateway)
		w.Flag(n.Internal)
		writeRecords(w, n.Records)
		w.Len(n.Remote == nil, len(n.Remote))
		for _, rm := range n.Remote {
			w.Str(rm.Container)
			w.Addr(rm.Node)
			w.Strs(rm.Names)
		}
	}
	w.Len(d.Clients == nil, len(d.Clients))
	for _, c := range d.Clients {
		w.Str(c.Container)
		w.Addrs(c.Addrs)
		w.Strs(c.Networks)
		writeRecords(w, c.Links)
		w.Len(c.Upstreams == nil, len(c.Upstreams))
		for _, u := range c.Upstreams {
			w.AddrPort(u)
		}
	}
	w.Flag(d.Peers != nil)
	if p := d.Peers; p != nil {
		w.Addr(p.Listen)
		w.Addrs(p.Nodes)
		w.Strs(p.Networks)
	}
}

func readDNS(r *cachefile.Reader) *model.DNS {
	d := &model.DNS{Project: r.Str()}
	if n, ok := r.Len(); ok {
		d.Networks = make([]model.DNSNetwork, n)
		for i := range d.Networks {
			nw := &d.Networks[i]
			nw.ID, nw.Bridge = r.ShortStr(), r.ShortStr()
			nw.Subnet, nw.SubnetV6, nw.Gateway, nw.Internal = r.Prefix(), r.Prefix(), r.Addr(), r.Flag()
			nw.Records = readRecords(r)
			if n, ok := r.Len(); ok {
				nw.Remote = make([]model.DNSRemote, n)
				for j := range nw.Remote {
					nw.Remote[j] = model.DNSRemote{Container: r.Str(), Node: r.Addr(), Names: r.Strs()}
				}
			}
		}
	}
	if n, ok := r.Len(); ok {
		d.Clients = make([]model.DNSClient, n)
		for i := range d.Clients {
			c := &d.Clients[i]
			c.Container, c.Addrs, c.Networks, c.Links = r.Str(), r.Addrs(), r.Strs(), readRecords(r)
			if n, ok := r.Len(); ok {
				c.Upstreams = make([]netip.AddrPort, n)
				for j := range c.Upstreams {
					c.Upstreams[j] = r.AddrPort()
				}
			}
		}
	}
	if r.Flag() {
		d.Peers = &model.DNSPeers{Listen: r.Addr(), Nodes: r.Addrs(), Networks: r.Strs()}
	}
	return d
}

func writeRecords(w *cachefile.Writer, rs []model.DNSRecord) {
	w.Len(rs == nil, len(rs))
	for _, rec := range rs {
		w.Str(rec.Container)
		w.Addr(rec.Addr)
		w.Strs(rec.Names)
	}
}

func readRecords(r *cachefile.Reader) []model.DNSRecord {
	n, ok := r.Len()
	if !ok {
		return nil
	}
	rs := make([]model.DNSRecord, n)
	for i := range rs {
		rs[i] = model.DNSRecord{Container: r.Str(), Addr: r.Addr(), Names: r.Strs()}
	}
	return rs
}
