package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/netctl/netctl/reconciler"
	"github.com/netctl/netctl/spec"
)

// defaultFile is the topology file read when -f is not given, as
// docker compose reads compose.yaml.
const defaultFile = "netctl.yaml"

// stdinName names a topology read from stdin (-f -) in errors. It is a
// valid project name, so that spec never derives a name from it: the check
// in load asks for name: instead.
const stdinName = "stdin"

// fileFlag is -f FILE: one topology file, "-" for stdin, netctl.yaml in
// the current directory by default. -f is a string array so that a second
// -f is refused instead of silently replacing the first.
type fileFlag struct {
	paths []string
	stdin io.Reader
}

func (f *fileFlag) register(cmd *cobra.Command, usage string) {
	cmd.Flags().StringArrayVarP(&f.paths, "file", "f", nil, usage+` ("-": stdin; default ./`+defaultFile+`)`)
}

// path is the file to read.
func (f *fileFlag) path() (string, error) {
	switch len(f.paths) {
	case 0:
		if _, err := os.Stat(defaultFile); errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("no topology file: %s not found in the current directory; use -f FILE (- for stdin)", defaultFile)
		}
		return defaultFile, nil
	case 1:
		if f.paths[0] == "" {
			return "", errors.New("-f: empty file name")
		}
		return f.paths[0], nil
	}
	return "", fmt.Errorf("-f given %d times (%s): netctl reads one topology file; merge them into one",
		len(f.paths), strings.Join(f.paths, ", "))
}

// load reads and validates the topology; every error carries
// file:line:column.
func (f *fileFlag) load() (*spec.Topology, error) {
	path, err := f.path()
	if err != nil {
		return nil, err
	}
	if path != "-" {
		return spec.Load(path)
	}
	data, err := spec.ReadLimited(f.stdin, "the topology from standard input")
	if err != nil {
		return nil, err
	}
	// A file name gives the default project name; stdin has none, and
	// guessing one (Compose takes the directory's) could make netctl
	// manage the wrong project.
	var head struct {
		Name string `yaml:"name"`
	}
	if yaml.Unmarshal(data, &head) == nil && strings.TrimSpace(head.Name) == "" {
		return nil, spec.Errors{{File: stdinName, Pos: spec.Pos{Line: 1, Column: 1},
			Msg: "no project name: a topology read from stdin must set name:"}}
	}
	return spec.Parse(stdinName, data)
}

// loadForApply also refuses what this build cannot do yet.
func (f *fileFlag) loadForApply() (*spec.Topology, error) {
	t, err := f.load()
	if err != nil {
		return nil, err
	}
	if err := reconciler.Unsupported(t); err != nil {
		return nil, err
	}
	return t, nil
}
