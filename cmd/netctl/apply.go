package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/netctl/netctl/actuators/files"
	"github.com/netctl/netctl/reconciler"
	"github.com/netctl/netctl/spec"
)

// outputFlag is -o text|json.
type outputFlag struct{ format string }

func (o *outputFlag) register(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&o.format, "output", "o", "text", "output format: text or json")
}

func (o *outputFlag) check() error {
	if o.format != "text" && o.format != "json" {
		return fmt.Errorf("-o %q: want text or json", o.format)
	}
	return nil
}

func (a *app) applyCommand() *cobra.Command {
	var file string
	var out outputFlag
	cmd := &cobra.Command{
		Use:   "apply -f FILE",
		Short: "Converge the host to the topology file and print what was done",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.check(); err != nil {
				return err
			}
			t, err := loadForApply(file)
			if err != nil {
				return err
			}
			a.warnOrphans(file, t.Name)
			if err := a.converge(cmd, t.Name, t, out); err != nil {
				return err
			}
			a.recordSource(file, t.Name)
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "topology file")
	out.register(cmd)
	return cmd
}

func (a *app) downCommand() *cobra.Command {
	var file, project string
	var out outputFlag
	cmd := &cobra.Command{
		Use:   "down -f FILE",
		Short: "Remove everything the project owns",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.check(); err != nil {
				return err
			}
			if project == "" {
				t, err := loadFile(file)
				if err != nil {
					return err
				}
				project = t.Name
			}
			if err := a.converge(cmd, project, nil, out); err != nil {
				return err
			}
			return files.New(a.root).ForgetSource(project)
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "topology file (names the project)")
	cmd.Flags().StringVarP(&project, "project", "p", "", "project name, instead of -f")
	out.register(cmd)
	return cmd
}

// converge applies t (nil: remove the project) and reports.
func (a *app) converge(cmd *cobra.Command, project string, t *spec.Topology, out outputFlag) error {
	ctx := cmd.Context()
	r, done, err := a.reconciler()
	if err != nil {
		return err
	}
	defer done()
	r.Progress = a.progress()
	start := time.Now()
	var res *reconciler.Result
	err = a.locked(ctx, func() error {
		var err error
		res, err = r.Apply(ctx, project, t)
		return err
	})
	elapsed := time.Since(start)
	if r.Progress != nil {
		fmt.Fprint(a.stderr, "\r\033[K")
	}
	if res != nil {
		if werr := writeResult(a.stdout, project, res, out.format, elapsed); werr != nil {
			return werr
		}
		a.log.Info().Str("project", project).Int("actions", len(res.Done)).Int("rounds", res.Rounds).
			Dur("took", elapsed).Bool("converged", err == nil).Msg("apply finished")
	}
	return err
}

// progress returns a progress reporter when stderr is a terminal.
func (a *app) progress() func(done, total int) {
	f, ok := a.stderr.(*os.File)
	if !ok || !isatty.IsTerminal(f.Fd()) {
		return nil
	}
	last := time.Time{}
	return func(done, total int) {
		if done < total && time.Since(last) < 100*time.Millisecond {
			return
		}
		last = time.Now()
		fmt.Fprintf(f, "\r\033[Kapplying: %d of %d actions", done, total)
	}
}

// writeResult prints what an apply did: the actions carried out, in the
// plan's format.
func writeResult(w io.Writer, project string, res *reconciler.Result, format string, elapsed time.Duration) error {
	done := &reconciler.Plan{Project: project, Actions: res.Done}
	if res.Plan != nil {
		done.Blocked = res.Plan.Blocked
	}
	if format == "json" {
		if done.Actions == nil {
			done.Actions = []*reconciler.Action{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			*reconciler.Plan
			Changes   int     `json:"changes"`
			Rounds    int     `json:"rounds"`
			ElapsedMS float64 `json:"elapsed_ms"`
		}{done, len(done.Actions), res.Rounds, float64(elapsed.Microseconds()) / 1000})
	}
	if err := done.WriteText(w); err != nil {
		return err
	}
	if !done.Empty() {
		_, err := fmt.Fprintf(w, "applied in %d round(s), %s\n", res.Rounds, elapsed.Round(time.Millisecond))
		return err
	}
	return nil
}

func (a *app) diffCommand() *cobra.Command {
	var file, from string
	var out outputFlag
	cmd := &cobra.Command{
		Use:   "diff -f FILE [--from OLD]",
		Short: "Print the plan without changing anything (exit 2 when changes are pending)",
		Long: "diff -f FILE compares the file with the live host. With --from OLD it compares two files\n" +
			"and needs neither root nor kernel access: a dry run for review pipelines.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.check(); err != nil {
				return err
			}
			t, err := loadForApply(file)
			if err != nil {
				return err
			}
			var plans []*reconciler.Plan
			if from != "" {
				plans, err = a.diffFiles(t, from)
			} else {
				var p *reconciler.Plan
				p, err = a.diffHost(cmd, t)
				plans = append(plans, p)
			}
			if err != nil {
				return err
			}
			pending := false
			for _, p := range plans {
				if out.format == "json" {
					err = p.WriteJSON(a.stdout)
				} else {
					err = p.WriteText(a.stdout)
				}
				if err != nil {
					return err
				}
				pending = pending || !p.Empty() || len(p.Blocked) > 0
			}
			if pending {
				return &exitError{code: 2}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "topology file")
	cmd.Flags().StringVar(&from, "from", "", "compare against this file instead of the live host")
	out.register(cmd)
	return cmd
}

func (a *app) diffHost(cmd *cobra.Command, t *spec.Topology) (*reconciler.Plan, error) {
	r, done, err := a.reconciler()
	if err != nil {
		return nil, err
	}
	defer done()
	return r.Plan(cmd.Context(), t.Name, t)
}

// diffFiles reviews a change of file: for an overlay topology one plan per
// node (only --node's when given), as each node would apply it.
func (a *app) diffFiles(t *spec.Topology, from string) ([]*reconciler.Plan, error) {
	old, err := loadForApply(from)
	if err != nil {
		return nil, err
	}
	resolv, _ := os.ReadFile(a.resolvConf)
	nodes := []string{a.node}
	if a.node == "" && len(t.Nodes) > 0 {
		nodes = reconciler.NodeNames(t)
	}
	var plans []*reconciler.Plan
	for _, node := range nodes {
		p, err := reconciler.DiffFiles(old, t, reconciler.Options{Root: a.root, HostResolv: resolv, Node: node})
		if err != nil {
			return nil, err
		}
		plans = append(plans, p)
	}
	return plans, nil
}

func (a *app) validateCommand() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "validate -f FILE",
		Short: "Check a topology file; report every error with file:line:column",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := loadFile(file)
			if err != nil {
				return err
			}
			var unsupported spec.Errors
			if errors.As(reconciler.Unsupported(t), &unsupported) {
				for _, e := range unsupported {
					fmt.Fprintf(a.stderr, "warning: %s (apply refuses it)\n", e)
				}
			}
			_, err = fmt.Fprintf(a.stdout, "%s: valid: project %s, %d networks, %d containers\n",
				file, t.Name, len(t.Networks), len(t.Containers))
			return err
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "topology file")
	return cmd
}
