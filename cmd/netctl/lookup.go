package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/netctl/netctl/model"
)

// Object kinds a reference can name.
const (
	kindContainer = "container"
	kindNetwork   = "network"
)

// object is one network or container as the views list and look it up:
// user networks, the built-in host and none, and containers.
type object struct {
	kind    string
	id      string // full ID (model.ObjectID)
	project string // "" for the shared and built-in networks
	name    string

	network   *model.Network   // nil for host and none
	container *model.Container // kindContainer only
}

// qualified is the object's PROJECT/NAME, or NAME for shared networks.
func (o object) qualified() string {
	if o.project == "" {
		return o.name
	}
	return o.project + "/" + o.name
}

// view is the object as inspect prints it.
func (o object) view(st *model.State) any {
	switch {
	case o.container != nil:
		return containerView(st, o.container)
	case o.network != nil:
		return networkView(st, o.network)
	}
	return builtinView(st, o.name)
}

// catalog is every object of an observed state, containers first (as
// docker inspect looks them up), each kind sorted by identity.
type catalog struct {
	st      *model.State
	objects []object
}

func newCatalog(st *model.State) *catalog {
	cat := &catalog{st: st}
	for _, id := range st.SortedContainerIDs() {
		c := st.Containers[id]
		cat.objects = append(cat.objects, object{kind: kindContainer, id: model.ContainerObjectID(c.Project, c.Name),
			project: c.Project, name: c.Name, container: c})
	}
	for _, id := range st.SortedNetworkIDs() {
		n := st.Networks[id]
		cat.objects = append(cat.objects, object{kind: kindNetwork, id: model.NetworkObjectID(n.Project, n.Name),
			project: n.Project, name: n.Name, network: n})
	}
	for _, name := range []string{model.HostNetwork, model.NoneNetwork} {
		cat.objects = append(cat.objects, object{kind: kindNetwork, id: model.NetworkObjectID("", name), name: name})
	}
	return cat
}

// errNoSuchObject is what a reference that names nothing gives.
var errNoSuchObject = errors.New("no such object")

// find resolves a reference the way Docker does: a full ID, then a name
// (NAME, or PROJECT/NAME; project, when set, limits plain names to that
// project and the shared networks), then a unique ID prefix. kind "" looks
// at containers first, then networks. A name several projects use is an
// error listing them.
func (cat *catalog) find(ref, kind, project string) (object, error) {
	if ref == "" {
		return object{}, fmt.Errorf("%w: empty name", errNoSuchObject)
	}
	candidates := cat.ofKind(kind)
	for _, o := range candidates {
		if o.id == ref {
			return o, nil
		}
	}
	wantProject, name, qualified := strings.Cut(ref, "/")
	if !qualified {
		name, wantProject = ref, project
	}
	for _, k := range []string{kindContainer, kindNetwork} {
		var hits []object
		for _, o := range candidates {
			// Shared networks (bridge, host, none) belong to every project.
			if o.kind == k && o.name == name && (wantProject == "" || o.project == wantProject || o.project == "") {
				hits = append(hits, o)
			}
		}
		switch len(hits) {
		case 0:
			continue
		case 1:
			return hits[0], nil
		}
		var where []string
		for _, o := range hits {
			where = append(where, o.kind+" "+o.qualified())
		}
		return object{}, fmt.Errorf("%s is ambiguous (%s): use PROJECT/NAME, --project or the ID", ref, strings.Join(where, ", "))
	}
	if isHexPrefix(ref) {
		var hits []object
		for _, o := range candidates {
			if strings.HasPrefix(o.id, ref) {
				hits = append(hits, o)
			}
		}
		switch len(hits) {
		case 1:
			return hits[0], nil
		case 0:
		default:
			return object{}, fmt.Errorf("%s is ambiguous: %d objects have an ID starting with it", ref, len(hits))
		}
	}
	return object{}, fmt.Errorf("%w: %s", errNoSuchObject, ref)
}

func isHexPrefix(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// ofKind returns the catalog's objects of one kind ("": all).
func (cat *catalog) ofKind(kind string) []object {
	var out []object
	for _, o := range cat.objects {
		if kind == "" || o.kind == kind {
			out = append(out, o)
		}
	}
	return out
}
