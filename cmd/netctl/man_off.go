//go:build !mangen

package main

import "github.com/spf13/cobra"

// manCommand is only built in by `make man` (see man.go).
func (a *app) manCommand() *cobra.Command { return nil }
