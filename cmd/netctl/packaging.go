package main

import "github.com/spf13/cobra"

// addPackagingCommands adds what integrates netctl with the system around
// it (editors, shells, man, Compose) and wires shell completion into the
// other commands. One call from rootCommand keeps the command files as
// they are.
func (a *app) addPackagingCommands(root *cobra.Command) {
	root.AddCommand(a.schemaCommand(), a.convertCommand(), a.completionCommand())
	if man := a.manCommand(); man != nil {
		root.AddCommand(man)
	}
	a.wireCompletion(root)
}
