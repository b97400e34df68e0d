package nftables

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/google/nftables"

	"github.com/netctl/netctl/model"
)

// reading is what the kernel holds of netctl's table (kernel.go reads it).
type reading struct {
	table  string // its name; "" for tableName
	exists bool
	chains map[string]chainReading
	sets   map[string]setReading
}

// chainReading is one chain of the table as read.
type chainReading struct {
	typ      nftables.ChainType
	hook     *nftables.ChainHook
	priority *nftables.ChainPriority
	policy   *nftables.ChainPolicy
	rules    []string // described (describe.go)
}

// setReading is one set of the table as read.
type setReading struct {
	keyType, dataType uint32 // the kernel's type numbers
	keyLen            uint32
	isMap, interval   bool
	elements          []element
}

// state is one observation of netctl's table: the reading, sorted into
// netctl's objects and checked against the layout. It is the snapshot an
// Apply works from.
type state struct {
	r *reading
	// setOK says, per set, that it exists with the type netctl gives it:
	// only those sets' elements are read and written element by element.
	setOK map[string]bool
	// problems lists what is wrong with the fixed part; foreign lists the
	// chains and sets in the table that are not netctl's.
	problems, foreign []string
	objs              objects
	byMark            map[string]any     // the object each mark of objs names
	elements          map[string]element // by id, from the sets that are OK
	fw                *model.Firewall
}

// Backend names the backend that took the snapshot.
func (s *state) Backend() string { return Name }

// installed reports whether a teardown would remove anything.
func (s *state) installed() bool { return s.r.exists }

// classify checks a reading against the layout and rebuilds the objects
// from the marks on the elements: an object is Damaged when an element it
// needs is missing or maps to something else; an element that no object
// needs as it is is stray.
func classify(r *reading) *state {
	s := &state{r: r, setOK: map[string]bool{}, objs: newObjects(), elements: map[string]element{}, fw: model.NewFirewall()}
	if !r.exists {
		name := r.table
		if name == "" {
			name = tableName
		}
		s.problems = []string{"table inet " + name + " missing"}
		s.fw.BaseMissing = s.problems
		return s
	}
	s.checkBase()
	for _, d := range setDefs {
		if !s.setOK[d.name] {
			continue
		}
		for _, el := range r.sets[d.name].elements {
			s.elements[el.id()] = el
		}
	}
	s.rebuildObjects()
	s.rebuildVXLAN()
	s.rebuildPeerDNS()
	ns := s.needs()
	for _, mark := range sortedKeys(ns.byMark) {
		for _, id := range ns.byMark[mark] {
			if have, ok := s.elements[id]; !ok || have.value() != ns.byID[id].el.value() {
				s.setDamaged(mark)
				break
			}
		}
	}
	for _, id := range sortedKeys(s.elements) {
		el := s.elements[id]
		n := ns.byID[id]
		if n != nil && n.el.value() == el.value() && n.ownedBy(el.comment) {
			continue
		}
		owner := commentOwner(el.comment)
		s.fw.Stray[owner] = append(s.fw.Stray[owner], fmt.Sprintf("set %s: element %s", el.set, formatElement(el)))
	}
	for _, f := range s.foreign {
		s.fw.Stray[""] = append(s.fw.Stray[""], f+" is not netctl's")
	}
	for owner := range s.fw.Stray {
		sort.Strings(s.fw.Stray[owner])
	}
	s.fw.BaseMissing = s.problems
	return s
}

// checkBase compares the table's sets and chains with the layout.
func (s *state) checkBase() {
	r := s.r
	for _, d := range setDefs {
		got, ok := r.sets[d.name]
		switch {
		case !ok:
			s.problems = append(s.problems, "set "+d.name+" missing")
		case !sameSetType(d, got):
			s.problems = append(s.problems, "set "+d.name+": type differs")
		default:
			s.setOK[d.name] = true
		}
	}
	for _, d := range chainDefs() {
		got, ok := r.chains[d.name]
		switch {
		case !ok:
			s.problems = append(s.problems, "chain "+d.name+" missing")
		case !sameHook(d, got):
			s.problems = append(s.problems, "chain "+d.name+": type, hook, priority or policy differ")
		case !slices.Equal(got.rules, describeRules(d.rules)):
			s.problems = append(s.problems, "chain "+d.name+": rules differ")
		}
	}
	for _, name := range sortedKeys(r.sets) {
		if _, ok := findSetDef(name); !ok {
			s.foreign = append(s.foreign, "set "+name)
		}
	}
	known := map[string]bool{}
	for _, d := range chainDefs() {
		known[d.name] = true
	}
	for _, name := range sortedKeys(r.chains) {
		if !known[name] {
			s.foreign = append(s.foreign, "chain "+name)
		}
	}
}

func sameSetType(d setDef, got setReading) bool {
	key, data := d.keyType(), d.dataType()
	if got.interval != d.interval || got.isMap != d.isMap() {
		return false
	}
	if d.verdict {
		// google/nftables v0.3.0 reads a verdict map's data type into
		// its key type: the key type of a verdict map cannot be checked.
		return got.keyType == key.GetNFTMagic() || got.keyType == nftables.TypeVerdict.GetNFTMagic()
	}
	if got.keyType != key.GetNFTMagic() || got.keyLen != key.Bytes {
		return false
	}
	return !d.isMap() || got.dataType == data.GetNFTMagic()
}

func sameHook(d chainDef, got chainReading) bool {
	if !d.base() {
		return got.hook == nil
	}
	return got.hook != nil && *got.hook == *d.hook && got.priority != nil && *got.priority == d.priority &&
		got.typ == d.typ && (got.policy == nil || *got.policy == nftables.ChainPolicyAccept)
}

func describeRules(rules []ruleDef) []string {
	out := make([]string, len(rules))
	for i, r := range rules {
		out[i] = describe(r.exprs)
	}
	return out
}

// rebuildObjects decodes the marks on the elements. When two marks name
// one object (a network whose subnet changed half way), the first in
// sorted order wins; the other's elements then turn out stray. An object
// whose mark is too long or whose elements cannot be built is not one.
func (s *state) rebuildObjects() {
	marks := map[string]bool{}
	for _, el := range s.elements {
		marks[el.comment] = true
	}
	s.byMark = make(map[string]any, len(marks))
	halves6 := map[string]*model.NetworkRules{} // by mark
	for _, m := range sortedKeys(marks) {
		if len(m) > maxMark {
			continue
		}
		// Only ports and links map one address to another: try the
		// decoder the mark's form calls for first.
		switch {
		case strings.Contains(m, " link "):
			if l, ok := model.DecodeLinkComment(m); ok {
				if _, err := linkElements(l); err == nil && s.objs.links[l.Key()] == nil {
					s.objs.links[l.Key()] = l
					s.byMark[m] = l
				}
			}
		case strings.Contains(m, "->"):
			if p, ok := model.DecodePortComment(m); ok {
				if _, err := portElements(p); err == nil && s.objs.ports[p.Key()] == nil {
					s.objs.ports[p.Key()] = p
					s.byMark[m] = p
				}
			}
		default:
			if n, ok := model.DecodeNetworkComment(m); ok {
				if _, err := networkElements(n); err != nil {
					continue
				}
				if n.SubnetV6.IsValid() {
					halves6[m] = n
					continue
				}
				if s.objs.networks[n.ID()] == nil {
					s.objs.networks[n.ID()] = n
					s.byMark[m] = n
				}
			}
		}
	}
	// A dual-stack network's IPv6 half joins its IPv4 half, which must
	// agree on what both marks carry: otherwise the network is read as
	// the IPv4 half says, and the IPv6 half's elements turn out stray.
	for _, m := range sortedKeys(halves6) {
		h := halves6[m]
		n := s.objs.networks[h.ID()]
		switch {
		case n == nil:
			s.objs.networks[h.ID()] = h
		case n.SubnetV6.IsValid():
			continue // a second IPv6 half: the first won
		case n.Bridge == h.Bridge && n.Internal == h.Internal && n.ICC == h.ICC:
			n.SubnetV6, n.MasqueradeV6 = h.SubnetV6, h.MasqueradeV6
		default:
			continue
		}
		s.byMark[m] = s.objs.networks[h.ID()]
	}
}

// needs is what the observed objects need; they all rendered once
// already, so desire cannot fail here.
func (s *state) needs() *needs {
	ns, err := desire(s.objs)
	if err != nil {
		return &needs{byID: map[string]*need{}, byMark: map[string][]string{}}
	}
	for _, n := range s.objs.networks {
		s.fw.Networks[n.ID()] = n
	}
	for _, p := range s.objs.ports {
		s.fw.Ports[p.Key()] = p
	}
	for _, l := range s.objs.links {
		s.fw.Links[l.Key()] = l
	}
	return ns
}

func (s *state) setDamaged(mark string) {
	switch o := s.byMark[mark].(type) {
	case *model.NetworkRules:
		o.Damaged = true
	case *model.PortRule:
		o.Damaged = true
	case *model.LinkRule:
		o.Damaged = true
	}
}
