package main

import (
	"fmt"
	"maps"
	"net/netip"
	"strconv"

	"github.com/netctl/netctl/model"
)

// The shapes below are what `netctl inspect` prints, modelled on
// `docker network inspect` and the network part of `docker inspect`. Field
// names are Docker's (templates written for Docker work), so a few break Go
// naming rules on purpose.

// NetworkView is `netctl inspect` of a network.
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

// ContainerView is `netctl inspect` of a container.
type ContainerView struct {
	Id              string //nolint:revive // Docker's field name
	Name            string
	Project         string
	Config          ContainerConfig
	HostConfig      HostConfigView
	NetworkSettings NetworkSettingsView
}

// ContainerConfig holds the container's hostname and labels.
type ContainerConfig struct {
	Hostname string
	Labels   map[string]string
}

// HostConfigView holds the network mode, name and port settings.
type HostConfigView struct {
	NetworkMode     string
	ExtraHosts      []string
	Dns             []string //nolint:revive // Docker's field name
	PublishAllPorts bool     // the file's publish_all (docker run -P)
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
	NetworkID   string
	EndpointID  string
	Gateway     string
	IPAddress   string
	IPPrefixLen int
	IPv6Gateway string
	// GlobalIPv6Address is the container's IPv6 address on a dual-stack
	// network ("" otherwise), as Docker names it.
	GlobalIPv6Address   string
	GlobalIPv6PrefixLen int
	MacAddress          string
	Aliases             []string
	InterfaceName       string
}

// Labels netctl shows on every object besides the file's own, the ones
// Docker Compose puts on what it creates: scripts that select a project's
// objects by label (`--filter label=com.docker.compose.project=shop`) work
// unchanged.
const (
	labelProject = "com.docker.compose.project"
	labelService = "com.docker.compose.service"
	labelNetwork = "com.docker.compose.network"
)

// networkLabels are a network's labels as shown: the file's, plus the
// project's for a project's own network.
func networkLabels(n *model.Network) map[string]string {
	out := maps.Clone(n.Labels)
	if out == nil {
		out = map[string]string{}
	}
	if !n.Shared() {
		out[labelProject] = n.Project
		out[labelNetwork] = n.Name
	}
	return out
}

func containerLabels(c *model.Container) map[string]string {
	return map[string]string{labelProject: c.Project, labelService: c.Name}
}

// builtinView is `inspect host` or `inspect none`: no bridge, no
// addresses; the containers in that network mode are its members.
func builtinView(st *model.State, name string) NetworkView {
	driver := "host"
	if name == model.NoneNetwork {
		driver = "null"
	}
	v := NetworkView{
		Name: name, Id: model.NetworkObjectID("", name), Scope: "local", Driver: driver,
		IPAM:       IPAMView{Driver: "default", Config: []IPAMConfig{}},
		Containers: map[string]EndpointView{},
		Options:    map[string]string{},
		Labels:     map[string]string{},
	}
	for _, id := range st.SortedContainerIDs() {
		c := st.Containers[id]
		if string(c.Mode) == name {
			v.Containers[model.ContainerObjectID(c.Project, c.Name)] = EndpointView{
				Name:       c.Name,
				EndpointID: model.EndpointObjectID(c.ID(), model.NetworkID("", name)),
			}
		}
	}
	return v
}

func networkView(st *model.State, n *model.Network) NetworkView {
	v := NetworkView{
		Name:       n.Name,
		Id:         model.NetworkObjectID(n.Project, n.Name),
		Project:    n.Project,
		Scope:      "local",
		Driver:     orDefault(n.Driver, "bridge"),
		Internal:   n.Internal,
		IPAM:       IPAMView{Driver: "default", Config: []IPAMConfig{}},
		Containers: map[string]EndpointView{},
		Options: map[string]string{
			"com.docker.network.bridge.name":                 n.Bridge,
			"com.docker.network.driver.mtu":                  strconv.Itoa(n.MTU),
			"com.docker.network.bridge.enable_icc":           strconv.FormatBool(n.ICC),
			"com.docker.network.bridge.enable_ip_masquerade": strconv.FormatBool(!n.Internal),
		},
		Labels: networkLabels(n),
	}
	addOverlayView(&v, n)
	if n.Subnet.IsValid() {
		cfg := IPAMConfig{Subnet: n.Subnet.String(), Gateway: n.Gateway.String()}
		if n.IPRange.IsValid() {
			cfg.IPRange = n.IPRange.String()
		}
		v.IPAM.Config = []IPAMConfig{cfg}
	}
	if n.EnableIPv6 {
		// Docker's second IPAM entry: the IPv6 subnet, with its gateway.
		v.EnableIPv6 = true
		v.Options["com.docker.network.enable_ipv6"] = "true"
		if n.SubnetV6.IsValid() {
			v.IPAM.Config = append(v.IPAM.Config, IPAMConfig{Subnet: n.SubnetV6.String(), Gateway: n.GatewayV6.String()})
		}
	}
	for _, id := range st.SortedContainerIDs() {
		c := st.Containers[id]
		if ep := c.Endpoint(n.ID()); ep != nil {
			v.Containers[model.ContainerObjectID(c.Project, c.Name)] = EndpointView{
				Name:        c.Name,
				EndpointID:  model.EndpointObjectID(c.ID(), n.ID()),
				MacAddress:  ep.MAC.String(),
				IPv4Address: prefixOrEmpty(ep.Addr),
				IPv6Address: prefixOrEmpty(ep.AddrV6),
			}
		}
	}
	return v
}

func containerView(st *model.State, c *model.Container) ContainerView {
	v := ContainerView{
		Id:      model.ContainerObjectID(c.Project, c.Name),
		Name:    "/" + c.Name,
		Project: c.Project,
		Config:  ContainerConfig{Hostname: c.Hostname, Labels: containerLabels(c)},
		HostConfig: HostConfigView{
			NetworkMode:     string(c.Mode),
			ExtraHosts:      []string{},
			Dns:             []string{},
			PublishAllPorts: c.PublishAll,
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
		v.HostConfig.Dns = append(v.HostConfig.Dns, a.String())
	}
	if c.Mode == model.ModeHost || c.Mode == model.ModeNone {
		// Docker lists the built-in network of these modes, with no address.
		nid := model.NetworkID("", string(c.Mode))
		v.NetworkSettings.Networks[string(c.Mode)] = &NetworkEndpointView{
			NetworkID:  model.NetworkObjectID("", string(c.Mode)),
			EndpointID: model.EndpointObjectID(c.ID(), nid),
			Aliases:    []string{},
		}
	}
	for i, ep := range c.Endpoints {
		name := model.IDName(ep.Network)
		if i == 0 && c.Mode == model.ModeBridge {
			v.HostConfig.NetworkMode = name
		}
		nv := &NetworkEndpointView{
			NetworkID:     model.ObjectID(model.IDKindNetwork, ep.Network),
			EndpointID:    model.EndpointObjectID(c.ID(), ep.Network),
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
		if ep.AddrV6.IsValid() {
			nv.GlobalIPv6Address, nv.GlobalIPv6PrefixLen = ep.AddrV6.Addr().String(), ep.AddrV6.Bits()
		}
		if n := st.Networks[ep.Network]; n != nil && n.Gateway.IsValid() {
			nv.Gateway = n.Gateway.String()
		}
		if n := st.Networks[ep.Network]; n != nil && n.GatewayV6.IsValid() && ep.AddrV6.IsValid() {
			nv.IPv6Gateway = n.GatewayV6.String()
		}
		v.NetworkSettings.Networks[name] = nv
	}
	return v
}

func prefixOrEmpty(p netip.Prefix) string {
	if !p.IsValid() {
		return ""
	}
	return p.String()
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// portBindings is NetworkSettings.Ports: every published container port
// with its host sides, and every exposed one that is not published with
// none (null), as docker inspect shows them.
func portBindings(c *model.Container) map[string][]PortBinding {
	out := map[string][]PortBinding{}
	for _, e := range c.Expose {
		out[fmt.Sprintf("%d/%s", e.Port, e.Proto)] = nil
	}
	ps := append([]model.Port(nil), c.Ports...)
	model.SortPorts(ps)
	for _, p := range ps {
		key := fmt.Sprintf("%d/%s", p.ContainerPort, p.Proto)
		out[key] = append(out[key], PortBinding{HostIp: p.HostIPString(), HostPort: strconv.Itoa(int(p.HostPort))})
	}
	return out
}
