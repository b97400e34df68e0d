//go:build mangen

package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// manCommand writes the man pages of every command (cobra's doc
// generator). Only `make man` builds it in (-tags mangen): the generator's
// Markdown and roff packages have no place in the installed binary.
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
			// The generator would stamp today's date into every page;
			// SOURCE_DATE_EPOCH (as Debian's tools honour it) keeps builds
			// reproducible.
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

// sourceDate is SOURCE_DATE_EPOCH (reproducible builds) as a time.
func sourceDate() (time.Time, bool) {
	s, err := strconv.ParseInt(os.Getenv("SOURCE_DATE_EPOCH"), 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(s, 0).UTC(), true
}
