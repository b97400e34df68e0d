package spec

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

var nodeKeys = []string{"address"}

// nodes reads the `nodes:` section: the hosts overlay networks span, each
// with its address.
func (p *parser) nodes(t *Topology, n *yaml.Node) {
	fs, ok := p.Fields(n, "nodes", "node")
	if !ok {
		p.info.brokenNodes = true
	}
	for _, f := range fs {
		p.checkName(f.Key, f.KeyPos, "node name")
		nd := &Node{Name: f.Key, Pos: f.KeyPos}
		ctx := fmt.Sprintf("node %q", f.Key)
		sub, _ := p.Fields(f.Value, ctx, "key")
		hasAddr := false
		for _, g := range sub {
			switch g.Key {
			case "address":
				hasAddr = true
				nd.Address, _ = p.ipAny(g.Value, ctx+": address")
			default:
				p.UnknownKey(g, "in "+ctx, nodeKeys)
			}
		}
		if !hasAddr {
			p.Addf(f.KeyPos, "%s: address is required", ctx)
		}
		t.Nodes = append(t.Nodes, nd)
	}
}
