package model

import (
	"path/filepath"
)

// Instance is one netctl instance: everything one --root owns. Separate
// roots in the same network namespace are independent (the contract): the
// instance is in every ownership mark and in the derived kernel names, so
// that one root never sees, changes or deletes another's objects, and the
// same project applied under two roots makes two sets of objects.
//
// The default root's instance is "": its marks and names are those netctl
// used before instances existed, so live hosts keep theirs.
type Instance string

// DefaultRoot is the default --root, the instance "".
const DefaultRoot = "/run/netctl"

// instanceLen is the length of an instance ID: 8 hex digits.
const instanceLen = 8

// InstanceOf derives the instance of a --root from its cleaned absolute
// path: "" for DefaultRoot, else the first 8 hex digits of its SHA-256.
// The same path is the same instance across runs and reboots.
func InstanceOf(root string) Instance {
	if abs, err := filepath.Abs(root); err == nil {
		root = abs
	}
	root = filepath.Clean(root)
	if root == DefaultRoot {
		return ""
	}
	return Instance(shortHash("root "+root, instanceLen))
}

// ParseInstance reads an instance ID as written by InstanceOf ("" is the
// default instance).
func ParseInstance(s string) (Instance, bool) {
	i := Instance(s)
	return i, i == "" || i.valid()
}

func (i Instance) valid() bool {
	if len(i) != instanceLen {
		return false
	}
	for _, c := range []byte(i) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Owns reports whether the mark o is this instance's.
func (i Instance) Owns(o Owner) bool { return o.Instance == i }

// Mark is the ownership mark of an object of this instance.
func (i Instance) Mark(project, network, container string) string {
	return EncodeOwner(Owner{Instance: i, Project: project, Network: network, Container: container})
}

// BridgeName derives a network's kernel bridge name (<= 15 bytes) from its
// identity and the instance: the same network always gets the same bridge,
// and another instance's network of the same name another one. The
// default network's bridge is netctl0 for the default instance and
// nctl-<instance> for the others.
func (i Instance) BridgeName(project, network string) string {
	switch {
	case network == DefaultNetwork && i == "":
		return DefaultBridge
	case network == DefaultNetwork:
		return "nctl-" + string(i)
	case i == "":
		return "br-" + shortHash(project+"/"+network, 12)
	}
	return "br-" + shortHash(string(i)+" "+project+"/"+network, 12)
}

// HostVethName derives the host end of an endpoint's veth pair (15 bytes).
//
// Planning derives one per endpoint, so the hashed identity and the name
// are built in local buffers: the name is the only allocation.
func (i Instance) HostVethName(project, container, network string) string {
	in := make([]byte, 0, 128)
	if i != "" {
		in = append(append(in, i...), ' ')
	}
	in = append(append(append(append(append(in, project...), '/'), container...), '/'), network...)
	var name [15]byte
	return string(appendShortHash(append(name[:0], "veth"...), in, 11))
}
