package main

import (
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/netctl/netctl/cmd/netctl/internal/format"
	"github.com/netctl/netctl/model"
)

// listFlags are the flags ps and ls share with docker ps / docker network ls.
type listFlags struct {
	format  string
	filters []string
	quiet   bool
	noTrunc bool
}

func (f *listFlags) register(cmd *cobra.Command, what string) {
	cmd.Flags().StringVar(&f.format, "format", "", "format output: 'table', 'table TEMPLATE', 'json' (one object a line) or a Go template")
	cmd.Flags().StringArrayVarP(&f.filters, "filter", "f", nil, "filter output: key=value (repeatable)")
	cmd.Flags().BoolVarP(&f.quiet, "quiet", "q", false, "only "+what+" IDs")
	cmd.Flags().BoolVar(&f.noTrunc, "no-trunc", false, "show full IDs")
}

// list renders the rows. -q wins over --format, as in Docker.
func (f *listFlags) list(defaultFormat string, headers format.Headers) format.List {
	l := format.List{Format: f.format, Default: defaultFormat, Headers: headers}
	if f.quiet {
		l.Format = "{{.ID}}"
	}
	return l
}

func (f *listFlags) id(id string) string {
	if f.noTrunc {
		return id
	}
	return model.ShortID(id)
}

// psRow is one container of `netctl ps`, as templates and `--format json`
// see it. JSON keys come out in field order: keep them sorted, as
// Docker's are.
type psRow struct {
	Addresses string
	Hostname  string
	ID        string
	Labels    string
	Names     string
	Networks  string
	Node      string // overlay topologies: the node the container runs on
	Ports     string
	Project   string

	labels map[string]string
}

// Label is the value of one label, "" when absent.
func (r psRow) Label(name string) string { return r.labels[name] }

var psHeaders = format.Headers{
	"Addresses": "ADDRESSES", "Hostname": "HOSTNAME", "ID": "CONTAINER ID", "Labels": "LABELS",
	"Names": "NAMES", "Networks": "NETWORKS", "Node": "NODE", "Ports": "PORTS", "Project": "PROJECT",
}

const psDefault = "table {{.ID}}\t{{.Names}}\t{{.Project}}\t{{.Networks}}\t{{.Addresses}}\t{{.Ports}}"

// psDefaultNodes adds the NODE column when containers run as nodes of an
// overlay topology.
const psDefaultNodes = psDefault + "\t{{.Node}}"

// lsRow is one network of `netctl ls`.
type lsRow struct {
	Bridge   string
	Driver   string
	ID       string
	IPv6     string
	Internal string
	Labels   string
	Name     string
	Project  string
	Scope    string
	Subnet   string

	labels map[string]string
}

// Label is the value of one label, "" when absent.
func (r lsRow) Label(name string) string { return r.labels[name] }

var lsHeaders = format.Headers{
	"Bridge": "BRIDGE", "Driver": "DRIVER", "ID": "NETWORK ID", "IPv6": "IPV6", "Internal": "INTERNAL",
	"Labels": "LABELS", "Name": "NAME", "Project": "PROJECT", "Scope": "SCOPE", "Subnet": "SUBNET",
}

const lsDefault = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}\t{{.Project}}\t{{.Subnet}}\t{{.Bridge}}"

// joinLabels renders labels as Docker's Labels column does: sorted
// key=value, comma separated.
func joinLabels(labels map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		parts = append(parts, k+"="+labels[k])
	}
	return strings.Join(parts, ",")
}

func (a *app) psCommand() *cobra.Command {
	var f listFlags
	var project string
	cmd := &cobra.Command{
		Use:   "ps",
		Short: "List containers (observed on the host), like docker ps",
		Long: "Filters (--filter key=value, repeatable; one key's values are alternatives, keys combine):\n" +
			"  id=PREFIX, name=REGEXP, network=NAME|ID, label=KEY[=VALUE], project=NAME, node=NAME",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			flt, err := parseFilters(f.filters, "id", "name", "network", "label", "project", "node")
			if err != nil {
				return err
			}
			if project != "" {
				flt["project"] = append(flt["project"], project)
			}
			st, err := a.observe(cmd)
			if err != nil {
				return err
			}
			def := psDefault
			if anyNode(st) {
				def = psDefaultNodes
			}
			return f.list(def, psHeaders).Write(a.stdout, psRows(newCatalog(st), flt, &f))
		},
	}
	f.register(cmd, "container")
	cmd.Flags().StringVarP(&project, "project", "p", "", "only this project's containers (as --filter project=NAME)")
	return cmd
}

// psRows are the containers the filters let through, as `netctl ps`
// shows them.
func psRows(cat *catalog, flt filters, f *listFlags) []any {
	var rows []any
	for _, o := range cat.ofKind(kindContainer) {
		if r, ok := psRowOf(cat, o, flt, f); ok {
			rows = append(rows, r)
		}
	}
	return rows
}

func psRowOf(cat *catalog, o object, flt filters, f *listFlags) (psRow, bool) {
	c := o.container
	labels := containerLabels(c)
	var nets, addrs []string
	for _, ep := range c.Endpoints {
		nets = append(nets, model.IDName(ep.Network))
		for _, a := range ep.Addrs() {
			addrs = append(addrs, a.String())
		}
	}
	if len(nets) == 0 {
		nets = []string{string(c.Mode)}
	}
	onNetwork := func(ref string) bool {
		n, err := cat.find(ref, kindNetwork, c.Project)
		if err != nil {
			return false
		}
		if n.network == nil {
			return string(c.Mode) == n.name
		}
		return c.Endpoint(n.network.ID()) != nil
	}
	if !flt.id(o.id) || !flt.name(c.Name) || !flt.exact("project", c.Project) || !flt.exact("node", c.Node) || !flt.label(labels) ||
		!flt.match("network", onNetwork) {
		return psRow{}, false
	}
	return psRow{
		Addresses: strings.Join(addrs, ","),
		Hostname:  c.Hostname,
		Node:      c.Node,
		ID:        f.id(o.id),
		Labels:    joinLabels(labels),
		Names:     c.Name,
		Networks:  strings.Join(nets, ","),
		Ports:     displayPorts(c.Ports),
		Project:   c.Project,
		labels:    labels,
	}, true
}

func (a *app) lsCommand() *cobra.Command {
	var f listFlags
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"network-ls"},
		Short:   "List networks (observed on the host), like docker network ls",
		Long: "Filters (--filter key=value, repeatable; one key's values are alternatives, keys combine):\n" +
			"  id=PREFIX, name=REGEXP, driver=DRIVER, label=KEY[=VALUE], project=NAME, type=custom|builtin, scope=local|swarm",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			flt, err := parseFilters(f.filters, "id", "name", "driver", "label", "project", "type", "scope")
			if err != nil {
				return err
			}
			st, err := a.observe(cmd)
			if err != nil {
				return err
			}
			return f.list(lsDefault, lsHeaders).Write(a.stdout, lsRows(newCatalog(st), flt, &f))
		},
	}
	f.register(cmd, "network")
	return cmd
}

// lsRows are the networks the filters let through, built-in ones
// included, as `netctl ls` shows them.
func lsRows(cat *catalog, flt filters, f *listFlags) []any {
	var rows []any
	for _, o := range cat.ofKind(kindNetwork) {
		if r, ok := lsRowOf(o, flt, f); ok {
			rows = append(rows, r)
		}
	}
	return rows
}

func lsRowOf(o object, flt filters, f *listFlags) (lsRow, bool) {
	r := lsRow{ID: f.id(o.id), Name: o.name, Project: o.project, Scope: "local", IPv6: "false", Internal: "false"}
	typ := "builtin"
	switch n := o.network; {
	case n == nil:
		r.Driver = o.name
		if o.name == model.NoneNetwork {
			r.Driver = "null"
		}
		r.labels = map[string]string{}
	default:
		if !n.Shared() {
			typ = "custom"
		}
		r.Driver = orDefault(n.Driver, "bridge")
		r.Scope = networkScope(n)
		r.Subnet = prefixOrEmpty(n.Subnet)
		r.Bridge = n.Bridge
		r.Internal = strconv.FormatBool(n.Internal)
		r.IPv6 = strconv.FormatBool(n.EnableIPv6)
		r.labels = networkLabels(n)
	}
	r.Labels = joinLabels(r.labels)
	ok := flt.id(o.id) && flt.name(o.name) && flt.exact("driver", r.Driver) && flt.exact("project", o.project) &&
		flt.label(r.labels) && flt.exact("type", typ) && flt.exact("scope", r.Scope)
	return r, ok
}
