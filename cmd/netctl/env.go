package main

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/netctl/netctl/actuators/files"
	"github.com/netctl/netctl/internal/beneath"
)

func (a *app) envCommand() *cobra.Command {
	var project string
	cmd := &cobra.Command{
		Use:   "env CONTAINER",
		Short: "Print a container's legacy link env vars, one NAME=value a line",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.findContainer(cmd, project, args[0])
			if err != nil {
				return err
			}
			env, err := linkEnv(a.root, files.ContainerDir(a.root, c.Project, c.Name))
			if err != nil {
				return err
			}
			for _, kv := range env {
				if _, err := fmt.Fprintln(a.stdout, kv); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&project, "project", "p", "", "look the container up in this project")
	return cmd
}

// linkEnv reads the env vars apply rendered for a container's links
// (sorted NAME=value lines); none when the container has no links.
func linkEnv(root, dir string) ([]string, error) {
	b, err := beneath.ReadFile(root, filepath.Join(dir, files.Env))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, "=") {
			out = append(out, line)
		}
	}
	return out, nil
}
