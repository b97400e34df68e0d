package main

import (
	"github.com/spf13/cobra"

	"github.com/netctl/netctl/spec/schema"
)

func (a *app) schemaCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of the topology file",
		Long: "schema prints the JSON Schema (draft 2020-12) of the topology file, for editors:\n" +
			"with the YAML language server, start a topology file with\n\n" +
			"  # yaml-language-server: $schema=" + schema.ID + "\n\n" +
			"The Debian package installs it as /usr/share/netctl/netctl.schema.json.",
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			b, err := schema.JSON()
			if err != nil {
				return err
			}
			_, err = a.stdout.Write(b)
			return err
		},
	}
}
