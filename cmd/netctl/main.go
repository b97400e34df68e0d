// Command netctl reconciles Docker-style container networking to a
// topology file. This package is the command line only: parsing flags,
// wiring actuators to the reconciler, printing results.
package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"

	"github.com/rs/zerolog"

	"github.com/netctl/netctl/reconciler"
)

func main() {
	// Process-wide log settings, made once before anything logs, for every
	// package's logger: millisecond timestamps, durations with their unit
	// ("took":"12.5ms").
	zerolog.TimeFieldFormat = "2006-01-02T15:04:05.000Z07:00"
	zerolog.DurationFieldFormat = zerolog.DurationFormatString

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	a := &app{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}
	cmd, err := a.rootCommand().ExecuteContextC(ctx)
	stop()
	if err == nil {
		return
	}
	code := 1
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
		if ee.err == nil {
			os.Exit(code)
		}
	}
	var shown *shownError
	if f := cmd.Flags().Lookup("output"); f != nil && f.Value.String() == "json" && !errors.As(err, &shown) {
		_ = reconciler.WriteJSONError(os.Stdout, jsonError(err))
	}
	writeError(os.Stderr, err)
	os.Exit(code)
}
