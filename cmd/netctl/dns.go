package main

import (
	"encoding/json"
	"os"

	"github.com/spf13/cobra"

	dnsact "github.com/netctl/netctl/actuators/dns"
)

// names is the DNS actuator: it starts this very binary as the background
// server's supervisor (`netctl --root R dns serve`), which runs the server
// itself (`... dns serve --worker`).
func (a *app) names() *dnsact.Manager {
	return dnsact.NewManager(a.root, a.dnsArgv(false), a.log)
}

func (a *app) dnsArgv(worker bool) []string {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	argv := []string{exe, "--root", a.root}
	if a.logLevel != "" {
		argv = append(argv, "--log-level", a.logLevel)
	}
	argv = append(argv, "dns", "serve")
	if worker {
		argv = append(argv, "--worker")
	}
	return argv
}

// dnsCommand is the background DNS server and a look at it. Hidden: apply
// starts the server, down stops it.
func (a *app) dnsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:    "dns",
		Short:  "The embedded DNS server (started by apply, stopped by down)",
		Hidden: true,
	}
	var worker bool
	serve := &cobra.Command{
		Use:   "serve",
		Short: "Run the DNS server for --root in the foreground, supervised (--worker: the server alone)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.serveDNS(cmd.Context(), worker)
		},
	}
	serve.Flags().BoolVar(&worker, "worker", false, "serve without a supervisor (the supervisor runs it so)")
	status := &cobra.Command{
		Use:   "status",
		Short: "What the DNS server serves (JSON), per project",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := a.names().Status(cmd.Context())
			if err != nil {
				return err
			}
			enc := json.NewEncoder(a.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(st)
		},
	}
	cmd.AddCommand(serve, status)
	return cmd
}
