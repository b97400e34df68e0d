package spec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/netctl/netctl/model"
	"gopkg.in/yaml.v3"
)

// Defaults, as in Docker; model holds their one definition.
const (
	DefaultMTU = model.DefaultMTU
	// DefaultBridgeSubnet is the subnet of the default network "bridge"
	// unless the file sets networks.bridge.subnet.
	DefaultBridgeSubnet = model.DefaultBridgeSubnet
	// DefaultBridgeIfname is the kernel name of the default network's
	// bridge. Every project shares it, so no file may rename it.
	DefaultBridgeIfname = model.DefaultBridge
)

// Load reads the topology file at path, then parses, defaults and validates
// it as Parse does. A file that cannot be read gives the os error as is, so
// that errors.Is(err, fs.ErrNotExist) works; anything wrong with its
// contents gives Errors.
func Load(path string) (*Topology, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse parses, defaults and validates a topology file's contents. file
// names the input in errors and gives the default project name (its base
// name without extension); it is not read. When anything is wrong, Parse
// returns a nil Topology and Errors holding every problem found, sorted by
// position.
func Parse(file string, data []byte) (*Topology, error) {
	p := &parser{collector: collector{file: file}}
	t := &Topology{File: file}
	if root := p.decode(data); root != nil {
		p.topology(t, root)
	}
	p.applyDefaults(t)
	if !p.exhausted {
		validate(t, &p.collector, &p.info)
	}
	if len(p.errs) > 0 {
		return nil, p.errs.sorted()
	}
	return t, nil
}

// parseInfo is what validation needs from the file beyond the Topology.
type parseInfo struct {
	nameSet  bool
	namePos  Pos
	nodesPos Pos
	// A section that is not a mapping at all yields nothing, and every
	// reference into it would be reported as unknown: skip those checks.
	brokenNetworks, brokenContainers, brokenNodes bool
}

type parser struct {
	collector
	info parseInfo

	// Aliases let a small file expand into a huge tree (billion laughs);
	// the walk stops once it has visited budget nodes.
	visits, budget int
	exhausted      bool
}

// field is one key of a mapping, with its value not yet resolved.
type field struct {
	key  string
	kpos Pos
	val  *yaml.Node
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// decode returns the root node of the single YAML document in data, or nil
// when there is none or it does not parse.
func (p *parser) decode(data []byte) (root *yaml.Node) {
	defer func() {
		// yaml.v3 is not ours; a panic on hostile input must become an
		// error rather than take `watch` down.
		if r := recover(); r != nil {
			p.add(Pos{}, "invalid YAML: %v", r)
			root = nil
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if !errors.Is(err, io.EOF) {
			p.yamlError(err)
		}
		return nil
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		pos := posOf(&extra)
		if len(extra.Content) > 0 {
			pos = posOf(extra.Content[0])
		}
		p.add(pos, "a second YAML document; a topology file holds exactly one")
	case !errors.Is(err, io.EOF):
		p.yamlError(err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil
	}
	p.budget = 10*countNodes(doc.Content[0]) + 1000
	return doc.Content[0]
}

func (p *parser) yamlError(err error) {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		p.add(Pos{Line: line}, "invalid YAML: %s", m[2])
		return
	}
	p.add(Pos{}, "invalid YAML: %s", strings.TrimPrefix(msg, "yaml: "))
}

// countNodes counts the nodes of the tree without following aliases.
func countNodes(n *yaml.Node) int {
	count := 0
	stack := []*yaml.Node{n}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		count++
		stack = append(stack, n.Content...)
	}
	return count
}

func posOf(n *yaml.Node) Pos { return Pos{Line: n.Line, Column: n.Column} }

// target follows aliases. Anchors cannot sit on alias nodes, so one step
// suffices; the bound is for trees not built by the YAML parser.
func target(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 8; i++ {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.AliasNode {
		return nil
	}
	return n
}

// resolve is target plus the accounting that bounds alias expansion. It
// returns nil once the budget is spent.
func (p *parser) resolve(n *yaml.Node) *yaml.Node {
	if p.exhausted {
		return nil
	}
	p.visits++
	if p.visits > p.budget {
		p.exhausted = true
		p.add(posOf(n), "the file expands to too many nodes through aliases")
		return nil
	}
	return target(n)
}

// valPos is where a value's problems are reported: at the anchored value
// itself for aliases, so that one bad anchor gives one error.
func valPos(n *yaml.Node) Pos {
	if t := target(n); t != nil {
		return posOf(t)
	}
	return posOf(n)
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names a node's type for "expected X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "nothing"
		}
		return quote(n.Value)
	}
	return "something else"
}

const maxMergeDepth = 8

// fields returns a mapping's entries in order, with `<<` merge keys
// expanded (explicit keys win, as in YAML 1.1 and Compose). A null value is
// an empty mapping, so `frontend:` means `frontend: {}`. ok is false when n
// is not a mapping at all.
func (p *parser) fields(n *yaml.Node, what, noun string) (fs []field, ok bool) {
	return p.fieldsDepth(n, what, noun, 0)
}

func (p *parser) fieldsDepth(n *yaml.Node, what, noun string, depth int) ([]field, bool) {
	m := p.resolve(n)
	if m == nil {
		return nil, !p.exhausted
	}
	if isNull(m) {
		return nil, true
	}
	if m.Kind != yaml.MappingNode {
		p.add(posOf(m), "%s: expected a mapping, got %s", what, describe(m))
		return nil, false
	}
	var out []field
	seen := map[string]Pos{}
	var merges []*yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		kt := target(k)
		if kt == nil || kt.Kind != yaml.ScalarNode {
			p.add(posOf(k), "%s: keys must be strings", what)
			continue
		}
		if kt.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		if first, dup := seen[kt.Value]; dup {
			p.add(posOf(k), "%s: duplicate %s %q (first at %d:%d)", what, noun, kt.Value, first.Line, first.Column)
			continue
		}
		seen[kt.Value] = posOf(k)
		out = append(out, field{key: kt.Value, kpos: posOf(k), val: v})
	}
	for _, mv := range merges {
		if depth >= maxMergeDepth {
			p.add(valPos(mv), "%s: merge keys nested too deeply", what)
			break
		}
		sources := []*yaml.Node{mv}
		if t := target(mv); t != nil && t.Kind == yaml.SequenceNode {
			sources = t.Content
		}
		for _, src := range sources {
			merged, _ := p.fieldsDepth(src, what, noun, depth+1)
			for _, f := range merged {
				if _, dup := seen[f.key]; !dup {
					seen[f.key] = f.kpos
					out = append(out, f)
				}
			}
		}
	}
	return out, true
}

// seq returns a list's items; null is an empty list. ok is false when n is
// not a list.
func (p *parser) seq(n *yaml.Node, what string) (items []*yaml.Node, ok bool) {
	s := p.resolve(n)
	if s == nil {
		return nil, !p.exhausted
	}
	if isNull(s) {
		return nil, true
	}
	if s.Kind != yaml.SequenceNode {
		p.add(posOf(s), "%s: expected a list, got %s", what, describe(s))
		return nil, false
	}
	return s.Content, true
}

// scalarOrSeq accepts a single value where a list is expected, as Compose
// does for `dns`.
func (p *parser) scalarOrSeq(n *yaml.Node, what string) []*yaml.Node {
	if t := target(n); t != nil && t.Kind == yaml.ScalarNode && !isNull(t) {
		return []*yaml.Node{n}
	}
	items, _ := p.seq(n, what)
	return items
}

// scalar returns n resolved when it is a non-null scalar.
func (p *parser) scalar(n *yaml.Node, what, expected string) *yaml.Node {
	s := p.resolve(n)
	if s == nil {
		return nil
	}
	if s.Kind != yaml.ScalarNode || isNull(s) {
		p.add(posOf(s), "%s: expected %s, got %s", what, expected, describe(s))
		return nil
	}
	return s
}

// str accepts any scalar: `name: 123` is the string "123".
func (p *parser) str(n *yaml.Node, what string) (string, bool) {
	s := p.scalar(n, what, "a string")
	if s == nil {
		return "", false
	}
	return s.Value, true
}

func (p *parser) integer(n *yaml.Node, what string) (int64, bool) {
	s := p.scalar(n, what, "an integer")
	if s == nil {
		return 0, false
	}
	var v int64
	if s.ShortTag() != "!!int" || s.Decode(&v) != nil {
		p.add(posOf(s), "%s: expected an integer, got %s", what, describe(s))
		return 0, false
	}
	return v, true
}

func (p *parser) boolean(n *yaml.Node, what string) (bool, bool) {
	s := p.scalar(n, what, "true or false")
	if s == nil {
		return false, false
	}
	var v bool
	if s.ShortTag() != "!!bool" || s.Decode(&v) != nil {
		p.add(posOf(s), "%s: expected true or false, got %s", what, describe(s))
		return false, false
	}
	return v, true
}

// portText accepts a port entry written as a string or as a YAML integer
// ("5003" or 5003).
func (p *parser) portText(n *yaml.Node, what string) (string, bool) {
	s := p.scalar(n, what, "a port as a string or number")
	if s == nil {
		return "", false
	}
	switch s.ShortTag() {
	case "!!str":
		return s.Value, true
	case "!!int":
		var v int64
		if s.Decode(&v) == nil {
			return strconv.FormatInt(v, 10), true
		}
	}
	p.add(posOf(s), "%s: expected a port as a string or number, got %s", what, describe(s))
	return "", false
}

func (p *parser) unknownKey(f field, where string, known []string) {
	p.add(f.kpos, "unknown key %q %s%s", f.key, where, suggest(f.key, known))
}

var topKeys = []string{"name", "networks", "containers", "nodes"}

func (p *parser) topology(t *Topology, root *yaml.Node) {
	fs, ok := p.fields(root, "topology", "key")
	if !ok {
		p.info.brokenNetworks, p.info.brokenContainers, p.info.brokenNodes = true, true, true
		return
	}
	for _, f := range fs {
		switch f.key {
		case "name":
			if s, ok := p.str(f.val, "name"); ok {
				t.Name = s
				p.info.nameSet, p.info.namePos = true, valPos(f.val)
			}
		case "networks":
			p.networks(t, f.val)
		case "containers":
			p.containers(t, f.val)
		case "nodes":
			p.info.nodesPos = f.kpos
			p.nodes(t, f.val)
		default:
			// Compose's extension fields: a home for anchors.
			if strings.HasPrefix(f.key, "x-") {
				continue
			}
			p.unknownKey(f, "at top level", topKeys)
		}
	}
}

func (p *parser) checkName(name string, pos Pos, what string) {
	if !isLabel(name) {
		p.add(pos, "%s %s is not a DNS label (%s)", what, quote(name), labelRule)
	}
}

func (p *parser) networks(t *Topology, n *yaml.Node) {
	fs, ok := p.fields(n, "networks", "network")
	if !ok {
		p.info.brokenNetworks = true
	}
	for _, f := range fs {
		if f.key == NetworkHost || f.key == NetworkNone {
			p.add(f.kpos, "network %q is built in and cannot be declared; containers join it with network_mode: %s", f.key, f.key)
			continue
		}
		p.checkName(f.key, f.kpos, "network name")
		t.Networks = append(t.Networks, p.network(f.key, f.kpos, f.val))
	}
}

var networkKeys = []string{"driver", "subnet", "gateway", "ip_range", "internal", "icc", "mtu", "bridge_name", "enable_ipv6", "subnet_v6", "gateway_v6", "labels"}

func (p *parser) network(name string, pos Pos, n *yaml.Node) *Network {
	nw := &Network{
		Name:     name,
		Pos:      pos,
		Driver:   DriverBridge,
		ICC:      true,
		MTU:      DefaultMTU,
		FieldPos: map[string]Pos{},
	}
	ctx := fmt.Sprintf("network %q", name)
	fs, _ := p.fields(n, ctx, "key")
	for _, f := range fs {
		what := ctx + ": " + f.key
		switch f.key {
		case "driver":
			if s, ok := p.str(f.val, what); ok {
				if s == DriverBridge || s == DriverOverlay {
					nw.Driver = s
				} else {
					p.add(valPos(f.val), "%s: unknown driver %s (bridge or overlay)", what, quote(s))
				}
			}
		case "subnet":
			nw.Subnet = p.prefix(f.val, what, false, 30)
		case "gateway":
			nw.Gateway = p.addr(f.val, what, false)
		case "ip_range":
			nw.IPRange = p.prefix(f.val, what, false, 32)
		case "internal":
			nw.Internal, _ = p.boolean(f.val, what)
		case "icc":
			if v, ok := p.boolean(f.val, what); ok {
				nw.ICC = v
			}
		case "mtu":
			if v, ok := p.integer(f.val, what); ok {
				if v < 68 || v > 65535 {
					p.add(valPos(f.val), "%s: %d is out of range 68-65535", what, v)
				} else {
					nw.MTU = int(v)
				}
			}
		case "bridge_name":
			if s, ok := p.str(f.val, what); ok {
				if isIfname(s) {
					nw.BridgeName = s
				} else {
					p.add(valPos(f.val), "%s: %s is not a kernel interface name (at most %d letters, digits, '-', '_' or '.')", what, quote(s), maxIfname)
				}
			}
		case "enable_ipv6":
			nw.EnableIPv6, _ = p.boolean(f.val, what)
		case "subnet_v6":
			nw.SubnetV6 = p.prefix(f.val, what, true, 126)
		case "gateway_v6":
			nw.GatewayV6 = p.addr(f.val, what, true)
		case "labels":
			nw.Labels = p.labels(f.val, what)
		default:
			p.unknownKey(f, "in "+ctx, networkKeys)
			continue
		}
		nw.FieldPos[f.key] = f.kpos
	}
	return nw
}

// addr parses an IP address of one family.
func (p *parser) addr(n *yaml.Node, what string, v6 bool) netip.Addr {
	s, ok := p.str(n, what)
	if !ok {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(s)
	switch {
	case err != nil:
		p.add(valPos(n), "%s: %s is not an IP address", what, quote(s))
	case !v6 && !a.Is4():
		p.add(valPos(n), "%s: %s is not an IPv4 address", what, quote(s))
	case v6 && (!a.Is6() || a.Is4In6() || a.Zone() != ""):
		p.add(valPos(n), "%s: %s is not an IPv6 address without zone", what, quote(s))
	default:
		return a
	}
	return netip.Addr{}
}

// reservedV4 are ranges no network may overlap: they are not unicast
// host addresses (this host, loopback, multicast, reserved, broadcast).
var reservedV4 = []string{"0.0.0.0/8", "127.0.0.0/8", "224.0.0.0/3"}

// prefix parses a subnet in CIDR notation, at most maxBits long (room for
// a gateway and a container in a subnet, a single address in an ip_range). Host bits must be zero:
// "172.18.0.5/16" is an error rather than silently 172.18.0.0/16, because
// it is usually a typo for another prefix length (Docker rejects it too).
func (p *parser) prefix(n *yaml.Node, what string, v6 bool, maxBits int) netip.Prefix {
	s, ok := p.str(n, what)
	if !ok {
		return netip.Prefix{}
	}
	pos := valPos(n)
	pf, err := netip.ParsePrefix(s)
	if err != nil {
		p.add(pos, "%s: %s is not a CIDR prefix like 172.18.0.0/16", what, quote(s))
		return netip.Prefix{}
	}
	a := pf.Addr()
	switch {
	case !v6 && !a.Is4():
		p.add(pos, "%s: %s is not an IPv4 prefix (IPv6 goes in subnet_v6, with enable_ipv6)", what, quote(s))
	case v6 && (!a.Is6() || a.Is4In6()):
		p.add(pos, "%s: %s is not an IPv6 prefix", what, quote(s))
	case pf != pf.Masked():
		p.add(pos, "%s: %s has host bits set; did you mean %s?", what, s, pf.Masked())
	case pf.Bits() > maxBits:
		p.add(pos, "%s: %s is too small for a gateway and a container", what, s)
	case pf.Bits() == 0:
		p.add(pos, "%s: %s covers every address", what, s)
	default:
		if v6 {
			if a.IsMulticast() || a.IsLoopback() {
				p.add(pos, "%s: %s is not a unicast range", what, s)
				return netip.Prefix{}
			}
			return pf
		}
		for _, r := range reservedV4 {
			if rp := netip.MustParsePrefix(r); rp.Overlaps(pf) {
				p.add(pos, "%s: %s overlaps %s, which is not for hosts", what, s, rp)
				return netip.Prefix{}
			}
		}
		return pf
	}
	return netip.Prefix{}
}

func (p *parser) labels(n *yaml.Node, what string) map[string]string {
	fs, _ := p.fields(n, what, "label")
	if len(fs) == 0 {
		return nil
	}
	m := make(map[string]string, len(fs))
	for _, f := range fs {
		if f.key == "" || hasControl(f.key) {
			p.add(f.kpos, "%s: label key %s is empty or holds a newline or NUL", what, quote(f.key))
			continue
		}
		// A null label value is the empty string, as in Compose.
		v := ""
		if t := target(f.val); t == nil || !isNull(t) {
			s, ok := p.str(f.val, what+"."+f.key)
			if !ok {
				continue
			}
			v = s
		}
		if hasControl(v) {
			p.add(valPos(f.val), "%s: label %q: value holds a newline or NUL", what, f.key)
			continue
		}
		m[f.key] = v
	}
	return m
}

func (p *parser) containers(t *Topology, n *yaml.Node) {
	fs, ok := p.fields(n, "containers", "container")
	if !ok {
		p.info.brokenContainers = true
	}
	for _, f := range fs {
		p.checkName(f.key, f.kpos, "container name")
		t.Containers = append(t.Containers, p.container(f.key, f.kpos, f.val))
	}
}

var containerKeys = []string{"hostname", "networks", "network_mode", "expose", "env", "ports", "dns", "extra_hosts", "links", "netns_path", "node"}

// composeHint points Compose users at what netctl calls the same thing.
func composeHint(key string) string {
	switch key {
	case "environment":
		return `; netctl calls it "env"`
	case "image":
		return "; netctl wires network namespaces and does not run images"
	case "command":
		return "; netctl wires network namespaces and does not run commands"
	}
	return ""
}

func (p *parser) container(name string, pos Pos, n *yaml.Node) *Container {
	c := &Container{Name: name, Pos: pos, FieldPos: map[string]Pos{}}
	ctx := fmt.Sprintf("container %q", name)
	fs, _ := p.fields(n, ctx, "key")
	for _, f := range fs {
		what := ctx + ": " + f.key
		switch f.key {
		case "hostname":
			if s, ok := p.str(f.val, what); ok {
				if isDNSName(s) {
					c.Hostname = s
				} else {
					p.add(valPos(f.val), "%s: %s is not a DNS name (dot-separated labels: %s)", what, quote(s), labelRule)
				}
			}
		case "networks":
			c.Networks = p.attachments(f.val, name, what)
		case "network_mode":
			if s, ok := p.str(f.val, what); ok {
				if s == NetworkHost || s == NetworkNone {
					c.NetworkMode = s
				} else {
					p.add(valPos(f.val), "%s: %s is not supported (host or none; bridge networks go under networks)", what, quote(s))
				}
			}
		case "expose":
			c.Expose = p.expose(f.val, what)
		case "env":
			c.Env = p.env(f.val, what)
		case "ports":
			c.Ports = p.ports(f.val, what)
		case "dns":
			for _, item := range p.scalarOrSeq(f.val, what) {
				if a, ok := p.ipAny(item, what); ok {
					c.DNS = append(c.DNS, a)
				}
			}
		case "extra_hosts":
			c.ExtraHosts = p.extraHosts(f.val, what)
		case "links":
			c.Links = p.links(f.val, what)
		case "netns_path":
			if s, ok := p.str(f.val, what); ok {
				if filepath.IsAbs(s) && filepath.Clean(s) == s && s != "/" && !hasControl(s) {
					c.NetnsPath = s
				} else {
					p.add(valPos(f.val), "%s: %s is not an absolute, clean path like /proc/<pid>/ns/net", what, quote(s))
				}
			}
		case "node":
			if s, ok := p.str(f.val, what); ok {
				if isLabel(s) {
					c.Node = s
				} else {
					p.add(valPos(f.val), "%s: %s is not a node name", what, quote(s))
				}
			}
		default:
			if hint := composeHint(f.key); hint != "" {
				p.add(f.kpos, "unknown key %q in %s%s", f.key, ctx, hint)
			} else {
				p.unknownKey(f, "in "+ctx, containerKeys)
			}
			continue
		}
		c.FieldPos[f.key] = f.kpos
	}
	return c
}

func (p *parser) ipAny(n *yaml.Node, what string) (netip.Addr, bool) {
	s, ok := p.str(n, what)
	if !ok {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		p.add(valPos(n), "%s: %s is not an IP address", what, quote(s))
		return netip.Addr{}, false
	}
	return a, true
}

var attachmentKeys = []string{"ipv4_address", "aliases"}

// attachments reads a container's networks in list form ([a, b]) or map
// form ({a: {ipv4_address: ..., aliases: [...]}}).
func (p *parser) attachments(n *yaml.Node, ctr, what string) []*Attachment {
	var out []*Attachment
	if t := target(n); t != nil && t.Kind == yaml.SequenceNode {
		items, _ := p.seq(n, what)
		for _, item := range items {
			if s, ok := p.str(item, what); ok {
				out = append(out, &Attachment{Network: s, Pos: valPos(item), FieldPos: map[string]Pos{}})
			}
		}
		if len(items) == 0 {
			p.emptyNetworks(n, what)
		}
		return out
	}
	fs, ok := p.fields(n, what, "network")
	if ok && len(fs) == 0 {
		p.emptyNetworks(n, what)
	}
	for _, f := range fs {
		a := &Attachment{Network: f.key, Pos: f.kpos, FieldPos: map[string]Pos{}}
		ctx := fmt.Sprintf("container %q: network %q", ctr, f.key)
		sub, _ := p.fields(f.val, ctx, "key")
		for _, g := range sub {
			what := ctx + ": " + g.key
			switch g.key {
			case "ipv4_address":
				a.IPv4Address = p.addr(g.val, what, false)
			case "aliases":
				items, _ := p.seq(g.val, what)
				seen := map[string]bool{}
				for _, item := range items {
					s, ok := p.str(item, what)
					switch {
					case !ok:
					case !isDNSName(s):
						p.add(valPos(item), "%s: %s is not a DNS name (dot-separated labels: %s)", what, quote(s), labelRule)
					case !seen[s]:
						seen[s] = true
						a.Aliases = append(a.Aliases, s)
					}
				}
			default:
				p.unknownKey(g, fmt.Sprintf("in network %q of container %q", f.key, ctr), attachmentKeys)
				continue
			}
			a.FieldPos[g.key] = g.kpos
		}
		out = append(out, a)
	}
	return out
}

// emptyNetworks rejects `networks: []`: it would silently mean either the
// default network or no network at all.
func (p *parser) emptyNetworks(n *yaml.Node, what string) {
	p.add(valPos(n), "%s: empty; leave it out to join the default network bridge, or use network_mode: none", what)
}

func (p *parser) expose(n *yaml.Node, what string) []PortProto {
	items, _ := p.seq(n, what)
	var out []PortProto
	seen := map[PortProto]bool{}
	for _, item := range items {
		s, ok := p.portText(item, what)
		if !ok {
			continue
		}
		pp, why := parsePortProto(s)
		switch {
		case why != "":
			p.add(valPos(item), "%s: %s: %s", what, quote(s), why)
		case !seen[pp]:
			seen[pp] = true
			out = append(out, pp)
		}
	}
	return out
}

func (p *parser) ports(n *yaml.Node, what string) []*PortMapping {
	items, _ := p.seq(n, what)
	var out []*PortMapping
	for _, item := range items {
		s, ok := p.portText(item, what)
		if !ok {
			continue
		}
		m, why := parsePortMapping(s)
		if why != "" {
			p.add(valPos(item), "%s: %s: %s", what, quote(s), why)
			continue
		}
		m.Pos = valPos(item)
		out = append(out, m)
	}
	return out
}

func (p *parser) env(n *yaml.Node, what string) map[string]string {
	fs, _ := p.fields(n, what, "variable")
	if len(fs) == 0 {
		return nil
	}
	m := make(map[string]string, len(fs))
	for _, f := range fs {
		if !model.IsEnvName(f.key) {
			p.add(f.kpos, "%s: %s is not a variable name ([A-Za-z_][A-Za-z0-9_]*)", what, quote(f.key))
			continue
		}
		if t := target(f.val); t != nil && isNull(t) {
			// Compose would copy the variable from the shell; netctl
			// has no shell to copy from.
			p.add(valPos(f.val), "%s: %s has no value (write %s: \"\" for an empty one)", what, f.key, f.key)
			continue
		}
		v, ok := p.str(f.val, what+"."+f.key)
		if !ok {
			continue
		}
		if hasControl(v) {
			p.add(valPos(f.val), "%s: %s: value holds a newline or NUL", what, f.key)
			continue
		}
		m[f.key] = v
	}
	return m
}

func (p *parser) extraHosts(n *yaml.Node, what string) []*ExtraHost {
	items, _ := p.seq(n, what)
	var out []*ExtraHost
	for _, item := range items {
		s, ok := p.str(item, what)
		if !ok {
			continue
		}
		pos := valPos(item)
		// Split at the first colon: the address may be IPv6.
		name, ip, found := strings.Cut(s, ":")
		if !found {
			p.add(pos, "%s: %s is not \"name:ip\"", what, quote(s))
			continue
		}
		if !isDNSName(name) {
			p.add(pos, "%s: %s is not a DNS name (dot-separated labels: %s)", what, quote(name), labelRule)
			continue
		}
		if strings.HasPrefix(ip, "[") && strings.HasSuffix(ip, "]") {
			ip = ip[1 : len(ip)-1]
		}
		a, err := netip.ParseAddr(ip)
		if err != nil || a.Zone() != "" {
			p.add(pos, "%s: %s is not an IP address", what, quote(ip))
			continue
		}
		out = append(out, &ExtraHost{Name: name, IP: a, Pos: pos})
	}
	return out
}

func (p *parser) links(n *yaml.Node, what string) []*Link {
	items, _ := p.seq(n, what)
	var out []*Link
	for _, item := range items {
		s, ok := p.str(item, what)
		if !ok {
			continue
		}
		pos := valPos(item)
		ctr, alias, hasAlias := strings.Cut(s, ":")
		if !hasAlias {
			alias = ctr
		}
		if ctr == "" {
			p.add(pos, "%s: %s has no container name (<container>[:<alias>])", what, quote(s))
			continue
		}
		// The alias becomes a hosts-file name and an env var prefix,
		// so it is a single label.
		if !isLabel(alias) {
			p.add(pos, "%s: alias %s is not a DNS label (%s)", what, quote(alias), labelRule)
			continue
		}
		out = append(out, &Link{Container: ctr, Alias: alias, Pos: pos})
	}
	return out
}

var nodeKeys = []string{"address"}

func (p *parser) nodes(t *Topology, n *yaml.Node) {
	fs, ok := p.fields(n, "nodes", "node")
	if !ok {
		p.info.brokenNodes = true
	}
	for _, f := range fs {
		p.checkName(f.key, f.kpos, "node name")
		nd := &Node{Name: f.key, Pos: f.kpos}
		ctx := fmt.Sprintf("node %q", f.key)
		sub, _ := p.fields(f.val, ctx, "key")
		hasAddr := false
		for _, g := range sub {
			switch g.key {
			case "address":
				hasAddr = true
				nd.Address, _ = p.ipAny(g.val, ctx+": address")
			default:
				p.unknownKey(g, "in "+ctx, nodeKeys)
			}
		}
		if !hasAddr {
			p.add(f.kpos, "%s: address is required", ctx)
		}
		t.Nodes = append(t.Nodes, nd)
	}
}

// applyDefaults fills in what the file leaves out. It runs on partial
// topologies too, so that validation sees the same defaults.
func (p *parser) applyDefaults(t *Topology) {
	if p.info.nameSet {
		if !isLabel(t.Name) {
			p.add(p.info.namePos, "name: project name %s is not a DNS label (%s)", quote(t.Name), labelRule)
		}
	} else {
		base := filepath.Base(t.File)
		t.Name = strings.TrimSuffix(base, filepath.Ext(base))
		switch {
		case t.File == "":
			p.add(Pos{}, "no project name: set name: in the file")
		case !isLabel(t.Name):
			p.add(Pos{}, "the file name gives the project name %s, which is not a DNS label (%s); set name: in the file", quote(t.Name), labelRule)
		}
	}
	if t.Network(NetworkBridge) == nil {
		t.Networks = append(t.Networks, &Network{
			Name:     NetworkBridge,
			Driver:   DriverBridge,
			ICC:      true,
			MTU:      DefaultMTU,
			Implicit: true,
			FieldPos: map[string]Pos{},
		})
	}
	for _, c := range t.Containers {
		if c.Hostname == "" {
			c.Hostname = c.Name
		}
		if _, has := c.FieldPos["networks"]; !has && c.NetworkMode == "" {
			c.Networks = []*Attachment{{Network: NetworkBridge, Pos: c.Pos, FieldPos: map[string]Pos{}}}
		}
	}
}
