package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/netctl/netctl/reconciler"
	"github.com/netctl/netctl/spec"
)

// exitError carries a process exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// shownError is an error the command already wrote into its JSON output;
// main then only reports it on stderr.
type shownError struct{ err error }

func (e *shownError) Error() string { return e.err.Error() }
func (e *shownError) Unwrap() error { return e.err }

// plainError is a message that already names netctl: printed as it is,
// without the "netctl: " prefix.
type plainError struct{ err error }

func (e *plainError) Error() string { return e.err.Error() }
func (e *plainError) Unwrap() error { return e.err }

// problem is a spec error with a complete position, so that every line
// of a report matches file:line:column: message.
func problem(e *spec.Error) reconciler.JSONProblem {
	return reconciler.JSONProblem{File: e.File, Line: max(e.Pos.Line, 1), Column: max(e.Pos.Column, 1), Message: e.Msg}
}

// errorLines renders an error for stderr: each problem of a file as
// "file:line:column: message" (what editors and CI annotations match),
// anything else as "netctl: message", one line each.
func errorLines(err error) []string {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, errorLines(e)...)
		}
		return out
	}
	var problems spec.Errors
	if errors.As(err, &problems) {
		out := make([]string, len(problems))
		for i, e := range problems {
			p := problem(e)
			out[i] = fmt.Sprintf("%s:%d:%d: %s", p.File, p.Line, p.Column, p.Message)
		}
		return out
	}
	prefix := "netctl: "
	var plain *plainError
	if errors.As(err, &plain) {
		prefix = ""
	}
	var out []string
	for _, line := range strings.Split(err.Error(), "\n") {
		if line != "" {
			out = append(out, prefix+line)
		}
	}
	return out
}

func writeError(w io.Writer, err error) {
	for _, line := range errorLines(err) {
		fmt.Fprintln(w, line)
	}
}

// jsonError is the error object of -o json output.
func jsonError(err error) *reconciler.JSONError {
	e := &reconciler.JSONError{Problems: []reconciler.JSONProblem{}}
	var lines []string
	var collect func(error)
	collect = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				collect(e)
			}
			return
		}
		var problems spec.Errors
		if errors.As(err, &problems) {
			for _, p := range problems {
				e.Problems = append(e.Problems, problem(p))
			}
			if len(problems) > 0 {
				lines = append(lines, fmt.Sprintf("%d problem(s) in %s", len(problems), problems[0].File))
			}
			return
		}
		lines = append(lines, err.Error())
	}
	collect(err)
	e.Message = strings.Join(lines, "\n")
	return e
}
