package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"
)

// convertHelper is the program that does the conversion (cmd/netctl-convert),
// installed next to netctl: linking compose-go into netctl would slow
// every netctl start by its package initialisation.
const convertHelper = "netctl-convert"

func (a *app) convertCommand() *cobra.Command {
	var (
		file, name string
		profiles   []string
	)
	cmd := &cobra.Command{
		Use:   "convert -f compose.yaml",
		Short: "Convert a Docker Compose file into a netctl topology (printed on stdout)",
		Long: `convert reads a Docker Compose file as docker compose does (interpolation, .env,
extends, include, profiles, every short and long syntax) and prints the netctl
topology of its networks and services: networks with their IPAM subnets, internal,
driver options that map (bridge name, icc, mtu), services' networks in Compose's
order, aliases, ipv4_address, ports, expose, links, extra_hosts, dns, network_mode,
hostname and environment. Everything else (images, volumes, ...) is listed on
stderr, one line per key, and left out. The output is checked with the same parser
as netctl validate.

  netctl convert -f compose.yaml > topology.yaml && sudo netctl apply -f topology.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return errors.New("no Compose file: use -f FILE")
			}
			argv := []string{convertHelper, "-f", file}
			if name != "" {
				argv = append(argv, "-p", name)
			}
			for _, p := range profiles {
				argv = append(argv, "--profile", p)
			}
			path, err := findHelper(convertHelper)
			if err != nil {
				return err
			}
			// The helper takes this process's place: its exit code and
			// output are convert's.
			return syscall.Exec(path, argv, os.Environ())
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "Compose file")
	cmd.Flags().StringVarP(&name, "project-name", "p", "", "project name (default: the file's name:, else its directory's name, as in Compose)")
	cmd.Flags().StringArrayVar(&profiles, "profile", nil, "enable the services of this Compose profile (repeatable)")
	return cmd
}

// findHelper finds a helper program next to this binary, else in PATH.
func findHelper(name string) (string, error) {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("convert needs %s, installed next to netctl (make install, the .deb): %w", name, err)
	}
	return p, nil
}
