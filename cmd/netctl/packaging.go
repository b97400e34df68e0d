package main

import (
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"
)

// addPackagingCommands adds what integrates netctl with the system around
// it (editors, shells, man, Compose) and wires shell completion into the
// other commands. One call from rootCommand keeps the command files as
// they are.
func (a *app) addPackagingCommands(root *cobra.Command) {
	root.AddCommand(a.schemaCommand(), a.convertCommand(), a.completionCommand(), a.manCommand())
	a.wireCompletion(root)
}

// sourceDate is SOURCE_DATE_EPOCH (reproducible builds) as a time.
func sourceDate() (time.Time, bool) {
	s, err := strconv.ParseInt(os.Getenv("SOURCE_DATE_EPOCH"), 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(s, 0).UTC(), true
}
