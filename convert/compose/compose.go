// Package compose converts a Docker Compose file into a netctl topology.
// compose-go (the Compose specification's reference loader) reads the
// file, so interpolation, env files, extends, include, profiles and every
// short and long syntax behave exactly as in `docker compose`; this
// package maps the networking part of the loaded project onto netctl's
// file format and lists everything else as not converted.
package compose

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/tree"
	"github.com/compose-spec/compose-go/v2/types"
	"gopkg.in/yaml.v3"

	"github.com/netctl/netctl/spec"
)

// Options tune a conversion.
type Options struct {
	// Name overrides the project name (Compose's -p). Default: the
	// file's `name:`, else its directory's name, as Compose does.
	Name string
	// Env is the environment for ${VAR} interpolation, as KEY=value
	// (the command passes os.Environ()); a .env file beside the Compose
	// file adds to it, as in Compose.
	Env []string
	// Profiles enables services of these profiles (Compose's --profile).
	Profiles []string
}

// Note is something of the Compose file that has no netctl equivalent
// and was left out (or changed, as a renamed network), with why.
type Note struct {
	Path string // e.g. "services.web.image"
	Msg  string
}

func (n Note) String() string { return n.Path + ": " + n.Msg }

// Group merges the notes that say the same about the same key of several
// services or networks ("services.{db,web}.image: ..."), for people.
func Group(notes []Note) []string {
	type key struct{ section, rest, msg string }
	var order []key
	names := map[key][]string{}
	for _, n := range notes {
		parts := strings.SplitN(n.Path, ".", 3)
		if len(parts) < 3 || strings.Contains(n.Msg, "\"") {
			parts = []string{n.Path, "", ""}
		}
		k := key{parts[0], parts[len(parts)-1], n.Msg}
		if len(parts) == 3 {
			k.rest = parts[2]
		}
		if _, seen := names[k]; !seen {
			order = append(order, k)
		}
		names[k] = append(names[k], parts[1])
	}
	out := make([]string, 0, len(order))
	for _, k := range order {
		ns := names[k]
		switch {
		case k.rest == "":
			out = append(out, k.section+": "+k.msg)
		case len(ns) == 1:
			out = append(out, k.section+"."+ns[0]+"."+k.rest+": "+k.msg)
		default:
			out = append(out, k.section+".{"+strings.Join(ns, ",")+"}."+k.rest+": "+k.msg)
		}
	}
	return out
}

// Result is a converted topology.
type Result struct {
	// YAML is the netctl topology file; spec.Parse accepts it.
	YAML []byte
	// Notes lists, sorted by path, what was not converted.
	Notes []Note
}

// Convert reads the Compose file at path and returns the netctl topology
// of its networks and services.
func Convert(ctx context.Context, path string, opts Options) (*Result, error) {
	c := &converter{notes: map[string]string{}}
	project, err := load(ctx, path, opts, c)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	order, err := fileOrder(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	out := c.topology(project, order)
	// compose-go screens the file before profiles apply: what it found
	// in services left out by their profiles does not matter.
	for name := range project.DisabledServices {
		c.forget("services." + name + ".")
	}
	b, err := out.encode(filepath.Base(path))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	// The conversion is only useful if netctl accepts it: check here,
	// with the parser every command uses, rather than in the user's
	// first apply.
	if _, err := spec.Parse(out.Name+".yaml", b); err != nil {
		return nil, fmt.Errorf("%s: the converted topology is not valid (please report this): %w", path, err)
	}
	return &Result{YAML: b, Notes: c.sortedNotes()}, nil
}

// supported are the Compose attributes the conversion reads; compose-go
// reports every other one it finds (including attributes the Compose
// specification gains later) through the same walk. Values of supported
// attributes that do not map are noted by the converter itself.
var supported = []tree.Path{
	"name",
	"networks.*.driver",
	"networks.*.driver_opts.*",
	"networks.*.ipam.config.[].subnet",
	"networks.*.ipam.config.[].gateway",
	"networks.*.ipam.config.[].ip_range",
	"networks.*.internal",
	"networks.*.enable_ipv4",
	"networks.*.enable_ipv6",
	"networks.*.labels.*",
	"services.*.container_name",
	"services.*.hostname",
	"services.*.domainname",
	"services.*.profiles",
	"services.*.network_mode",
	"services.*.networks.*.aliases",
	"services.*.networks.*.ipv4_address",
	"services.*.networks.*.ipv6_address",
	"services.*.networks.*.priority",
	"services.*.ports.[].target",
	"services.*.ports.[].published",
	"services.*.ports.[].host_ip",
	"services.*.ports.[].protocol",
	"services.*.ports.[].mode",
	"services.*.ports.[].name",
	"services.*.expose",
	"services.*.links",
	"services.*.extra_hosts",
	"services.*.dns",
	"services.*.environment.*",
	"services.*.env_file.[].path",
	"services.*.env_file.[].required",
	"services.*.env_file.[].format",
}

// load reads the project as `docker compose config` would.
func load(ctx context.Context, path string, opts Options, c *converter) (*types.Project, error) {
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	report := func(found []loader.UnsupportedAttribute) {
		for _, f := range found {
			c.note(string(f.Path), why(f.Path))
		}
	}
	fns := []cli.ProjectOptionsFn{
		cli.WithWorkingDirectory(dir),
		cli.WithEnv(opts.Env),
		cli.WithDotEnv,
		cli.WithProfiles(opts.Profiles),
		cli.WithLoadOptions(
			loader.WithSupportedAttributes(supported, report),
			// Images, builds and volumes do not matter to netctl; a
			// reference to an unknown network is reported by spec.
			func(o *loader.Options) { o.SkipConsistencyCheck = true },
		),
	}
	if opts.Name != "" {
		fns = append(fns, cli.WithName(opts.Name))
	}
	o, err := cli.NewProjectOptions([]string{path}, fns...)
	if err != nil {
		return nil, err
	}
	return o.LoadProject(ctx)
}

// why explains, for the common keys, why they are left out.
func why(p tree.Path) string {
	parts := p.Parts()
	key := parts[len(parts)-1]
	switch {
	case len(parts) == 1:
		return "not converted (netctl describes networks and containers' network namespaces only)"
	case parts[0] != "services" && parts[0] != "networks":
		return "not converted"
	}
	switch key {
	case "image", "build", "command", "entrypoint", "volumes", "working_dir", "user", "restart",
		"deploy", "healthcheck", "depends_on", "stdin_open", "tty", "init", "scale", "labels":
		return "not converted (netctl wires network namespaces; it does not run containers)"
	case "mac_address":
		return "not converted (netctl derives MACs from the IPv4 address, as Docker does)"
	case "external":
		return "not converted (netctl declares and owns the network itself)"
	case "dns_search", "dns_opt":
		return "not converted (netctl writes the containers' resolv.conf with its own DNS server)"
	}
	return "not converted (no netctl equivalent)"
}

// fileOrder is the order of the services and networks in the file, which
// compose-go's maps lose: netctl hands out dynamic addresses in file
// order, and a converted file reads best in the order it was written.
func fileOrder(path string) (map[string][]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(b)).Decode(&doc); err != nil || len(doc.Content) == 0 {
		return map[string][]string{}, nil //nolint:nilerr // compose-go reported it already
	}
	out := map[string][]string{}
	root := doc.Content[0]
	for i := 0; root.Kind == yaml.MappingNode && i+1 < len(root.Content); i += 2 {
		section, body := root.Content[i].Value, root.Content[i+1]
		for j := 0; body.Kind == yaml.MappingNode && j+1 < len(body.Content); j += 2 {
			out[section] = append(out[section], body.Content[j].Value)
		}
	}
	return out, nil
}

// ordered returns keys in the file's order, then the rest sorted (those
// that came from extends, include or normalization).
func ordered[V any](m map[string]V, file []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, k := range file {
		if _, ok := m[k]; ok && !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	var rest []string
	for k := range m {
		if !seen[k] {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	return append(out, rest...)
}

// converter gathers notes while it maps.
type converter struct {
	notes map[string]string
	// names maps Compose network and service names to netctl names
	// (DNS labels).
	networks, services map[string]string
}

func (c *converter) note(path, msg string) {
	if prev, ok := c.notes[path]; ok && prev != msg {
		msg = prev + "; " + msg
	}
	c.notes[path] = msg
}

// forget drops the notes under a path prefix.
func (c *converter) forget(prefix string) {
	for p := range c.notes {
		if strings.HasPrefix(p, prefix) {
			delete(c.notes, p)
		}
	}
}

func (c *converter) sortedNotes() []Note {
	out := make([]Note, 0, len(c.notes))
	for p, m := range c.notes {
		out = append(out, Note{Path: p, Msg: m})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// label turns a Compose name (which may hold '_' and '.') into a netctl
// name (a DNS label), noting the change.
func (c *converter) label(path, name string) string {
	l := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-':
			return r
		}
		return '-'
	}, name)
	l = strings.Trim(l, "-")
	if len(l) > 63 {
		l = strings.TrimRight(l[:63], "-")
	}
	if l != name {
		c.note(path, fmt.Sprintf("renamed %q to %q (netctl names are DNS labels)", name, l))
	}
	return l
}
