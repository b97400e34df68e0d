package main

import (
	"github.com/spf13/cobra"

	"github.com/netctl/netctl/reconciler"
)

func (a *app) pruneCommand() *cobra.Command {
	var out outputFlag
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Remove owned leftovers no project claims (the default bridge once unused)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.check(); err != nil {
				return err
			}
			r, done, err := a.reconciler()
			if err != nil {
				return err
			}
			defer done()
			var p *reconciler.Plan
			err = a.locked(cmd.Context(), func() error {
				var err error
				p, err = r.Prune(cmd.Context())
				return err
			})
			if p != nil {
				p.Project = "(prune)"
				if out.format == "json" {
					_ = p.WriteJSON(a.stdout)
				} else {
					_ = p.WriteText(a.stdout)
				}
			}
			return err
		},
	}
	out.register(cmd)
	return cmd
}
