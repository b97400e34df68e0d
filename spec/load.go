package spec

import (
	"net/netip"
	"path/filepath"
	"strings"

	"github.com/netctl/netctl/model"
	"github.com/netctl/netctl/spec/internal/yamlwalk"
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

// Load reads the topology file at path (ReadFile: a regular file of at
// most MaxFileSize), then parses, defaults and validates it as Parse does.
// A file that cannot be opened gives the os error as is, so that
// errors.Is(err, fs.ErrNotExist) works; anything wrong with its contents
// gives Errors.
func Load(path string) (*Topology, error) {
	data, err := ReadFile(path)
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
	errs := yamlwalk.NewCollector(file)
	p := &parser{Walker: yamlwalk.New(errs)}
	t := &Topology{File: file}
	if root := p.Decode(data, "a topology file"); root != nil {
		p.topology(t, root)
	}
	p.applyDefaults(t)
	if !p.Exhausted() {
		validate(t, errs, &p.info)
	}
	if es := errs.Errors(); es != nil {
		return nil, es
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

// parser is the topology schema on top of the generic walk: it says what
// each key means and checks single values where they are written.
type parser struct {
	*yamlwalk.Walker
	info parseInfo
}

var topKeys = []string{"name", "networks", "containers", "nodes"}

// topology reads the top-level mapping and hands each section to its
// reader (load_network.go, load_container.go, load_nodes.go).
func (p *parser) topology(t *Topology, root *yaml.Node) {
	fs, ok := p.Fields(root, "topology", "key")
	if !ok {
		p.info.brokenNetworks, p.info.brokenContainers, p.info.brokenNodes = true, true, true
		return
	}
	for _, f := range fs {
		switch f.Key {
		case "name":
			if s, ok := p.Str(f.Value, "name"); ok {
				t.Name = s
				p.info.nameSet, p.info.namePos = true, yamlwalk.ValPos(f.Value)
			}
		case "networks":
			p.networks(t, f.Value)
		case "containers":
			p.containers(t, f.Value)
		case "nodes":
			p.info.nodesPos = f.KeyPos
			p.nodes(t, f.Value)
		default:
			// Compose's extension fields: a home for anchors.
			if strings.HasPrefix(f.Key, "x-") {
				continue
			}
			p.UnknownKey(f, "at top level", topKeys)
		}
	}
}

func (p *parser) checkName(name string, pos Pos, what string) {
	if !isLabel(name) {
		p.Addf(pos, "%s %s is not a DNS label (%s)", what, yamlwalk.Quote(name), labelRule)
	}
}

// addr parses an IP address of one family.
func (p *parser) addr(n *yaml.Node, what string, v6 bool) netip.Addr {
	s, ok := p.Str(n, what)
	if !ok {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(s)
	switch {
	case err != nil:
		p.Addf(yamlwalk.ValPos(n), "%s: %s is not an IP address", what, yamlwalk.Quote(s))
	case !v6 && !a.Is4():
		p.Addf(yamlwalk.ValPos(n), "%s: %s is not an IPv4 address", what, yamlwalk.Quote(s))
	case v6 && (!a.Is6() || a.Is4In6() || a.Zone() != ""):
		p.Addf(yamlwalk.ValPos(n), "%s: %s is not an IPv6 address without zone", what, yamlwalk.Quote(s))
	default:
		return a
	}
	return netip.Addr{}
}

func (p *parser) ipAny(n *yaml.Node, what string) (netip.Addr, bool) {
	s, ok := p.Str(n, what)
	if !ok {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		p.Addf(yamlwalk.ValPos(n), "%s: %s is not an IP address", what, yamlwalk.Quote(s))
		return netip.Addr{}, false
	}
	return a, true
}

// applyDefaults fills in what the file leaves out. It runs on partial
// topologies too, so that validation sees the same defaults.
func (p *parser) applyDefaults(t *Topology) {
	if p.info.nameSet {
		if !isLabel(t.Name) {
			p.Addf(p.info.namePos, "name: project name %s is not a DNS label (%s)", yamlwalk.Quote(t.Name), labelRule)
		}
	} else {
		base := filepath.Base(t.File)
		t.Name = strings.TrimSuffix(base, filepath.Ext(base))
		switch {
		case t.File == "":
			p.Addf(Pos{}, "no project name: set name: in the file")
		case !isLabel(t.Name):
			p.Addf(Pos{}, "the file name gives the project name %s, which is not a DNS label (%s); set name: in the file", yamlwalk.Quote(t.Name), labelRule)
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

			MasqueradeV6: true,
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
