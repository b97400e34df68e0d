package netlink

import (
	"errors"
	"fmt"
	"net"

	vnl "github.com/vishvananda/netlink"

	"github.com/netctl/netctl/model"
)

// creationGroup is the link group (IFLA_GROUP) netctl puts in the very
// request that creates a bridge or veth. The kernel ignores IFLA_IFALIAS on
// RTM_NEWLINK, so the ownership mark can only be written by a second
// request; after a crash between the two, the link would carry no mark and
// no later call would dare touch it. An unaliased link in this group, found
// under the name we were about to create, is therefore ours.
const creationGroup = 0x6e63746c // "nctl"

// ownedBy reports whether link carries mark, or is a link netctl created
// and had not marked yet.
func ownedBy(link vnl.Link, mark string) bool {
	a := link.Attrs()
	return a.Alias == mark || (a.Alias == "" && a.Group == creationGroup)
}

// bridgeMark is the mark of n's bridge.
func (l *Links) bridgeMark(n *model.Network) string {
	return l.inst.Mark(n.Project, n.Name, "")
}

// endpointMark is the mark of both ends of c's endpoint on the network
// named network.
func (l *Links) endpointMark(c *model.Container, network string) string {
	return l.inst.Mark(c.Project, network, c.Name)
}

// SetInstance makes inst the instance whose marks are netctl's: the one
// the root records (files.Instance). Call it before any other method.
func (l *Links) SetInstance(inst model.Instance) { l.inst = inst }

// owner reads a link's mark; ok only for a mark of this instance (--root):
// another instance's links are foreign, never changed or deleted.
func (l *Links) owner(alias string) (model.Owner, bool) {
	o, ok := model.ParseOwner(alias)
	return o, ok && l.inst.Owns(o)
}

// linkByName returns the link called name, or nil if there is none.
func linkByName(h *vnl.Handle, name string) (vnl.Link, error) {
	link, err := h.LinkByName(name)
	if err != nil {
		if _, ok := errors.AsType[vnl.LinkNotFoundError](err); ok {
			return nil, nil
		}
		return nil, fmt.Errorf("look up %s: %w", name, err)
	}
	return link, nil
}

// isUp reports whether the link is administratively up.
func isUp(link vnl.Link) bool {
	return link.Attrs().Flags&net.FlagUp != 0
}

// errNotOwned is returned for a name netctl must use but someone else holds.
var errNotOwned = errors.New("exists and is not owned by netctl")

// notOwnedError explains why link cannot be used: it is not netctl's, or it
// is but for another object (an endpoint of another network, say, when the
// reconciler reorders interfaces without deleting first).
func notOwnedError(link vnl.Link) error {
	if o, ok := model.ParseOwner(link.Attrs().Alias); ok {
		return fmt.Errorf("exists and belongs to %s", o)
	}
	return errNotOwned
}
