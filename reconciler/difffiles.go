package reconciler

import (
	"github.com/netctl/netctl/model"
	"github.com/netctl/netctl/spec"
)

// DiffFiles plans the change from the old file to the new one with no
// kernel: the old file's desired state stands in for the observed one, as
// if it had been applied to an empty host. It is the same code path as a
// live diff, so a review shows what apply would do after the old file.
func DiffFiles(old, new *spec.Topology, opt Options) (*Plan, error) {
	before := model.NewState()
	if oldOpt, ok := nodeBefore(old, opt); ok {
		var err error
		if before, err = Desired(old, nil, oldOpt); err != nil {
			return nil, err
		}
	}
	markApplied(before)
	after, err := Desired(new, before, opt)
	if err != nil {
		return nil, err
	}
	p := Diff(new.Name, after, before)
	p.Node = planNode(after)
	if old.Name != new.Name {
		// A renamed project is a new project: the old one goes away.
		gone := Diff(old.Name, model.NewState(), before)
		p.Actions = append(gone.Actions, p.Actions...)
		p.Blocked = append(gone.Blocked, p.Blocked...)
		p.sort()
	}
	return p, nil
}

// markApplied sets the observed-only fields of a desired state as the
// kernel would report them once that state is in place.
func markApplied(st *model.State) {
	for _, n := range st.Networks {
		n.Up = true
	}
	for _, d := range st.DNS {
		d.Serving = true
	}
	for _, c := range st.Containers {
		c.NetnsOK = c.Mode != model.ModeHost
		c.LoUp = c.NetnsOK
		if ownsUTS(c) {
			c.UTSHostname = c.Hostname
		}
		for _, ep := range c.Endpoints {
			ep.HostOK, ep.PeerOK = true, true
			c.IfNames = append(c.IfNames, ep.IfName)
		}
	}
}
