package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/netctl/netctl/cmd/netctl/internal/format"
	"github.com/netctl/netctl/model"
)

func (a *app) portCommand() *cobra.Command {
	var project, tpl string
	cmd := &cobra.Command{
		Use:   "port CONTAINER [PORT[/PROTO]]",
		Short: "List a container's published ports, like docker port",
		Long: "Without PORT: one line per published port, \"5000/tcp -> 0.0.0.0:8080\".\n" +
			"With PORT (tcp unless /udp or /sctp): the host addresses it is published on, \"0.0.0.0:8080\".\n" +
			"Reports what the host's firewall holds, not the file.",
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var want *model.PortProto
			if len(args) == 2 {
				pp, err := parsePortArg(args[1])
				if err != nil {
					return err
				}
				want = &pp
			}
			c, err := a.findContainer(cmd, project, args[0])
			if err != nil {
				return err
			}
			rows := portRows(c.Ports, want)
			if want != nil && len(rows) == 0 {
				return fmt.Errorf("no public port '%d/%s' published for %s", want.Port, want.Proto, c.Name)
			}
			def := "{{.PrivatePort}}/{{.Type}} -> {{.HostPort}}"
			if want != nil {
				def = "{{.HostPort}}"
			}
			return format.List{Format: tpl, Default: def, Headers: portHeaders}.Write(a.stdout, rows)
		},
	}
	cmd.Flags().StringVarP(&project, "project", "p", "", "look the container up in this project")
	cmd.Flags().StringVar(&tpl, "format", "", "format output: 'table', 'json' (one object a line) or a Go template over .IP .PublicPort .PrivatePort .Type .HostPort")
	return cmd
}

// portRow is one published port as templates see it: the Docker API's
// port fields, plus HostPort, "IP:PublicPort".
type portRow struct {
	HostPort    string
	IP          string
	PrivatePort uint16
	PublicPort  uint16
	Type        string
}

var portHeaders = format.Headers{
	"HostPort": "HOST PORT", "IP": "IP", "PrivatePort": "PRIVATE PORT", "PublicPort": "PUBLIC PORT", "Type": "TYPE",
}

// parsePortArg reads "5000", "5000/tcp", "53/udp".
func parsePortArg(s string) (model.PortProto, error) {
	port, proto, found := strings.Cut(s, "/")
	if !found {
		proto = model.ProtoTCP
	}
	if !model.IsProto(proto) {
		return model.PortProto{}, fmt.Errorf("port %q: protocol must be tcp, udp or sctp", s)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return model.PortProto{}, fmt.Errorf("port %q: not a port number", s)
	}
	return model.PortProto{Port: uint16(n), Proto: proto}, nil
}

// portRows are docker port's lines: every published port, or those of
// one container port, in docker port's order.
func portRows(ports []model.Port, want *model.PortProto) []any {
	ps := append([]model.Port(nil), ports...)
	model.SortPorts(ps)
	var out []any
	for _, p := range ps {
		if want == nil || p.ContainerPort == want.Port && p.Proto == want.Proto {
			out = append(out, portRow{HostPort: p.HostString(), IP: p.HostIPString(), PrivatePort: p.ContainerPort,
				PublicPort: p.HostPort, Type: p.Proto})
		}
	}
	return out
}

// displayPorts renders the PORTS column as docker ps does: consecutive
// ports of the same host address and protocol collapse into ranges
// ("0.0.0.0:8000-8002->5000-5002/tcp"), entries separated by ", ".
func displayPorts(ports []model.Port) string {
	ps := append([]model.Port(nil), ports...)
	model.SortPorts(ps)
	var out []string
	for i := 0; i < len(ps); {
		j := i + 1
		for j < len(ps) && ps[j].HostIP == ps[i].HostIP && ps[j].Proto == ps[i].Proto &&
			int(ps[j].ContainerPort)-int(ps[i].ContainerPort) == j-i && int(ps[j].HostPort)-int(ps[i].HostPort) == j-i {
			j++
		}
		first, last := ps[i], ps[j-1]
		if j-i == 1 {
			out = append(out, first.String())
		} else {
			host := first.HostIPString()
			if first.IPv6() {
				host = "[" + host + "]"
			}
			out = append(out, fmt.Sprintf("%s:%d-%d->%d-%d/%s", host, first.HostPort, last.HostPort,
				first.ContainerPort, last.ContainerPort, first.Proto))
		}
		i = j
	}
	return strings.Join(out, ", ")
}
