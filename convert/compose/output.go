package compose

import (
	"bytes"
	"fmt"
	"strconv"

	"gopkg.in/yaml.v3"

	"github.com/netctl/netctl/spec/schema"
)

// The output's shape: the topology file's keys (spec/schema), in the
// README's order, with yaml.v3 nodes where order matters.

type topology struct {
	Name       string
	Networks   []named[*network]
	Containers []named[*container]
}

type named[T any] struct {
	name string
	val  T
}

type network struct {
	Driver     string            `yaml:"driver,omitempty"`
	Subnet     string            `yaml:"subnet,omitempty"`
	Gateway    string            `yaml:"gateway,omitempty"`
	IPRange    string            `yaml:"ip_range,omitempty"`
	Internal   bool              `yaml:"internal,omitempty"`
	ICC        *bool             `yaml:"icc,omitempty"`
	MTU        int               `yaml:"mtu,omitempty"`
	BridgeName string            `yaml:"bridge_name,omitempty"`
	EnableIPv6 bool              `yaml:"enable_ipv6,omitempty"`
	SubnetV6   string            `yaml:"subnet_v6,omitempty"`
	GatewayV6  string            `yaml:"gateway_v6,omitempty"`
	Labels     map[string]string `yaml:"labels,omitempty"`
}

type container struct {
	Hostname    string            `yaml:"hostname,omitempty"`
	NetworkMode string            `yaml:"network_mode,omitempty"`
	Networks    *attachments      `yaml:"networks,omitempty"`
	Expose      []port            `yaml:"expose,omitempty,flow"`
	Env         map[string]string `yaml:"env,omitempty"`
	Ports       []quoted          `yaml:"ports,omitempty"`
	DNS         []string          `yaml:"dns,omitempty,flow"`
	ExtraHosts  []quoted          `yaml:"extra_hosts,omitempty,flow"`
	Links       []quoted          `yaml:"links,omitempty,flow"`
}

// quoted is written in double quotes, as Compose's documentation writes
// ports: "80:5000" unquoted is a base-60 number to YAML 1.1 readers.
type quoted string

// MarshalYAML quotes.
func (q quoted) MarshalYAML() (any, error) {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Style: yaml.DoubleQuotedStyle, Value: string(q)}, nil
}

// port is an expose entry: a bare number when it is one.
type port string

// MarshalYAML writes 5432 rather than "5432".
func (p port) MarshalYAML() (any, error) {
	if _, err := strconv.ParseUint(string(p), 10, 16); err == nil {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: string(p)}, nil
	}
	return quoted(p).MarshalYAML()
}

type attachment struct {
	IPv4Address string   `yaml:"ipv4_address,omitempty"`
	IPv6Address string   `yaml:"ipv6_address,omitempty"`
	Aliases     []string `yaml:"aliases,omitempty,flow"`
}

// attachments are a container's networks in order: the list form when
// none has settings, else the map form.
type attachments struct {
	names    []string
	settings []*attachment
}

func (as *attachments) alias(a string) {
	for len(as.settings) < len(as.names) {
		as.settings = append(as.settings, &attachment{})
	}
	for _, s := range as.settings {
		s.Aliases = append(s.Aliases, a)
	}
}

// MarshalYAML keeps the order, which is the order of the interfaces.
func (as *attachments) MarshalYAML() (any, error) {
	plain := true
	for _, s := range as.settings {
		if s != nil && (s.IPv4Address != "" || s.IPv6Address != "" || len(s.Aliases) > 0) {
			plain = false
		}
	}
	if plain {
		n := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for _, name := range as.names {
			n.Content = append(n.Content, str(name))
		}
		return n, nil
	}
	n := &yaml.Node{Kind: yaml.MappingNode}
	for i, name := range as.names {
		var v yaml.Node
		a := &attachment{}
		if i < len(as.settings) && as.settings[i] != nil {
			a = as.settings[i]
		}
		if err := v.Encode(a); err != nil {
			return nil, err
		}
		if len(v.Content) == 0 {
			v.Style = yaml.FlowStyle
		}
		n.Content = append(n.Content, str(name), &v)
	}
	return n, nil
}

func str(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

// encode renders the topology with a header naming its source.
func (t *topology) encode(source string) ([]byte, error) {
	root := &yaml.Node{Kind: yaml.MappingNode}
	root.Content = append(root.Content, str("name"), str(t.Name))
	for _, sec := range []struct {
		key   string
		items int
		get   func(i int) (string, any)
	}{
		{"networks", len(t.Networks), func(i int) (string, any) { return t.Networks[i].name, t.Networks[i].val }},
		{"containers", len(t.Containers), func(i int) (string, any) { return t.Containers[i].name, t.Containers[i].val }},
	} {
		if sec.items == 0 {
			continue
		}
		body := &yaml.Node{Kind: yaml.MappingNode}
		for i := range sec.items {
			name, val := sec.get(i)
			var v yaml.Node
			if err := v.Encode(val); err != nil {
				return nil, err
			}
			if len(v.Content) == 0 {
				v.Style = yaml.FlowStyle
			}
			body.Content = append(body.Content, str(name), &v)
		}
		root.Content = append(root.Content, str(sec.key), body)
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# yaml-language-server: $schema=%s\n", schema.ID)
	fmt.Fprintf(&buf, "# Converted from %s by netctl convert.\n", source)
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
