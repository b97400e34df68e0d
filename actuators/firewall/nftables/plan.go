package nftables

import (
	"fmt"
	"maps"

	"github.com/netctl/netctl/model"
)

// txn is one transaction on netctl's table.
type txn struct {
	// deleteTable deletes the table (teardown, or first thing of a rebuild).
	deleteTable bool
	// build creates the table, its sets and its chains with their rules.
	build bool
	// dels and adds are element changes, carried out in that order.
	dels, adds []element
	// bridges are the bridges of every network once it is done.
	bridges []string
}

func (t *txn) empty() bool { return !t.deleteTable && !t.build && len(t.dels)+len(t.adds) == 0 }

// plan turns a batch into the transaction that carries it out on the
// observed table. The fixed part is rebuilt whole (delete the table and
// make it again, with every object's elements, in the same transaction)
// when it is missing or damaged; otherwise only elements change. Elements
// of objects outside the batch (another project's) are left as they are,
// except the masquerade intervals, which are the union of every network's
// subnet.
func plan(s *state, b *model.FirewallBatch) (*txn, error) {
	if b.Project != "" && !model.IsLabel(b.Project) {
		return nil, fmt.Errorf("project name %q cannot go into a set", b.Project)
	}
	if b.Teardown {
		return &txn{deleteTable: s.installed()}, nil
	}
	objs, err := afterBatch(s.objs, b)
	if err != nil {
		return nil, err
	}
	ns, err := desire(objs)
	if err != nil {
		return nil, err
	}
	if !s.r.exists && objs.empty() {
		return &txn{}, nil // nothing to hold: no table to make
	}
	if !s.r.exists || (b.Base && len(s.problems) > 0) || (b.Stray && len(s.foreign) > 0) {
		t := &txn{deleteTable: s.r.exists, build: true, bridges: bridgesOf(objs.networks)}
		for _, id := range sortedKeys(ns.byID) {
			t.adds = append(t.adds, ns.byID[id].el)
		}
		return t, nil
	}

	sc := newScope(b)
	t := &txn{bridges: bridgesOf(objs.networks)}
	for _, id := range sortedKeys(ns.byID) {
		n := ns.byID[id]
		if !s.setOK[n.el.set] {
			continue // a damaged set: repaired by a rebuild
		}
		have, ok := s.elements[id]
		touch := derived(n.el.set) || sc.anyIn(n.owners)
		switch {
		case !ok:
			if touch {
				t.adds = append(t.adds, n.el)
			}
		case have.value() != n.el.value() || !n.ownedBy(have.comment):
			if touch || sc.in(have.comment) || sc.stray(have.comment) {
				t.dels = append(t.dels, have)
				t.adds = append(t.adds, n.el)
			}
		}
	}
	for _, id := range sortedKeys(s.elements) {
		have := s.elements[id]
		if ns.byID[id] != nil {
			continue
		}
		if derived(have.set) || sc.in(have.comment) || sc.stray(have.comment) {
			t.dels = append(t.dels, have)
		}
	}
	return t, nil
}

// afterBatch is the objects of every project once the batch is carried
// out: the batch's networks replaced or dropped, and the project's ports
// and links replaced by the batch's when it rewrites them.
func afterBatch(observed objects, b *model.FirewallBatch) (objects, error) {
	objs := objects{networks: maps.Clone(observed.networks), ports: maps.Clone(observed.ports), links: maps.Clone(observed.links)}
	for _, n := range b.DropNetworks {
		delete(objs.networks, n.ID())
	}
	for _, n := range b.Networks {
		c := *n
		c.Damaged = false
		objs.networks[n.ID()] = &c
	}
	if !b.Rewrite {
		return objs, nil
	}
	maps.DeleteFunc(objs.ports, func(_ string, p *model.PortRule) bool { return p.Project == b.Project })
	maps.DeleteFunc(objs.links, func(_ string, l *model.LinkRule) bool { return l.Project == b.Project })
	for _, p := range b.Ports {
		if p.Project != b.Project {
			return objects{}, fmt.Errorf("port %s belongs to project %s, not %s", p.Key(), p.Project, b.Project)
		}
		c := *p
		c.Damaged = false
		objs.ports[p.Key()] = &c
	}
	for _, l := range b.Links {
		if l.Project != b.Project {
			return objects{}, fmt.Errorf("link %s belongs to project %s, not %s", l.Key(), l.Project, b.Project)
		}
		c := *l
		c.Damaged = false
		objs.links[l.Key()] = &c
	}
	return objs, nil
}

// derived sets hold what every network's elements make together (unions
// of subnets): they are brought to what the objects need whoever's the
// batch is.
func derived(set string) bool { return set == setMasq || set == setSubnets6 || set == setMasq6 }

// scope says which objects a batch concerns, by their marks.
type scope struct {
	b        *model.FirewallBatch
	networks map[string]bool // IDs of the batch's networks and dropped networks
}

func newScope(b *model.FirewallBatch) scope {
	sc := scope{b: b, networks: map[string]bool{}}
	for _, n := range b.Networks {
		sc.networks[n.ID()] = true
	}
	for _, n := range b.DropNetworks {
		sc.networks[n.ID()] = true
	}
	return sc
}

// in reports whether the object a mark names is the batch's to change.
func (sc scope) in(mark string) bool {
	if n, ok := model.DecodeNetworkComment(mark); ok {
		return sc.networks[n.ID()]
	}
	if p, ok := model.DecodePortComment(mark); ok {
		return sc.b.Rewrite && p.Project == sc.b.Project
	}
	if l, ok := model.DecodeLinkComment(mark); ok {
		return sc.b.Rewrite && l.Project == sc.b.Project
	}
	return false
}

func (sc scope) anyIn(marks []string) bool {
	for _, m := range marks {
		if sc.in(m) {
			return true
		}
	}
	return false
}

// stray reports whether the batch removes a stray element with this
// comment: it removes the strays of its project and the shared ones.
func (sc scope) stray(comment string) bool {
	if !sc.b.Stray {
		return false
	}
	owner := commentOwner(comment)
	return owner == "" || owner == sc.b.Project
}
