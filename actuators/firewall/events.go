package firewall

import "context"

// EventSource is the optional capability of a backend to report the
// changes other processes make to netctl's rules as they happen
// (nftables: netlink notifications of its table).
type EventSource interface {
	Subscribe(ctx context.Context) (<-chan struct{}, error)
}

// Subscribe reports the changes other processes make to netctl's rules in
// the backend in use, so that watch repairs them at once; nil (and no
// error) when the backend cannot tell: only resyncs see them then.
func (f *Firewall) Subscribe(ctx context.Context) (<-chan struct{}, error) {
	if s, ok := f.backend.(EventSource); ok {
		return s.Subscribe(ctx)
	}
	return nil, nil
}
