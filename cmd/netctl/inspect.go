package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/netctl/netctl/cmd/netctl/internal/format"
	"github.com/netctl/netctl/model"
)

func (a *app) inspectCommand() *cobra.Command {
	var tpl, project, kind string
	cmd := &cobra.Command{
		Use:   "inspect NAME|ID... [--format TEMPLATE]",
		Short: "Show networks or containers as JSON, like docker inspect",
		Long: "Each argument is a name (NAME or PROJECT/NAME), an ID or a unique ID prefix, of a container or\n" +
			"a network (bridge, host and none included); containers are looked up first, as docker inspect does.\n" +
			"--format takes 'json' (one line) or a Go template with Docker's functions, e.g.\n" +
			"'{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}'. What is found is printed even when\n" +
			"another argument names nothing; the exit code is then 1.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch kind {
			case "", kindContainer, kindNetwork:
			default:
				return fmt.Errorf("--type %q: want container or network", kind)
			}
			st, err := a.observe(cmd)
			if err != nil {
				return err
			}
			return inspect(a.stdout, st, args, kind, project, tpl)
		},
	}
	cmd.Flags().StringVarP(&tpl, "format", "f", "", "'json' or a Go template applied to each object")
	cmd.Flags().StringVarP(&project, "project", "p", "", "look plain names up in this project")
	cmd.Flags().StringVar(&kind, "type", "", "only look for this kind: container or network")
	return cmd
}

// inspect writes what the references name and returns, joined, the
// errors of those that name nothing (or that the template fails on), as
// docker inspect does: found objects are printed either way.
func inspect(w io.Writer, st *model.State, refs []string, kind, project, tpl string) error {
	cat := newCatalog(st)
	var views []any
	var errs []error
	for _, ref := range refs {
		o, err := cat.find(ref, kind, project)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		views = append(views, o.view(st))
	}
	if err := format.Inspect(w, tpl, views); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// findContainer observes the host and returns the container a reference
// (NAME, PROJECT/NAME, ID or unique ID prefix) names.
func (a *app) findContainer(cmd *cobra.Command, project, ref string) (*model.Container, error) {
	st, err := a.observe(cmd)
	if err != nil {
		return nil, err
	}
	o, err := newCatalog(st).find(ref, kindContainer, project)
	if err != nil {
		if errors.Is(err, errNoSuchObject) {
			return nil, fmt.Errorf("no such container: %s", ref)
		}
		return nil, err
	}
	return o.container, nil
}

func (a *app) observe(cmd *cobra.Command) (*model.State, error) {
	r, done, err := a.reconciler()
	if err != nil {
		return nil, err
	}
	defer done()
	return r.Observe(cmd.Context())
}
