package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/actuators/files"
	"github.com/netctl/netctl/internal/beneath"
	"github.com/netctl/netctl/model"
)

// execOptions are docker exec's flags that make sense without images.
type execOptions struct {
	project  string
	env      []string
	envFiles []string
	workdir  string
	stdin    bool // -i
	tty      bool // -t
}

func (a *app) execCommand() *cobra.Command {
	var o execOptions
	cmd := &cobra.Command{
		Use:   "exec [OPTIONS] CONTAINER [--] CMD [ARG...]",
		Short: "Run a command in a container's namespaces, with its hosts, resolv.conf, hostname and env",
		Long: "The command runs in the container's network and UTS namespaces (hostname prints the\n" +
			"container's hostname), with its hosts and resolv.conf over /etc's, its env: and link env vars\n" +
			"set, then --env-file and -e (later wins). As with docker exec, stdin is only passed with -i;\n" +
			"-t gives the command a terminal: yours when stdin is one, else a new pseudo-terminal.\n" +
			"The exit code is the command's.",
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			argv := args[1:]
			if argv[0] == "--" {
				argv = argv[1:]
			}
			if len(argv) == 0 {
				return errors.New("exec: no command given")
			}
			if o.workdir != "" && !filepath.IsAbs(o.workdir) {
				return fmt.Errorf("the working directory '%s' is invalid, it needs to be an absolute path", o.workdir)
			}
			extra, err := o.extraEnv()
			if err != nil {
				return err
			}
			ptyNeeded := o.tty && !isTerminal(a.stdin)
			if ptyNeeded && o.stdin {
				return errors.New("the input device is not a TTY")
			}
			c, err := a.findContainer(cmd, o.project, args[0])
			if err != nil {
				return err
			}
			if c.Mode != model.ModeHost && !c.NetnsOK {
				return fmt.Errorf("container %s: namespace %s is missing: run netctl apply", c.Name, c.Netns)
			}
			if ptyNeeded {
				return execWithPty(a.stdout)
			}
			dir := files.ContainerDir(a.root, c.Project, c.Name)
			own, err := containerEnv(a.root, dir)
			if err != nil {
				return fmt.Errorf("exec: container env: %w", err)
			}
			env := mergeEnv(os.Environ(), []string{"HOSTNAME=" + c.Hostname}, own, extra)
			return execIn(execTarget{
				c: c, root: a.root, dir: dir, uts: a.utsPath(c), argv: argv, env: env, workdir: o.workdir,
				keepStdin: o.stdin || o.tty,
			})
		},
	}
	// Flags end at CONTAINER, as in docker exec: the command's own flags
	// need no "--".
	cmd.Flags().SetInterspersed(false)
	cmd.Flags().StringVarP(&o.project, "project", "p", "", "look the container up in this project")
	cmd.Flags().StringArrayVarP(&o.env, "env", "e", nil, "set an environment variable: KEY=VALUE, or KEY to pass yours (repeatable)")
	cmd.Flags().StringArrayVar(&o.envFiles, "env-file", nil, "read environment variables from a file of KEY=VALUE lines (repeatable)")
	cmd.Flags().StringVarP(&o.workdir, "workdir", "w", "", "working directory of the command (absolute)")
	cmd.Flags().BoolVarP(&o.stdin, "interactive", "i", false, "pass stdin to the command")
	cmd.Flags().BoolVarP(&o.tty, "tty", "t", false, "give the command a terminal")
	return cmd
}

// extraEnv is --env-file then -e, in Docker's order.
func (o *execOptions) extraEnv() ([]string, error) {
	var out []string
	for _, f := range o.envFiles {
		kv, err := readEnvFile(f)
		if err != nil {
			return nil, err
		}
		out = append(out, kv...)
	}
	for _, e := range o.env {
		kv, ok, err := envEntry(e)
		if err != nil {
			return nil, fmt.Errorf("-e %q: %w", e, err)
		}
		if ok {
			out = append(out, kv)
		}
	}
	return out, nil
}

// utsPath is the UTS namespace exec enters: netctl's own for a namespace
// it owns, the process's for a netns_path of the form /proc/PID/ns/net
// (the runtime's container), none for host mode or another path.
func (a *app) utsPath(c *model.Container) string {
	switch {
	case c.Mode == model.ModeHost:
		return ""
	case !c.External:
		return model.UTSPath(a.root, c.Project, c.Name)
	case procNetnsRE().MatchString(c.Netns):
		return filepath.Join(filepath.Dir(c.Netns), "uts")
	}
	return ""
}

var procNetnsRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^/proc/[0-9]+/ns/net$`) })

// execTarget is what execIn runs, and where.
type execTarget struct {
	c         *model.Container
	root      string // --root, which every file read must stay beneath
	dir       string // the container's files
	uts       string // UTS namespace to enter; "" keeps the host's
	argv      []string
	env       []string
	workdir   string
	keepStdin bool
}

// execIn replaces netctl with the command running in the container's
// network and UTS namespaces, in a private mount namespace where the
// container's hosts and resolv.conf are bind-mounted over /etc's (what
// `ip netns exec` does with /etc/netns/NAME). Everything happens on one
// locked thread, and execve from that thread keeps its namespaces.
func execIn(t execTarget) error {
	path, err := exec.LookPath(t.argv[0])
	if err != nil {
		return &exitError{code: 127, err: err}
	}
	runtime.LockOSThread() // never unlocked: the thread is replaced by execve
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("exec: private mount namespace: %w", err)
	}
	// Our bind mounts must not propagate back to the host.
	if err := unix.Mount("", "/", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("exec: make mounts private: %w", err)
	}
	for _, f := range []struct{ name, dst string }{{files.Hosts, "/etc/hosts"}, {files.Resolv, "/etc/resolv.conf"}} {
		if err := bindBeneath(t.root, filepath.Join(t.dir, f.name), f.dst); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("exec: container %s: its %s was never written (%v): run netctl apply first", t.c.ID(), f.name, err)
			}
			return fmt.Errorf("exec: %w", err)
		}
	}
	if t.c.Mode != model.ModeHost {
		if err := setns(t.c.Netns, unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("exec: enter network namespace %s: %w", t.c.Netns, err)
		}
		// A fresh sysfs shows the container's interfaces under
		// /sys/class/net, as ip netns exec does; best effort.
		if err := unix.Unmount("/sys", unix.MNT_DETACH); err == nil {
			_ = unix.Mount(t.c.Name, "/sys", "sysfs", 0, "")
		}
	}
	if err := enterUTS(t.uts, t.c.Hostname); err != nil {
		return fmt.Errorf("exec: hostname: %w", err)
	}
	if t.workdir != "" {
		if err := unix.Chdir(t.workdir); err != nil {
			return &exitError{code: 126, err: fmt.Errorf("exec: working directory %s: %w", t.workdir, err)}
		}
	}
	if !t.keepStdin {
		if err := stdinFromDevNull(); err != nil {
			return fmt.Errorf("exec: stdin: %w", err)
		}
	}
	err = unix.Exec(path, t.argv, t.env)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EACCES) {
		return &exitError{code: 126, err: fmt.Errorf("exec %s: %w", t.argv[0], err)}
	}
	return fmt.Errorf("exec %s: %w", t.argv[0], err)
}

// enterUTS moves the thread into the UTS namespace at path. When there is
// none (a container made by a netctl that kept no UTS namespace, until the
// next apply adds it; host mode excluded), the command gets a UTS
// namespace of its own with the container's hostname, so hostname is right
// all the same.
func enterUTS(path, hostname string) error {
	if path == "" {
		return nil
	}
	err := setns(path, unix.CLONE_NEWUTS)
	if err == nil || !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EINVAL) {
		return err
	}
	if err := unix.Unshare(unix.CLONE_NEWUTS); err != nil {
		return err
	}
	return unix.Sethostname([]byte(hostname))
}

// setns moves the calling thread into the namespace of the given type
// mounted at path.
func setns(path string, nstype int) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Setns(fd, nstype)
}

func stdinFromDevNull() error {
	fd, err := unix.Open(os.DevNull, unix.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Dup2(fd, 0)
}

// mergeEnv layers environments: a later layer's KEY replaces an earlier
// one's in place, new keys are appended (Docker's precedence for a
// container's env, link env and exec's -e).
func mergeEnv(layers ...[]string) []string {
	var out []string
	at := map[string]int{}
	for _, layer := range layers {
		for _, kv := range layer {
			k, _, _ := strings.Cut(kv, "=")
			if i, ok := at[k]; ok {
				out[i] = kv
				continue
			}
			at[k] = len(out)
			out = append(out, kv)
		}
	}
	return out
}

// bindBeneath bind-mounts src, a file under root opened without following
// any link, over dst: the mount names the opened file (/proc/self/fd/N),
// so a link swapped in after the check cannot redirect it.
func bindBeneath(root, src, dst string) error {
	f, err := beneath.OpenFile(root, src, unix.O_PATH, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Mount(fmt.Sprintf("/proc/self/fd/%d", f.Fd()), dst, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s over %s: %w", src, dst, err)
	}
	return nil
}
