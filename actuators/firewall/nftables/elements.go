package nftables

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	"github.com/netctl/netctl/model"
)

// element is one entry of a set or map of netctl's table, as netctl
// writes it and reads it back. Keys and data are the kernel's bytes: each
// field of a concatenation padded to 4 bytes, addresses and ports in
// network byte order.
type element struct {
	set string
	key []byte
	// end is, in an interval set, the address after the interval's last
	// (nil: the interval runs to the end of the address space).
	end []byte
	// data is a map's value; verdict a verdict map's ("accept", "drop").
	data    []byte
	verdict string
	comment string
}

// id identifies the element within netctl's table: its set and key.
func (e element) id() string {
	return e.set + "\x00" + string(e.key) + "\x00" + string(e.end)
}

// value is what a map maps the key to.
func (e element) value() string {
	if e.verdict != "" {
		return e.verdict
	}
	return hex.EncodeToString(e.data)
}

// objects are netctl's firewall objects of every project.
type objects struct {
	networks map[string]*model.NetworkRules // by ID
	ports    map[string]*model.PortRule     // by Key()
	links    map[string]*model.LinkRule     // by Key()
}

func newObjects() objects {
	return objects{networks: map[string]*model.NetworkRules{}, ports: map[string]*model.PortRule{}, links: map[string]*model.LinkRule{}}
}

func (o objects) empty() bool { return len(o.networks)+len(o.ports)+len(o.links) == 0 }

// need is an element with the marks of the objects that need it (several
// when objects share it: two ports to one container port, networks with
// the same subnet); its comment is one of them.
type need struct {
	el     element
	owners []string
}

func (n *need) ownedBy(mark string) bool { return slices.Contains(n.owners, mark) }

// needs is every element a set of objects needs, by id, and the ids each
// object needs, by mark.
type needs struct {
	byID   map[string]*need
	byMark map[string][]string
}

// desire computes the elements objs need. The masquerade set holds the
// union of the subnets (an interval set refuses overlapping intervals),
// each interval needed by every network it covers.
func desire(objs objects) (*needs, error) {
	n := len(objs.networks) + len(objs.ports) + len(objs.links)
	ns := &needs{byID: make(map[string]*need, 4*len(objs.networks)+2*len(objs.ports)+len(objs.links)), byMark: make(map[string][]string, n)}
	add := func(mark string, els []element) error {
		if err := checkMark(mark); err != nil {
			return err
		}
		for _, el := range els {
			el.comment = mark
			id := el.id()
			n := ns.byID[id]
			if n == nil {
				n = &need{el: el}
				ns.byID[id] = n
			}
			if !n.ownedBy(mark) {
				n.owners = append(n.owners, mark)
			}
			ns.byMark[mark] = append(ns.byMark[mark], id)
		}
		return nil
	}
	// A network's IPv4 half is marked with its IPv4 mark, the IPv6 half
	// of a dual-stack network with its IPv6 mark (the interface sets
	// serve both families and go with the IPv4 half).
	var masq, subnets6, masq6 []*model.NetworkRules
	for _, id := range sortedKeys(objs.networks) {
		n := objs.networks[id]
		els, err := networkElements(n)
		if err == nil && len(els) > 0 {
			err = add(model.EncodeNetworkComment(n), els)
		}
		if err == nil && n.SubnetV6.IsValid() {
			err = checkMark(model.EncodeNetworkCommentV6(n))
		}
		if err != nil {
			return nil, fmt.Errorf("network %s: %w", id, err)
		}
		if !n.Internal && n.Subnet.IsValid() {
			masq = append(masq, n)
		}
		if n.SubnetV6.IsValid() {
			subnets6 = append(subnets6, n)
			if !n.Internal && n.MasqueradeV6 {
				masq6 = append(masq6, n)
			}
		}
	}
	for _, c := range []struct {
		set      string
		networks []*model.NetworkRules
		v6       bool
	}{{setMasq, masq, false}, {setSubnets6, subnets6, true}, {setMasq6, masq6, true}} {
		for _, cover := range coverSubnets(c.networks, c.v6) {
			for _, n := range cover.networks {
				mark := model.EncodeNetworkComment(n)
				if c.v6 {
					mark = model.EncodeNetworkCommentV6(n)
				}
				_ = add(mark, []element{subnetElement(c.set, cover.prefix)}) // checked above
			}
		}
	}
	for _, key := range sortedKeys(objs.ports) {
		p := objs.ports[key]
		els, err := portElements(p)
		if err == nil {
			err = add(model.EncodePortComment(p), els)
		}
		if err != nil {
			return nil, fmt.Errorf("port %s: %w", key, err)
		}
	}
	for _, key := range sortedKeys(objs.links) {
		l := objs.links[key]
		els, err := linkElements(l)
		if err == nil {
			err = add(model.EncodeLinkComment(l), els)
		}
		if err != nil {
			return nil, fmt.Errorf("link %s: %w", key, err)
		}
	}
	for _, n := range ns.byID {
		sort.Strings(n.owners)
		n.el.comment = n.owners[0]
	}
	return ns, nil
}

func checkMark(mark string) error {
	if len(mark) > maxMark {
		return fmt.Errorf("mark %q is longer than %d bytes", mark, maxMark)
	}
	return nil
}

// cover is one interval of a set of subnets and the networks in it.
type cover struct {
	prefix   netip.Prefix
	networks []*model.NetworkRules
}

// coverSubnets groups networks by the widest of their subnets (IPv6 ones
// with v6) that holds theirs (prefixes either nest or are disjoint).
func coverSubnets(networks []*model.NetworkRules, v6 bool) []cover {
	subnet := func(n *model.NetworkRules) netip.Prefix {
		if v6 {
			return n.SubnetV6
		}
		return n.Subnet
	}
	sorted := slices.Clone(networks)
	sort.SliceStable(sorted, func(i, j int) bool { return subnet(sorted[i]).Bits() < subnet(sorted[j]).Bits() })
	var out []cover
next:
	for _, n := range sorted {
		p := subnet(n).Masked()
		for i := range out {
			if out[i].prefix.Overlaps(p) {
				out[i].networks = append(out[i].networks, n)
				continue next
			}
		}
		out = append(out, cover{prefix: p, networks: []*model.NetworkRules{n}})
	}
	return out
}

func checkIfname(what, s string) error {
	if model.IsIfname(s) {
		return nil
	}
	return fmt.Errorf("%s name %q cannot go into a set", what, s)
}

func checkLabel(what, s string, empty bool) error {
	if (empty && s == "") || model.IsLabel(s) {
		return nil
	}
	return fmt.Errorf("%s name %q cannot go into a set", what, s)
}

// networkElements are the elements of a network's IPv4 half; none for the
// IPv6 half of a network read back without its IPv4 half (its subnet sets
// are desire's).
func networkElements(n *model.NetworkRules) ([]element, error) {
	if err := checkLabel("project", n.Project, true); err != nil {
		return nil, err
	}
	if err := checkLabel("network", n.Name, false); err != nil {
		return nil, err
	}
	if err := model.CheckSharedNetwork(n); err != nil {
		return nil, err
	}
	if err := checkIfname("bridge", n.Bridge); err != nil {
		return nil, err
	}
	if n.SubnetV6.IsValid() && (!n.SubnetV6.Addr().Is6() || n.SubnetV6.Addr().Is4In6()) {
		return nil, fmt.Errorf("subnet_v6 %s is not IPv6", n.SubnetV6)
	}
	if !n.Subnet.IsValid() && n.SubnetV6.IsValid() {
		return nil, nil
	}
	if !n.Subnet.IsValid() || !n.Subnet.Addr().Is4() {
		return nil, fmt.Errorf("subnet %s is not IPv4", n.Subnet)
	}
	br := ifnameBytes(n.Bridge)
	icc := "accept"
	if !n.ICC {
		icc = "drop"
	}
	els := []element{
		{set: setBridges, key: br},
		{set: mapICC, key: cat(br, br), verdict: icc},
	}
	if !n.Internal {
		els = append(els, element{set: setExternal, key: br})
	}
	vx, err := vxlanElements(n)
	if err != nil {
		return nil, err
	}
	pd, err := peerDNSElements(n)
	return append(append(els, vx...), pd...), err
}

// subnetElement is a subnet as an interval of an interval set: its first
// address, and the address after its last (none at the end of the space).
func subnetElement(set string, p netip.Prefix) element {
	start := p.Masked().Addr()
	el := element{set: set, key: start.AsSlice()}
	if next := lastOf(p).Next(); next.IsValid() {
		el.end = next.AsSlice()
	}
	return el
}

// lastOf is the last address of a prefix.
func lastOf(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 1 << (7 - i%8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

var protoNumbers = map[string]byte{model.ProtoTCP: 6, model.ProtoUDP: 17, model.ProtoSCTP: 132}

func protoName(n byte) string {
	for name, v := range protoNumbers {
		if v == n {
			return name
		}
	}
	return fmt.Sprint(n)
}

func portElements(p *model.PortRule) ([]element, error) {
	if err := checkLabel("project", p.Project, false); err != nil {
		return nil, err
	}
	if err := checkLabel("container", p.Container, false); err != nil {
		return nil, err
	}
	proto, ok := protoNumbers[p.Proto]
	if !ok {
		return nil, fmt.Errorf("protocol %q is not tcp, udp or sctp", p.Proto)
	}
	if p.HostIP.Is4() && p.HostIP.IsUnspecified() {
		// The spec turns 0.0.0.0 into "every address" (no HostIP); an
		// explicit one would be an element no packet's daddr matches.
		return nil, fmt.Errorf("host address %s: leave it out to publish on every address", p.HostIP)
	}
	if p.HostPort == 0 || p.ContainerPort == 0 {
		return nil, fmt.Errorf("no host or container port")
	}
	// The target says the family; an IPv6 port names its host address
	// ([::]: every IPv6 address).
	published, anyAddr, oneAddr := setPublished, mapPortsAny, mapPortsAddr
	switch {
	case p.Target.Is4() && (!p.HostIP.IsValid() || p.HostIP.Is4()):
	case p.Target.Is6() && !p.Target.Is4In6() && p.HostIP.Is6() && !p.HostIP.Is4In6() && !p.HostIP.IsLoopback():
		published, anyAddr, oneAddr = setPublished6, mapPortsAny6, mapPortsAddr6
	default:
		return nil, fmt.Errorf("%s -> %s: not a mapping of one family", p.HostString(), p.Target)
	}
	target := cat(addr(p.Target), port(p.ContainerPort))
	els := []element{{set: published, key: cat(addr(p.Target), protoKey(proto), port(p.ContainerPort))}}
	if !p.HostIP.IsValid() || (p.HostIP.Is6() && p.HostIP.IsUnspecified()) {
		return append(els, element{set: anyAddr, key: cat(protoKey(proto), port(p.HostPort)), data: target}), nil
	}
	host := cat(addr(p.HostIP), protoKey(proto), port(p.HostPort))
	els = append(els, element{set: oneAddr, key: host, data: target})
	if p.HostIP.IsLoopback() {
		els = append(els, element{set: setLoopback, key: host})
	}
	return els, nil
}

func linkElements(l *model.LinkRule) ([]element, error) {
	if err := checkLabel("project", l.Project, false); err != nil {
		return nil, err
	}
	for what, s := range map[string]string{"container": l.Container, "linked container": l.Target} {
		if err := checkLabel(what, s, false); err != nil {
			return nil, err
		}
	}
	if err := checkIfname("bridge", l.Bridge); err != nil {
		return nil, err
	}
	proto, ok := protoNumbers[l.Proto]
	if !ok {
		return nil, fmt.Errorf("protocol %q is not tcp, udp or sctp", l.Proto)
	}
	set := setLinks
	switch {
	case l.Src.Is4() && l.Dst.Is4():
	case l.Src.Is6() && l.Dst.Is6() && !l.Src.Is4In6() && !l.Dst.Is4In6():
		set = setLinks6
	default:
		return nil, fmt.Errorf("link %s->%s is not of one family", l.Src, l.Dst)
	}
	if l.Port == 0 {
		return nil, fmt.Errorf("no port")
	}
	return []element{{set: set, key: cat(ifnameBytes(l.Bridge), addr(l.Src), addr(l.Dst), protoKey(proto), port(l.Port))}}, nil
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// addr is an address as a key holds it: 4 or 16 bytes.
func addr(a netip.Addr) []byte { return a.AsSlice() }

// protoKey and port are the padded fields of a concatenation.
func protoKey(p byte) []byte { return []byte{p, 0, 0, 0} }

func port(p uint16) []byte { return []byte{byte(p >> 8), byte(p), 0, 0} }

// formatElement shows an element as nft writes it in a set's elements:
// `"br-x" . "br-x" : accept`, `tcp . 8080 : 172.18.0.2 . 5000`.
func formatElement(el element) string {
	d, ok := findSetDef(el.set)
	if !ok {
		return hex.EncodeToString(el.key)
	}
	var s string
	if d.interval {
		s = formatInterval(el)
	} else {
		s = formatFields(d.key, el.key)
	}
	switch {
	case d.verdict:
		s += " : " + el.verdict
	case len(d.data) > 0:
		s += " : " + formatFields(d.data, el.data)
	}
	if el.comment != "" {
		s += fmt.Sprintf(" comment %q", el.comment)
	}
	return s
}

// formatInterval shows an interval as a prefix when it is one, else as
// first-last.
func formatInterval(el element) string {
	start, ok := netip.AddrFromSlice(el.key)
	if !ok {
		return hex.EncodeToString(el.key)
	}
	var last netip.Addr
	if end, ok := netip.AddrFromSlice(el.end); ok && end.BitLen() == start.BitLen() {
		last = end.Prev()
	} else {
		last = lastOf(netip.PrefixFrom(start, 0))
	}
	for bits := 0; bits <= start.BitLen(); bits++ {
		if p := netip.PrefixFrom(start, bits); p.Masked().Addr() == start && lastOf(p) == last {
			return p.String()
		}
	}
	return start.String() + "-" + last.String()
}

func formatFields(types []nftables.SetDatatype, b []byte) string {
	var parts []string
	for _, t := range types {
		size := int(t.Bytes+3) / 4 * 4
		if len(b) < int(t.Bytes) {
			parts = append(parts, "?")
			break
		}
		v := b[:t.Bytes]
		switch t.Name {
		case typeIfname.Name:
			parts = append(parts, fmt.Sprintf("%q", strings.TrimRight(string(v), "\x00")))
		case typeIPv4.Name:
			parts = append(parts, netip.AddrFrom4([4]byte(v)).String())
		case typeIPv6.Name:
			parts = append(parts, netip.AddrFrom16([16]byte(v)).String())
		case typeProto.Name:
			parts = append(parts, protoName(v[0]))
		case typeService.Name:
			parts = append(parts, fmt.Sprint(binary.BigEndian.Uint16(v)))
		default:
			parts = append(parts, hex.EncodeToString(v))
		}
		if len(b) < size {
			b = nil
		} else {
			b = b[size:]
		}
	}
	return strings.Join(parts, " . ")
}

func verdictName(k expr.VerdictKind) string {
	switch k {
	case expr.VerdictAccept:
		return "accept"
	case expr.VerdictDrop:
		return "drop"
	case expr.VerdictReturn:
		return "return"
	}
	return fmt.Sprintf("verdict %d", int64(k))
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// maxMark bounds a mark (an element's comment): the kernel keeps at most
// 256 bytes of user data per element, and the comment takes 3 of them
// (type, length, NUL).
const maxMark = 253

// commentOwner is the project an element's comment names: "" for the
// shared default network and for anything that is not netctl's mark.
func commentOwner(c string) string {
	project, _ := model.RuleCommentOwner(c)
	return project
}
