package dns

import (
	"context"
	"time"

	mdns "github.com/miekg/dns"
)

// forward asks the client's upstreams, in order, over the transport the
// client used, all within ForwardTimeout; it returns SERVFAIL when none
// answers in time (never a hang).
//
// Truncation: a UDP query goes upstream with the client's own buffer size,
// so an upstream answer too large for it comes back with TC set and is
// passed on as is: the client retries over TCP, and that query is
// forwarded over TCP.
func (s *Server) forward(r *mdns.Msg, cl *client, udp bool) *mdns.Msg {
	if m := s.askNodes(r, cl); m != nil {
		return m
	}
	if len(cl.upstreams) == 0 {
		return reply(r, mdns.RcodeServerFailure)
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.opts.ForwardTimeout)
	defer cancel()
	deadline, _ := ctx.Deadline()

	q := r.Copy()
	q.Id = mdns.Id() // a fresh id per upstream query: harder to spoof
	netw := "tcp"
	if udp {
		netw = "udp"
	}
	var last *mdns.Msg
	for i, up := range cl.upstreams {
		// Share what is left among the upstreams still to ask, so one
		// dead upstream cannot eat the whole budget.
		per := time.Until(deadline) / time.Duration(len(cl.upstreams)-i)
		if per <= 0 {
			break
		}
		c := &mdns.Client{Net: netw, Timeout: per}
		resp, _, err := c.ExchangeContext(ctx, q, up.String())
		if err != nil {
			s.log.Debug().Err(err).Str("upstream", up.String()).Str("name", r.Question[0].Name).Msg("forward")
			continue
		}
		if (resp.Rcode == mdns.RcodeServerFailure || resp.Rcode == mdns.RcodeRefused) && i < len(cl.upstreams)-1 {
			last = resp
			continue
		}
		resp.Id = r.Id
		return resp
	}
	if last != nil {
		last.Id = r.Id
		return last
	}
	return reply(r, mdns.RcodeServerFailure)
}
