package nftables

import (
	"fmt"
	"strings"

	"github.com/google/nftables"

	"github.com/netctl/netctl/model"
)

// Render shows the table netctl keeps for a firewall's objects, as nft
// lists a table: the sets with their elements, then the chains with their
// rules (in the bytecode form of describe, each with its comment). Used by
// the golden tests and the README.
func Render(fw *model.Firewall) (string, error) {
	objs := objects{networks: fw.Networks, ports: fw.Ports, links: fw.Links}
	r, err := tableFor(objs)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "table inet %s {\n", tableName)
	for _, d := range setDefs {
		kind := "set"
		if d.isMap() {
			kind = "map"
		}
		fmt.Fprintf(&b, "\t%s %s { # %s\n\t\ttype %s", kind, d.name, d.comment, d.keyType().Name)
		if d.isMap() {
			fmt.Fprintf(&b, " : %s", d.dataType().Name)
		}
		b.WriteString("\n")
		if d.interval {
			b.WriteString("\t\tflags interval\n")
		}
		for _, el := range r.sets[d.name].elements {
			fmt.Fprintf(&b, "\t\telement %s\n", formatElement(el))
		}
		b.WriteString("\t}\n")
	}
	for _, d := range chainDefs() {
		fmt.Fprintf(&b, "\tchain %s {\n", d.name)
		if d.base() {
			fmt.Fprintf(&b, "\t\ttype %s hook %s priority %d; policy accept;\n", d.typ, hookNames[*d.hook], d.priority)
		}
		for _, rl := range d.rules {
			fmt.Fprintf(&b, "\t\t# %s\n\t\t%s\n", rl.comment, describe(rl.exprs))
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	return b.String(), nil
}

var hookNames = map[nftables.ChainHook]string{0: "prerouting", 1: "input", 2: "forward", 3: "output", 4: "postrouting"}

// tableFor is the reading of a table that holds exactly what objs need:
// what Apply makes of them, as Observe would read it.
func tableFor(objs objects) (*reading, error) {
	ns, err := desire(objs)
	if err != nil {
		return nil, err
	}
	r := &reading{exists: true, chains: map[string]chainReading{}, sets: map[string]setReading{}}
	for _, d := range setDefs {
		key, data := d.keyType(), d.dataType()
		r.sets[d.name] = setReading{keyType: key.GetNFTMagic(), keyLen: key.Bytes,
			dataType: data.GetNFTMagic(), isMap: d.isMap(), interval: d.interval}
	}
	for _, id := range sortedKeys(ns.byID) {
		el := ns.byID[id].el
		sr := r.sets[el.set]
		sr.elements = append(sr.elements, el)
		r.sets[el.set] = sr
	}
	for _, d := range chainDefs() {
		cr := chainReading{rules: describeRules(d.rules)}
		if d.base() {
			prio := d.priority
			cr.typ, cr.hook, cr.priority = d.typ, d.hook, &prio
		}
		r.chains[d.name] = cr
	}
	return r, nil
}
