package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// manCommand writes the man pages of every command (cobra's doc
// generator): `make man` runs it, the Debian package ships the result.
// Hidden: users read the pages, not the generator.
func (a *app) manCommand() *cobra.Command {
	return &cobra.Command{
		Use:    "man DIR",
		Short:  "Write the man pages of every command into DIR",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			root := cmd.Root()
			// The generator would stamp today's date into every page; a
			// fixed source date keeps builds reproducible (SOURCE_DATE_EPOCH
			// as Debian's tools honour it).
			hdr := &doc.GenManHeader{Title: "NETCTL", Section: "8", Source: "netctl", Manual: "System Administration"}
			if date, ok := sourceDate(); ok {
				hdr.Date = &date
			}
			root.DisableAutoGenTag = true
			if err := doc.GenManTree(root, hdr, dir); err != nil {
				return fmt.Errorf("man pages: %w", err)
			}
			return nil
		},
	}
}
