package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/netctl/netctl/actuators/files"
	"github.com/netctl/netctl/reconciler"
	"github.com/netctl/netctl/spec"
)

// outputFlag is -o text|json.
type outputFlag struct{ format string }

func (o *outputFlag) register(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&o.format, "output", "o", "text", "output format: text or json (format_version "+reconciler.PlanFormatVersion+")")
}

func (o *outputFlag) check() error {
	if o.format != "text" && o.format != "json" {
		return fmt.Errorf("-o %q: want text or json", o.format)
	}
	return nil
}

func (a *app) applyCommand() *cobra.Command {
	f := fileFlag{stdin: a.stdin}
	var out outputFlag
	cmd := &cobra.Command{
		Use:   "apply [-f FILE]",
		Short: "Converge the host to the topology file and print what was done",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.check(); err != nil {
				return err
			}
			project, err := a.converge(cmd, func() (string, *spec.Topology, error) {
				t, err := f.loadForApply()
				if err != nil {
					return "", nil, err
				}
				file, _ := f.path() // load succeeded, so the path did
				a.warnOrphans(file, t.Name)
				return t.Name, t, nil
			}, out)
			if err != nil {
				return err
			}
			file, _ := f.path()
			a.recordSource(file, project)
			return nil
		},
	}
	f.register(cmd, "topology file")
	out.register(cmd)
	return cmd
}

func (a *app) downCommand() *cobra.Command {
	f := fileFlag{stdin: a.stdin}
	var project string
	var out outputFlag
	cmd := &cobra.Command{
		Use:   "down [-f FILE | -p PROJECT]",
		Short: "Remove everything the project owns",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.check(); err != nil {
				return err
			}
			project, err := a.converge(cmd, func() (string, *spec.Topology, error) {
				if project != "" {
					return project, nil, nil
				}
				t, err := f.load()
				if err != nil {
					return "", nil, err
				}
				return t.Name, nil, nil
			}, out)
			if err != nil {
				return err
			}
			return files.New(a.root).ForgetSource(project)
		},
	}
	f.register(cmd, "topology file (names the project)")
	cmd.Flags().StringVarP(&project, "project", "p", "", "project name, instead of -f")
	out.register(cmd)
	return cmd
}

// converge applies the topology load returns (nil: remove the project),
// reports, and returns the project.
//
// The file is parsed and validated while the host is read: at a thousand
// containers that is 10-20 ms of a 130 ms no-op apply, and the read
// changes nothing. Nothing else may happen before the file is known good,
// so the overlap needs a --root that exists (preparing one creates it)
// and a lock that is free (waiting for it would hold validation errors
// back); otherwise the file comes first, as it always did.
func (a *app) converge(cmd *cobra.Command, load reconciler.Loading, out outputFlag) (string, error) {
	ctx := cmd.Context()
	loaded, r, done, err := a.openLoading(load)
	if err != nil {
		return "", err
	}
	defer done()
	r.Progress = a.progress()
	start := time.Now()
	var res *reconciler.Result
	var project string
	if unlock, lerr := files.TryLock(a.root, "lock", a.command); lerr == nil {
		project, res, err = r.ApplyLoading(ctx, loaded)
		unlock()
	} else {
		var t *spec.Topology
		if project, t, err = loaded(); err != nil {
			return "", err
		}
		err = a.locked(ctx, func() error {
			var err error
			res, err = r.Apply(ctx, project, t)
			return err
		})
	}
	elapsed := time.Since(start)
	if r.Progress != nil {
		fmt.Fprint(a.stderr, "\r\033[K")
	}
	if res == nil {
		return project, err
	}
	applied := &reconciler.Plan{Project: project, Actions: res.Done}
	if res.Plan != nil {
		applied.Blocked = res.Plan.Blocked
	}
	a.log.Info().Str("project", project).Int("actions", len(res.Done)).Int("rounds", res.Rounds).
		Dur("took", elapsed).Bool("converged", err == nil).Msg("apply finished")
	if out.format == "json" {
		info := reconciler.ApplyInfo{Rounds: res.Rounds, Elapsed: elapsed}
		if err != nil {
			info.Err = jsonError(err)
			err = &shownError{err}
		}
		if werr := applied.WriteApplyJSON(a.stdout, info); werr != nil {
			return project, errors.Join(err, werr)
		}
		return project, err
	}
	if werr := a.writePlan(applied); werr != nil {
		return project, errors.Join(err, werr)
	}
	if !applied.Empty() {
		if _, werr := fmt.Fprintf(a.stdout, "applied in %d round(s), %s\n", res.Rounds, elapsed.Round(time.Millisecond)); werr != nil {
			return project, errors.Join(err, werr)
		}
	}
	return project, err
}

// inBackground starts load and returns a function that waits for its
// result, as often as it is called.
func inBackground(load reconciler.Loading) reconciler.Loading {
	type result struct {
		project string
		t       *spec.Topology
		err     error
	}
	c := make(chan result, 1)
	go func() {
		p, t, err := load()
		c <- result{p, t, err}
	}()
	var once sync.Once
	var r result
	return func() (string, *spec.Topology, error) {
		once.Do(func() { r = <-c })
		return r.project, r.t, r.err
	}
}

// isDir reports whether path is a directory (following links).
func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

// progress returns a progress reporter when stderr is a terminal.
func (a *app) progress() func(done, total int) {
	if !isTerminal(a.stderr) {
		return nil
	}
	last := time.Time{}
	return func(done, total int) {
		if done < total && time.Since(last) < 100*time.Millisecond {
			return
		}
		last = time.Now()
		fmt.Fprintf(a.stderr, "\r\033[Kapplying: %d of %d actions", done, total)
	}
}

// writePlan prints a plan for people, coloured on a terminal.
func (a *app) writePlan(p *reconciler.Plan) error {
	var w io.Writer = a.stdout
	if a.color(a.stdout) {
		cw := &colorLines{w: a.stdout}
		defer cw.flush()
		w = cw
	}
	return p.WriteText(w)
}

func (a *app) diffCommand() *cobra.Command {
	f := fileFlag{stdin: a.stdin}
	var from string
	var out outputFlag
	cmd := &cobra.Command{
		Use:   "diff [-f FILE] [--from OLD]",
		Short: "Print the plan without changing anything (exit 2 when changes are pending)",
		Long: "diff -f FILE compares the file with the live host. With --from OLD it compares two files\n" +
			"and needs neither root nor kernel access: a dry run for review pipelines.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.check(); err != nil {
				return err
			}
			if from == "" {
				if err := checkRoot("diff"); err != nil {
					return &plainError{fmt.Errorf("%w; diff --from OLD compares two files without it", err)}
				}
			}
			if path, err := f.path(); err == nil && path == "-" && from == "-" {
				return errors.New("-f - and --from - both read stdin: give one of them a file")
			}
			var plans []*reconciler.Plan
			if from != "" {
				t, err := f.loadForApply()
				if err != nil {
					return err
				}
				if plans, err = a.diffFiles(t, from); err != nil {
					return err
				}
			} else {
				p, err := a.diffHost(cmd, func() (string, *spec.Topology, error) {
					t, err := f.loadForApply()
					if err != nil {
						return "", nil, err
					}
					return t.Name, t, nil
				})
				if err != nil {
					return err
				}
				plans = append(plans, p)
			}
			pending := false
			for _, p := range plans {
				var err error
				if out.format == "json" {
					err = p.WriteJSON(a.stdout)
				} else {
					err = a.writePlan(p)
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
	f.register(cmd, "topology file")
	cmd.Flags().StringVar(&from, "from", "", "compare against this file instead of the live host (\"-\": stdin)")
	out.register(cmd)
	return cmd
}

// diffHost plans the file against the live host, reading the host while
// the file is parsed when the --root exists (as apply does).
func (a *app) diffHost(cmd *cobra.Command, load reconciler.Loading) (*reconciler.Plan, error) {
	loaded, r, done, err := a.openLoading(load)
	if err != nil {
		return nil, err
	}
	defer done()
	return r.PlanLoading(cmd.Context(), loaded)
}

// openLoading starts load in the background and opens the reconciler
// meanwhile, unless the --root is still to be made: preparing it would
// change the host before the file is known good, so the file comes first
// then. A file refused is the error to report, before any of the
// reconciler's.
func (a *app) openLoading(load reconciler.Loading) (reconciler.Loading, *reconciler.Reconciler, func(), error) {
	loaded := inBackground(load)
	if !isDir(a.root) {
		if _, _, err := loaded(); err != nil {
			return nil, nil, nil, err
		}
	}
	r, done, err := a.reconciler()
	if err != nil {
		if _, _, lerr := loaded(); lerr != nil {
			return nil, nil, nil, lerr
		}
		return nil, nil, nil, err
	}
	return loaded, r, done, nil
}

// diffFiles reviews a change of file: for an overlay topology one plan per
// node (only --node's when given), as each node would apply it.
func (a *app) diffFiles(t *spec.Topology, from string) ([]*reconciler.Plan, error) {
	old, err := (&fileFlag{paths: []string{from}, stdin: a.stdin}).loadForApply()
	if err != nil {
		return nil, err
	}
	resolv, err := a.hostResolv()
	if err != nil {
		return nil, err
	}
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
	f := fileFlag{stdin: a.stdin}
	cmd := &cobra.Command{
		Use:   "validate [-f FILE]",
		Short: "Check a topology file; report every error with file:line:column",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := f.load()
			if err != nil {
				return err
			}
			var unsupported spec.Errors
			if errors.As(reconciler.Unsupported(t), &unsupported) {
				for _, e := range unsupported {
					p := problem(e)
					fmt.Fprintf(a.stderr, "%s:%d:%d: warning: %s (apply refuses it)\n", p.File, p.Line, p.Column, p.Message)
				}
			}
			_, err = fmt.Fprintf(a.stdout, "%s: valid: project %s, %d networks, %d containers\n",
				t.File, t.Name, len(t.Networks), len(t.Containers))
			return err
		},
	}
	f.register(cmd, "topology file")
	return cmd
}
