package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"text/template"

	"github.com/spf13/cobra"

	"github.com/netctl/netctl/model"
)

// objectID is a Docker-looking 64-hex ID derived from a stable identity.
func objectID(kind, id string) string {
	sum := sha256.Sum256([]byte(kind + ":" + id))
	return hex.EncodeToString(sum[:])
}

// NetworkView is `netctl inspect` of a network, shaped like
// `docker network inspect`.
type NetworkView struct {
	Name       string
	Id         string //nolint:revive // Docker's field name
	Project    string
	Scope      string
	Driver     string
	EnableIPv6 bool
	IPAM       IPAMView
	Internal   bool
	Containers map[string]EndpointView
	Options    map[string]string
	Labels     map[string]string
	// Peers are an overlay's other nodes, as docker network inspect shows
	// a swarm overlay's (here by underlay address).
	Peers []PeerView `json:",omitempty"`
}

// PeerView is one other node of an overlay network.
type PeerView struct {
	Name string
	IP   string
}

// IPAMView is a network's address configuration.
type IPAMView struct {
	Driver string
	Config []IPAMConfig
}

// IPAMConfig is one subnet.
type IPAMConfig struct {
	Subnet  string
	Gateway string
	IPRange string `json:",omitempty"`
}

// EndpointView is a container as a network sees it.
type EndpointView struct {
	Name        string
	EndpointID  string
	MacAddress  string
	IPv4Address string
	IPv6Address string
}

// ContainerView is `netctl inspect` of a container, shaped like the
// network-related part of `docker inspect`.
type ContainerView struct {
	Id              string //nolint:revive // Docker's field name
	Name            string
	Project         string
	Config          ContainerConfig
	HostConfig      HostConfigView
	NetworkSettings NetworkSettingsView
}

// ContainerConfig holds the container's hostname.
type ContainerConfig struct{ Hostname string }

// HostConfigView holds the network mode.
type HostConfigView struct {
	NetworkMode string
	ExtraHosts  []string
	DNS         []string `json:"Dns"`
}

// NetworkSettingsView is where Docker reports a container's networking.
type NetworkSettingsView struct {
	SandboxKey string
	Networks   map[string]*NetworkEndpointView
	Ports      map[string][]PortBinding
}

// PortBinding is one published host port.
type PortBinding struct {
	HostIp   string //nolint:revive // Docker's field name
	HostPort string
}

// NetworkEndpointView is a container's settings on one network.
type NetworkEndpointView struct {
	NetworkID     string
	EndpointID    string
	Gateway       string
	IPAddress     string
	IPPrefixLen   int
	MacAddress    string
	Aliases       []string
	InterfaceName string
}

func networkView(st *model.State, n *model.Network) NetworkView {
	v := NetworkView{
		Name:       n.Name,
		Id:         objectID("network", n.ID()),
		Project:    n.Project,
		Scope:      "local",
		Driver:     orDefault(n.Driver, "bridge"),
		Internal:   n.Internal,
		IPAM:       IPAMView{Driver: "default"},
		Containers: map[string]EndpointView{},
		Options: map[string]string{
			"com.docker.network.bridge.name":                 n.Bridge,
			"com.docker.network.driver.mtu":                  fmt.Sprint(n.MTU),
			"com.docker.network.bridge.enable_icc":           fmt.Sprint(n.ICC),
			"com.docker.network.bridge.enable_ip_masquerade": fmt.Sprint(!n.Internal),
		},
		Labels: n.Labels,
	}
	if v.Labels == nil {
		v.Labels = map[string]string{}
	}
	addOverlayView(&v, n)
	if n.Subnet.IsValid() {
		cfg := IPAMConfig{Subnet: n.Subnet.String(), Gateway: n.Gateway.String()}
		if n.IPRange.IsValid() {
			cfg.IPRange = n.IPRange.String()
		}
		v.IPAM.Config = []IPAMConfig{cfg}
	}
	for _, id := range st.SortedContainerIDs() {
		c := st.Containers[id]
		if ep := c.Endpoint(n.ID()); ep != nil {
			v.Containers[objectID("container", c.ID())] = EndpointView{
				Name:        c.Name,
				EndpointID:  objectID("endpoint", c.ID()+"@"+n.ID()),
				MacAddress:  ep.MAC.String(),
				IPv4Address: prefixOrEmpty(ep.Addr),
			}
		}
	}
	return v
}

func containerView(st *model.State, c *model.Container) ContainerView {
	v := ContainerView{
		Id:      objectID("container", c.ID()),
		Name:    "/" + c.Name,
		Project: c.Project,
		Config:  ContainerConfig{Hostname: c.Hostname},
		HostConfig: HostConfigView{
			NetworkMode: string(c.Mode),
			ExtraHosts:  []string{},
			DNS:         []string{},
		},
		NetworkSettings: NetworkSettingsView{
			SandboxKey: c.Netns,
			Networks:   map[string]*NetworkEndpointView{},
			Ports:      portBindings(c),
		},
	}
	for _, h := range c.ExtraHosts {
		for _, name := range h.Names {
			v.HostConfig.ExtraHosts = append(v.HostConfig.ExtraHosts, name+":"+h.IP.String())
		}
	}
	for _, a := range c.DNS {
		v.HostConfig.DNS = append(v.HostConfig.DNS, a.String())
	}
	for i, ep := range c.Endpoints {
		name := model.IDName(ep.Network)
		if i == 0 && c.Mode == model.ModeBridge {
			v.HostConfig.NetworkMode = name
		}
		nv := &NetworkEndpointView{
			NetworkID:     objectID("network", ep.Network),
			EndpointID:    objectID("endpoint", c.ID()+"@"+ep.Network),
			MacAddress:    ep.MAC.String(),
			Aliases:       ep.Aliases,
			InterfaceName: ep.IfName,
		}
		if nv.Aliases == nil {
			nv.Aliases = []string{}
		}
		if ep.Addr.IsValid() {
			nv.IPAddress, nv.IPPrefixLen = ep.Addr.Addr().String(), ep.Addr.Bits()
		}
		if n := st.Networks[ep.Network]; n != nil && n.Gateway.IsValid() {
			nv.Gateway = n.Gateway.String()
		}
		v.NetworkSettings.Networks[name] = nv
	}
	return v
}

func prefixOrEmpty(p interface{ IsValid() bool }) string {
	if !p.IsValid() {
		return ""
	}
	return fmt.Sprint(p)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// templateFuncs are the helpers Docker's --format offers.
var templateFuncs = template.FuncMap{
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
	"join":  strings.Join,
	"lower": strings.ToLower,
	"upper": strings.ToUpper,
	"split": strings.Split,
	"title": func(s string) string {
		if s == "" {
			return s
		}
		return strings.ToUpper(s[:1]) + s[1:]
	},
}

func (a *app) lsCommand() *cobra.Command {
	var quiet bool
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"network-ls"},
		Short:   "List networks (observed on the host), like docker network ls",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := a.observe(cmd)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(a.stdout, 0, 4, 3, ' ', 0)
			if !quiet {
				fmt.Fprintln(w, "NETWORK ID\tNAME\tDRIVER\tSCOPE\tPROJECT\tSUBNET\tBRIDGE")
			}
			for _, id := range st.SortedNetworkIDs() {
				n := st.Networks[id]
				if quiet {
					fmt.Fprintln(w, objectID("network", id)[:12])
					continue
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", objectID("network", id)[:12], n.Name,
					orDefault(n.Driver, "bridge"), networkScope(n), orDefault(n.Project, "-"), prefixOrEmpty(n.Subnet), orDefault(n.Bridge, "(missing)"))
			}
			if !quiet {
				fmt.Fprintf(w, "%s\thost\thost\tlocal\t-\t\t\n", objectID("network", "/host")[:12])
				fmt.Fprintf(w, "%s\tnone\tnull\tlocal\t-\t\t\n", objectID("network", "/none")[:12])
			}
			return w.Flush()
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only network IDs")
	return cmd
}

func (a *app) psCommand() *cobra.Command {
	var project string
	cmd := &cobra.Command{
		Use:   "ps",
		Short: "List containers (observed on the host), like docker ps",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := a.observe(cmd)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(a.stdout, 0, 4, 3, ' ', 0)
			nodes := anyNode(st)
			fmt.Fprint(w, "CONTAINER ID\tNAMES\tPROJECT\tNETWORKS\tADDRESSES\tPORTS")
			if nodes {
				fmt.Fprint(w, "\tNODE")
			}
			fmt.Fprintln(w)
			for _, id := range st.SortedContainerIDs() {
				c := st.Containers[id]
				if project != "" && c.Project != project {
					continue
				}
				var nets, addrs []string
				for _, ep := range c.Endpoints {
					nets = append(nets, model.IDName(ep.Network))
					addrs = append(addrs, ep.Addr.Addr().String())
				}
				if len(nets) == 0 {
					nets = []string{string(c.Mode)}
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s", objectID("container", id)[:12], c.Name, c.Project,
					strings.Join(nets, ","), strings.Join(addrs, ","), displayPorts(c.Ports))
				if nodes {
					fmt.Fprintf(w, "\t%s", orDefault(c.Node, "-"))
				}
				fmt.Fprintln(w)
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVarP(&project, "project", "p", "", "only this project's containers")
	return cmd
}

func (a *app) inspectCommand() *cobra.Command {
	var format, project string
	cmd := &cobra.Command{
		Use:   "inspect NAME... [--format TEMPLATE]",
		Short: "Show networks or containers as JSON, like docker inspect",
		Long: "NAME is a network or container name, optionally as PROJECT/NAME. --format takes a Go\n" +
			"template, e.g. '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}'.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := a.observe(cmd)
			if err != nil {
				return err
			}
			var views []any
			for _, arg := range args {
				v, err := findView(st, project, arg)
				if err != nil {
					return err
				}
				views = append(views, v)
			}
			return writeViews(a.stdout, views, format)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Go template applied to each object")
	cmd.Flags().StringVarP(&project, "project", "p", "", "look names up in this project")
	return cmd
}

// findView resolves a name to one network or container, refusing ambiguity.
func findView(st *model.State, project, arg string) (any, error) {
	if p, name, ok := model.SplitID(arg); ok {
		project, arg = p, name
	}
	var found []any
	var where []string
	for _, id := range st.SortedContainerIDs() {
		c := st.Containers[id]
		if c.Name == arg && (project == "" || c.Project == project) {
			found = append(found, containerView(st, c))
			where = append(where, "container "+id)
		}
	}
	for _, id := range st.SortedNetworkIDs() {
		n := st.Networks[id]
		if n.Name == arg && (project == "" || n.Project == project || n.Shared()) {
			found = append(found, networkView(st, n))
			where = append(where, "network "+id)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("no such object: %s", arg)
	case 1:
		return found[0], nil
	}
	return nil, fmt.Errorf("%s is ambiguous (%s): use PROJECT/NAME or --project", arg, strings.Join(where, ", "))
}

func writeViews(w io.Writer, views []any, format string) error {
	if format == "" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "    ")
		return enc.Encode(views)
	}
	tpl, err := template.New("format").Funcs(templateFuncs).Parse(format)
	if err != nil {
		return fmt.Errorf("--format: %w", err)
	}
	for _, v := range views {
		// Templates see the JSON shape, so field names match the JSON.
		var generic any
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &generic); err != nil {
			return err
		}
		if err := tpl.Execute(w, generic); err != nil {
			return fmt.Errorf("--format: %w", err)
		}
		fmt.Fprintln(w)
	}
	return nil
}

// findContainer observes the host and returns the one container NAME (or
// PROJECT/NAME) names.
func (a *app) findContainer(cmd *cobra.Command, project, name string) (*model.Container, error) {
	st, err := a.observe(cmd)
	if err != nil {
		return nil, err
	}
	v, err := findView(st, project, name)
	if err != nil {
		return nil, err
	}
	cv, ok := v.(ContainerView)
	if !ok {
		return nil, fmt.Errorf("%s is a network, not a container", name)
	}
	return st.Containers[model.ContainerID(cv.Project, cv.Name[1:])], nil
}

func (a *app) observe(cmd *cobra.Command) (*model.State, error) {
	r, done, err := a.reconciler()
	if err != nil {
		return nil, err
	}
	defer done()
	return r.Observe(cmd.Context())
}
