package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/netctl/netctl/convert/compose"
)

func (a *app) convertCommand() *cobra.Command {
	var (
		file     string
		opts     compose.Options
		profiles []string
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
			opts.Env = os.Environ()
			opts.Profiles = profiles
			res, err := compose.Convert(cmd.Context(), file, opts)
			if err != nil {
				return err
			}
			for _, n := range compose.Group(res.Notes) {
				fmt.Fprintf(a.stderr, "netctl convert: %s: %s\n", file, n)
			}
			_, err = a.stdout.Write(res.YAML)
			return err
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "Compose file")
	cmd.Flags().StringVarP(&opts.Name, "project-name", "p", "", "project name (default: the file's name:, else its directory's name, as in Compose)")
	cmd.Flags().StringArrayVar(&profiles, "profile", nil, "enable the services of this Compose profile (repeatable)")
	return cmd
}
