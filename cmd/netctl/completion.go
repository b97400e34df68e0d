package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/netctl/netctl/model"
)

// completionCommand generates shell completion scripts with cobra's
// generator: commands, flags, topology files for -f, and the names of
// the containers and networks on this host (read as ps and ls read them).
func (a *app) completionCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "completion bash|zsh|fish",
		Short: "Print a shell completion script",
		Long: `completion prints a script that completes netctl's commands, flags, topology files
for -f, and the names of the containers and networks on this host (exec, port, env,
inspect: read from the host as ps and ls read it, so as root).

  bash:  netctl completion bash > /etc/bash_completion.d/netctl
  zsh:   netctl completion zsh > "${fpath[1]}/_netctl"
  fish:  netctl completion fish > ~/.config/fish/completions/netctl.fish

The Debian package installs all three.`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"bash", "zsh", "fish"},
		RunE: func(cmd *cobra.Command, args []string) error {
			root := cmd.Root()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(a.stdout, true)
			case "zsh":
				return root.GenZshCompletion(a.stdout)
			case "fish":
				return root.GenFishCompletion(a.stdout, true)
			}
			return fmt.Errorf("completion: unknown shell %q (bash, zsh or fish)", args[0])
		},
	}
	return cmd
}

// wireCompletion registers how each command's arguments and flags
// complete. Commands are found by name: their names are the contract.
func (a *app) wireCompletion(root *cobra.Command) {
	root.CompletionOptions.HiddenDefaultCmd = true
	_ = root.RegisterFlagCompletionFunc("log-level", cobra.FixedCompletions(
		[]string{"debug", "info", "warn", "error"}, cobra.ShellCompDirectiveNoFileComp))
	_ = root.MarkPersistentFlagDirname("root")
	_ = root.MarkPersistentFlagFilename("resolv-conf")
	walk(root, func(c *cobra.Command) {
		for _, name := range []string{"file", "from"} {
			if f := c.Flags().Lookup(name); f != nil && (f.Value.Type() == "string" || f.Value.Type() == "stringArray") {
				_ = c.MarkFlagFilename(name, "yaml", "yml")
			}
		}
		if c.Flags().Lookup("project") != nil {
			_ = c.RegisterFlagCompletionFunc("project", a.completeProjects)
		}
		switch c.Name() {
		case "exec", "env":
			c.ValidArgsFunction = a.completeFirst(containers)
		case "port":
			c.ValidArgsFunction = a.completePort
		case "inspect":
			c.ValidArgsFunction = a.completeNames(containers | networks)
		}
	})
}

func walk(c *cobra.Command, fn func(*cobra.Command)) {
	fn(c)
	for _, sub := range c.Commands() {
		walk(sub, fn)
	}
}

// nameKinds selects what completeNames offers.
type nameKinds int

const (
	containers nameKinds = 1 << iota
	networks
)

// completionTimeout bounds a completion's look at the host: a shell
// waiting on TAB is worse than no suggestion.
const completionTimeout = 3 * time.Second

// observeForCompletion reads the host as ps and ls do, or returns nil:
// completion stays silent (no root, no netctl state yet).
func (a *app) observeForCompletion() *model.State {
	ctx, cancel := context.WithTimeout(context.Background(), completionTimeout)
	defer cancel()
	r, done, err := a.reconciler()
	if err != nil {
		return nil
	}
	defer done()
	st, err := r.Observe(ctx)
	if err != nil {
		return nil
	}
	return st
}

// liveNames are the names to offer: NAME, with PROJECT/NAME as well where
// a name is taken in several projects (the lookup refuses it alone).
func liveNames(st *model.State, kinds nameKinds, project, toComplete string) []cobra.Completion {
	type obj struct{ project, name, what string }
	var objs []obj
	if kinds&containers != 0 {
		for _, id := range st.SortedContainerIDs() {
			c := st.Containers[id]
			var nets []string
			for _, ep := range c.Endpoints {
				nets = append(nets, model.IDName(ep.Network))
			}
			if len(nets) == 0 {
				nets = []string{string(c.Mode)}
			}
			objs = append(objs, obj{c.Project, c.Name, "container on " + strings.Join(nets, ",")})
		}
	}
	if kinds&networks != 0 {
		for _, id := range st.SortedNetworkIDs() {
			n := st.Networks[id]
			objs = append(objs, obj{n.Project, n.Name, "network " + orDefault(n.Driver, "bridge") + " " + prefixOrEmpty(n.Subnet)})
		}
	}
	count := map[string]int{}
	for _, o := range objs {
		if project == "" || o.project == project || o.project == "" {
			count[o.name]++
		}
	}
	seen := map[string]bool{}
	var out []cobra.Completion
	add := func(name, desc string) {
		if !seen[name] && strings.HasPrefix(name, toComplete) {
			seen[name] = true
			out = append(out, cobra.CompletionWithDesc(name, desc))
		}
	}
	for _, o := range objs {
		if project != "" && o.project != project && o.project != "" {
			continue
		}
		desc := o.what
		if o.project != "" {
			desc += " (project " + o.project + ")"
			add(o.project+"/"+o.name, desc)
		}
		if count[o.name] == 1 {
			add(o.name, desc)
		}
	}
	sort.Strings(out)
	return out
}

// completeNames completes any number of names.
func (a *app) completeNames(kinds nameKinds) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		st := a.observeForCompletion()
		if st == nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		project, _ := cmd.Flags().GetString("project")
		return liveNames(st, kinds, project, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

// completeFirst completes the first argument with names; exec's command
// after it completes as the shell would.
func (a *app) completeFirst(kinds nameKinds) cobra.CompletionFunc {
	names := a.completeNames(kinds)
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			if cmd.Name() == "exec" {
				return nil, cobra.ShellCompDirectiveDefault
			}
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return names(cmd, args, toComplete)
	}
}

// completePort completes `port CONTAINER [PORT/PROTO]`: the container,
// then its published ports.
func (a *app) completePort(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	switch len(args) {
	case 0:
		return a.completeNames(containers)(cmd, args, toComplete)
	case 1:
		st := a.observeForCompletion()
		if st == nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		project, _ := cmd.Flags().GetString("project")
		o, err := newCatalog(st).find(args[0], kindContainer, project)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		cv := containerView(st, o.container)
		var out []cobra.Completion
		for port, bindings := range cv.NetworkSettings.Ports {
			if len(bindings) > 0 && strings.HasPrefix(port, toComplete) {
				out = append(out, cobra.CompletionWithDesc(port, "published on "+bindings[0].HostIp+":"+bindings[0].HostPort))
			}
		}
		sort.Strings(out)
		return out, cobra.ShellCompDirectiveNoFileComp
	}
	return nil, cobra.ShellCompDirectiveNoFileComp
}

// completeProjects completes --project with the projects on this host.
func (a *app) completeProjects(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	st := a.observeForCompletion()
	if st == nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	seen := map[string]bool{}
	var out []cobra.Completion
	for _, c := range st.Containers {
		if !seen[c.Project] && strings.HasPrefix(c.Project, toComplete) {
			seen[c.Project] = true
			out = append(out, c.Project)
		}
	}
	for _, n := range st.Networks {
		if n.Project != "" && !seen[n.Project] && strings.HasPrefix(n.Project, toComplete) {
			seen[n.Project] = true
			out = append(out, n.Project)
		}
	}
	sort.Strings(out)
	return out, cobra.ShellCompDirectiveNoFileComp
}
