// Package schema is the JSON Schema of the topology file, reflected from
// Go types shaped like the file (spec's types are the parsed, defaulted
// form, with positions, and do not match the file 1:1). Editors use the
// schema to complete and check topology files; tests tie its keys to the
// keys spec's parser accepts, so the two cannot drift apart.
package schema

import (
	"bytes"
	"encoding/json"
	"reflect"
	"sort"
	"strings"

	"github.com/invopop/jsonschema"
)

// ID is where the committed schema is published; the README shows it in
// the yaml-language-server modeline.
const ID = "https://raw.githubusercontent.com/netctl/netctl/main/schema/netctl.schema.json"

// Patterns of the names spec checks (model.IsLabel, model.IsIfname,
// model.IsEnvName), kept loose where the parser reports a better error.
const (
	labelPattern   = `^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`
	dnsNamePattern = `^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$`
	envPattern     = `^[A-Za-z_][A-Za-z0-9_]*$`
	ifnamePattern  = `^[A-Za-z0-9_.-]{1,15}$`
	cidr4Pattern   = `^[0-9]{1,3}(\.[0-9]{1,3}){3}/[0-9]{1,2}$`
	cidr6Pattern   = `^[0-9A-Fa-f:.]+/[0-9]{1,3}$`
	// Docker's -p syntax: [[HOST_IP:][HOST_PORT[-END]]:]PORT[-END][/PROTO];
	// the host address may be IPv6 in brackets.
	portPattern   = `^((\[[0-9A-Fa-f:.]+\]|[0-9.]+):)?(([0-9]+(-[0-9]+)?)?:)?[0-9]+(-[0-9]+)?(/(tcp|udp|sctp))?$`
	exposePattern = `^[0-9]+(/(tcp|udp|sctp))?$`
)

// File is a topology file.
type File struct {
	Name       string                `json:"name,omitempty" jsonschema_description:"Project name: scopes everything netctl owns (kernel names, marks, files). A DNS label. Default: the file's base name without extension."`
	Networks   map[string]*Network   `json:"networks,omitempty" jsonschema_description:"User-defined networks, by name (a DNS label). The default network bridge may be listed to change its settings; host and none are built in and cannot be declared."`
	Containers map[string]*Container `json:"containers,omitempty" jsonschema_description:"Containers (network namespaces), by name (a DNS label)."`
	Nodes      map[string]*Node      `json:"nodes,omitempty" jsonschema_description:"Hosts that share overlay networks, by name (a DNS label)."`
}

// JSONSchemaExtend adds what struct tags cannot say: the pattern of the
// names, null entries (`frontend:` means `frontend: {}`), and Compose's
// x- extension keys, a home for YAML anchors.
func (File) JSONSchemaExtend(s *jsonschema.Schema) {
	s.Title = "netctl topology"
	s.Description = "A netctl topology file: networks, containers and how they are wired. See TOPOLOGY.md and the README."
	s.PatternProperties = map[string]*jsonschema.Schema{
		"^x-": {Description: "An extension field, ignored by netctl: a place for YAML anchors."},
	}
	name := s.Properties.Value("name")
	name.Pattern = labelPattern
	nameable(s, "networks", &jsonschema.Schema{
		Pattern: labelPattern,
		Not:     &jsonschema.Schema{Enum: []any{"host", "none"}},
	})
	nameable(s, "containers", &jsonschema.Schema{Pattern: labelPattern})
	// A node needs its address: no null entries.
	s.Properties.Value("nodes").PropertyNames = &jsonschema.Schema{Pattern: labelPattern}
}

// nameable constrains the names of a map property and lets its entries be
// null.
func nameable(s *jsonschema.Schema, prop string, names *jsonschema.Schema) {
	p := s.Properties.Value(prop)
	p.PropertyNames = names
	p.AdditionalProperties = orNull(p.AdditionalProperties)
}

// orNull lets a value be null as well: an empty YAML entry.
func orNull(v *jsonschema.Schema) *jsonschema.Schema {
	return &jsonschema.Schema{AnyOf: []*jsonschema.Schema{v, {Type: "null"}}}
}

// Network is one entry of `networks:`.
type Network struct {
	Driver     string `json:"driver,omitempty" jsonschema:"enum=bridge,enum=overlay,default=bridge" jsonschema_description:"bridge (default): a Linux bridge on this host. overlay: a VXLAN network across the file's nodes."`
	Subnet     string `json:"subnet,omitempty" jsonschema_description:"IPv4 subnet in CIDR notation, host bits zero, e.g. 172.18.0.0/16. Default: a free /16 from the pool 172.18-31.0.0/16, then 192.168.x.0/20, skipping prefixes routed on the host."`
	Gateway    string `json:"gateway,omitempty" jsonschema:"format=ipv4" jsonschema_description:"IPv4 address of the bridge, inside subnet. Default: the subnet's first host address."`
	IPRange    string `json:"ip_range,omitempty" jsonschema_description:"Part of subnet (CIDR) that dynamic addresses come from. Default: the whole subnet."`
	Internal   bool   `json:"internal,omitempty" jsonschema_description:"true: no route out, no masquerade and no published ports; containers only reach each other."`
	ICC        *bool  `json:"icc,omitempty" jsonschema:"default=true" jsonschema_description:"Inter-container communication. false: containers on this network cannot talk to each other, except along links."`
	MTU        int    `json:"mtu,omitempty" jsonschema:"minimum=68,maximum=65535,default=1500" jsonschema_description:"MTU of the bridge and of every container interface on it."`
	BridgeName string `json:"bridge_name,omitempty" jsonschema_description:"Kernel name of the bridge (at most 15 bytes). Default: derived from the project and network names. The default network's bridge is always netctl0."`
	EnableIPv6 bool   `json:"enable_ipv6,omitempty" jsonschema_description:"true: dual stack; every container on the network also gets an IPv6 address."`
	SubnetV6   string `json:"subnet_v6,omitempty" jsonschema_description:"IPv6 subnet in CIDR notation, e.g. fd00:18::/64. Default: from a ULA pool."`
	GatewayV6  string `json:"gateway_v6,omitempty" jsonschema:"format=ipv6" jsonschema_description:"IPv6 address of the bridge, inside subnet_v6. Default: the subnet's first address."`
	// MasqueradeV6 is netctl's own key: the contract has no IPv6 NAT switch.
	MasqueradeV6 *bool             `json:"masquerade_v6,omitempty" jsonschema:"default=true" jsonschema_description:"true (default, as Docker): IPv6 traffic leaving the host from subnet_v6 is masqueraded. false: it keeps the containers' own addresses, for a subnet_v6 the outside routes to this host. Needs enable_ipv6."`
	Labels       map[string]Scalar `json:"labels,omitempty" jsonschema_description:"Free-form key/value metadata, shown by netctl inspect. A null value is the empty string."`
	VNI          int               `json:"vni,omitempty" jsonschema:"minimum=1,maximum=16777215" jsonschema_description:"VXLAN network identifier of an overlay network (driver: overlay only), the same on every node. Default: derived from the project and network names."`
}

// JSONSchemaExtend adds the formats of the fields.
func (Network) JSONSchemaExtend(s *jsonschema.Schema) {
	s.Description = "A network: a Linux bridge (or an overlay) with its subnet, gateway and policies."
	s.Properties.Value("subnet").Pattern = cidr4Pattern
	s.Properties.Value("ip_range").Pattern = cidr4Pattern
	s.Properties.Value("subnet_v6").Pattern = cidr6Pattern
	s.Properties.Value("bridge_name").Pattern = ifnamePattern
	labels := s.Properties.Value("labels")
	labels.AdditionalProperties = orNull(labels.AdditionalProperties)
}

// Container is one entry of `containers:`.
type Container struct {
	Hostname    string                 `json:"hostname,omitempty" jsonschema_description:"Host name inside the container (a DNS name), also resolvable by other containers. Default: the container's name."`
	Networks    map[string]*Attachment `json:"networks,omitempty" jsonschema_description:"Networks the container joins, in interface order (eth0, eth1, ...): a list of names, or a mapping of names to per-network settings. Default: the network bridge, unless network_mode is set."`
	NetworkMode string                 `json:"network_mode,omitempty" jsonschema:"enum=host,enum=none" jsonschema_description:"host: the host's network namespace; none: loopback only. No other network settings are allowed with it."`
	Expose      []Port                 `json:"expose,omitempty" jsonschema_description:"Ports the container listens on, PORT or PORT/PROTO (tcp, udp, sctp): shown to links and opened to them through icc: false, like Dockerfile EXPOSE."`
	Env         map[string]Scalar      `json:"env,omitempty" jsonschema_description:"Environment variables that linking containers see as <ALIAS>_ENV_<NAME> (netctl runs no process; this is what Compose calls environment)."`
	Ports       []Port                 `json:"ports,omitempty" jsonschema_description:"Published ports in Docker's -p syntax: [[HOST_IP:][HOST_PORT[-END]]:]PORT[-END][/PROTO], e.g. \"80:5000\", \"127.0.0.1::5001\", \"8000-9000:5002\", \"53:53/udp\"."`
	PublishAll  bool                   `json:"publish_all,omitempty" jsonschema_description:"true: like docker run -P, every expose port is published on an ephemeral host port (sticky like the others)."`
	DNS         StringOrList           `json:"dns,omitempty" jsonschema_description:"Upstream resolvers for names that are not containers (IP addresses). Default: the host's resolv.conf."`
	ExtraHosts  []string               `json:"extra_hosts,omitempty" jsonschema_description:"Extra /etc/hosts lines, each \"name:ip\"."`
	Links       []string               `json:"links,omitempty" jsonschema_description:"Legacy links, each \"<container>[:<alias>]\": hosts lines, <ALIAS>_* env vars, and the linked container's ports opened through icc: false."`
	NetnsPath   string                 `json:"netns_path,omitempty" jsonschema_description:"An existing network namespace to wire instead of creating one, e.g. /proc/<pid>/ns/net of a Docker or Podman container; netctl never deletes it."`
	Node        string                 `json:"node,omitempty" jsonschema_description:"The node (see nodes) this container runs on; for overlay networks."`
}

// JSONSchemaExtend accepts both forms of `networks` and adds the patterns.
func (Container) JSONSchemaExtend(s *jsonschema.Schema) {
	s.Description = "A container: a network namespace that netctl creates and owns, or an existing one (netns_path)."
	s.Properties.Value("hostname").Pattern = dnsNamePattern
	s.Properties.Value("node").Pattern = labelPattern
	s.Properties.Value("netns_path").Pattern = `^/`
	s.Properties.Value("extra_hosts").Items = &jsonschema.Schema{Type: "string", Pattern: `^[^:]+:.+$`}
	s.Properties.Value("links").Items = &jsonschema.Schema{Type: "string", Pattern: `^[^:]+(:[^:]+)?$`}
	s.Properties.Value("expose").Items = portSchema(exposePattern)
	env := s.Properties.Value("env")
	env.PropertyNames = &jsonschema.Schema{Pattern: envPattern}

	nets := s.Properties.Value("networks")
	asMap := &jsonschema.Schema{
		Type:                 "object",
		MinProperties:        ptr(uint64(1)),
		PropertyNames:        &jsonschema.Schema{Pattern: labelPattern},
		AdditionalProperties: orNull(nets.AdditionalProperties),
	}
	asList := &jsonschema.Schema{
		Type:        "array",
		MinItems:    ptr(uint64(1)),
		UniqueItems: true,
		Items:       &jsonschema.Schema{Type: "string", Pattern: labelPattern},
	}
	s.Properties.Set("networks", &jsonschema.Schema{
		Description: nets.Description,
		OneOf:       []*jsonschema.Schema{asList, asMap},
	})
}

func ptr[T any](v T) *T { return &v }

// Attachment is a container's settings on one network (the map form of
// a container's `networks`).
type Attachment struct {
	IPv4Address string   `json:"ipv4_address,omitempty" jsonschema:"format=ipv4" jsonschema_description:"Static IPv4 address, inside the network's subnet. Default: the next free address (sticky once given)."`
	IPv6Address string   `json:"ipv6_address,omitempty" jsonschema:"format=ipv6" jsonschema_description:"Static IPv6 address, inside the network's subnet_v6 (which must then be set; enable_ipv6 networks only). Default: the next free address (sticky once given)."`
	Aliases     []string `json:"aliases,omitempty" jsonschema_description:"More DNS names (dot-separated labels) of the container on this network; several containers may share one (round robin)."`
}

// JSONSchemaExtend adds the alias pattern.
func (Attachment) JSONSchemaExtend(s *jsonschema.Schema) {
	s.Description = "The container's settings on one network."
	s.Properties.Value("aliases").Items = &jsonschema.Schema{Type: "string", Pattern: dnsNamePattern}
}

// Node is one entry of `nodes:`.
type Node struct {
	Address string `json:"address" jsonschema_description:"The node's underlay IP address: VXLAN endpoints and the node's netctl DNS listen there."`
}

// JSONSchemaExtend makes address an IP of either family.
func (Node) JSONSchemaExtend(s *jsonschema.Schema) {
	s.Description = "A host taking part in overlay networks."
	addr := s.Properties.Value("address")
	addr.Type = ""
	addr.AnyOf = []*jsonschema.Schema{{Type: "string", Format: "ipv4"}, {Type: "string", Format: "ipv6"}}
}

// Port is a port entry of `ports` or `expose`: YAML lets users write it
// as a string or a number.
type Port string

// JSONSchema accepts both.
func (Port) JSONSchema() *jsonschema.Schema { return portSchema(portPattern) }

func portSchema(pattern string) *jsonschema.Schema {
	return &jsonschema.Schema{OneOf: []*jsonschema.Schema{
		{Type: "string", Pattern: pattern},
		{Type: "integer", Minimum: json.Number("1"), Maximum: json.Number("65535")},
	}}
}

// Scalar is a value written as a YAML scalar: a string, number or boolean
// all read as the string they spell.
type Scalar string

// JSONSchema accepts every scalar type.
func (Scalar) JSONSchema() *jsonschema.Schema {
	return &jsonschema.Schema{Type: "", AnyOf: []*jsonschema.Schema{{Type: "string"}, {Type: "number"}, {Type: "boolean"}}}
}

// StringOrList is one value or a list of them, as Compose's `dns`.
type StringOrList []string

// JSONSchema accepts both.
func (StringOrList) JSONSchema() *jsonschema.Schema {
	return &jsonschema.Schema{OneOf: []*jsonschema.Schema{
		{Type: "string"},
		{Type: "array", Items: &jsonschema.Schema{Type: "string"}},
	}}
}

// Reflect returns the schema of the topology file.
func Reflect() *jsonschema.Schema {
	// Properties keep the structs' order, the README's. The file's own
	// keys sit at the root, for editors that do not follow a root $ref.
	s := (&jsonschema.Reflector{ExpandedStruct: true}).Reflect(&File{})
	s.ID = ID
	return s
}

// JSON is the schema as committed in schema/netctl.schema.json: indented,
// with a final newline.
func JSON() ([]byte, error) {
	b, err := json.Marshal(Reflect())
	if err != nil {
		return nil, err
	}
	// encoding/json escapes <, > and & for HTML; the descriptions use
	// them as text, and no string holds a backslash before a u.
	b = []byte(htmlEscapes.Replace(string(b)))
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

var htmlEscapes = strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&")

// Keys returns the keys the file accepts in each kind of mapping: "top",
// "network", "container", "attachment" and "node", each sorted. The
// parser's tests compare them with the keys it accepts.
func Keys() map[string][]string {
	kinds := map[string]reflect.Type{
		"top":        reflect.TypeFor[File](),
		"network":    reflect.TypeFor[Network](),
		"container":  reflect.TypeFor[Container](),
		"attachment": reflect.TypeFor[Attachment](),
		"node":       reflect.TypeFor[Node](),
	}
	out := map[string][]string{}
	for kind, t := range kinds {
		var keys []string
		for i := range t.NumField() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			keys = append(keys, name)
		}
		sort.Strings(keys)
		out[kind] = keys
	}
	return out
}
