package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/netctl/netctl/actuators/files"
	"github.com/netctl/netctl/internal/beneath"
)

func (a *app) envCommand() *cobra.Command {
	var project string
	cmd := &cobra.Command{
		Use:   "env CONTAINER",
		Short: "Print the env vars exec sets in a container (link env vars and its env:), one NAME=value a line",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.findContainer(cmd, project, args[0])
			if err != nil {
				return err
			}
			env, err := containerEnv(a.root, files.ContainerDir(a.root, c.Project, c.Name))
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

// containerEnv reads the env vars apply rendered for a container: its
// legacy link env vars and its own env: (sorted NAME=value lines); none
// when it has neither.
func containerEnv(root, dir string) ([]string, error) {
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

// readEnvFile reads a docker --env-file: KEY=VALUE lines, taken as they
// are (no quotes, no expansion); a bare KEY passes the caller's value when
// it has one; blank lines and lines starting with # are skipped.
func readEnvFile(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--env-file: %w", err)
	}
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")) // a UTF-8 BOM
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimLeft(sc.Text(), " \t")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !utf8.ValidString(line) {
			return nil, fmt.Errorf("--env-file %s:%d: not UTF-8", path, n)
		}
		kv, ok, err := envEntry(line)
		if err != nil {
			return nil, fmt.Errorf("--env-file %s:%d: %w", path, n, err)
		}
		if ok {
			out = append(out, kv)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("--env-file %s: %w", path, err)
	}
	return out, nil
}

// envEntry reads KEY=VALUE, or KEY alone for the caller's value (ok is
// false when the caller has none: the variable is left out).
func envEntry(s string) (kv string, ok bool, err error) {
	key, _, hasValue := strings.Cut(s, "=")
	switch {
	case key == "":
		return "", false, errors.New("no variable name")
	case strings.ContainsAny(key, " \t\n\x00"):
		return "", false, fmt.Errorf("variable name %q contains whitespace", key)
	case hasValue:
		return s, true, nil
	}
	v, ok := os.LookupEnv(key)
	return key + "=" + v, ok, nil
}
