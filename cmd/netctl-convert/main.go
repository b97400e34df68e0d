// Command netctl-convert is the program behind `netctl convert`: it reads
// a Docker Compose file with compose-go and prints the netctl topology.
// It is a program of its own because compose-go's dependencies cost
// milliseconds of package initialisation (its JSON Schema validator
// compiles meta-schemas at start) that every netctl command would
// otherwise pay; `netctl convert` runs it in place of itself.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/netctl/netctl/convert/compose"
)

// profiles collects repeated --profile flags.
type profiles []string

func (p *profiles) String() string     { return fmt.Sprint(*p) }
func (p *profiles) Set(v string) error { *p = append(*p, v); return nil }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("netctl convert", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		file string
		opts compose.Options
		prof profiles
	)
	fs.StringVar(&file, "f", "", "Compose file")
	fs.StringVar(&file, "file", "", "Compose file")
	fs.StringVar(&opts.Name, "p", "", "project name")
	fs.StringVar(&opts.Name, "project-name", "", "project name")
	fs.Var(&prof, "profile", "enable the services of this Compose profile (repeatable)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if file == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "netctl: convert: use -f FILE (and no other argument)")
		return 1
	}
	opts.Env = os.Environ()
	opts.Profiles = prof
	res, err := compose.Convert(ctx, file, opts)
	if err != nil {
		fmt.Fprintf(stderr, "netctl: %v\n", err)
		return 1
	}
	for _, n := range compose.Group(res.Notes) {
		fmt.Fprintf(stderr, "netctl convert: %s: %s\n", file, n)
	}
	if _, err := stdout.Write(res.YAML); err != nil {
		fmt.Fprintf(stderr, "netctl: %v\n", err)
		return 1
	}
	return 0
}
