package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/actuators/files"
	"github.com/netctl/netctl/internal/beneath"
	"github.com/netctl/netctl/model"
)

func (a *app) execCommand() *cobra.Command {
	var project string
	cmd := &cobra.Command{
		Use:   "exec CONTAINER -- CMD [ARG...]",
		Short: "Run a command in a container's namespace, with its hosts and resolv.conf",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.findContainer(cmd, project, args[0])
			if err != nil {
				return err
			}
			if c.Mode != model.ModeHost && !c.NetnsOK {
				return fmt.Errorf("container %s: namespace %s is missing: run netctl apply", c.Name, c.Netns)
			}
			dir := files.ContainerDir(a.root, c.Project, c.Name)
			return execIn(c, a.root, dir, args[1:])
		},
	}
	cmd.Flags().StringVarP(&project, "project", "p", "", "look the container up in this project")
	return cmd
}

// execIn replaces netctl with argv running in the container's network
// namespace, in a private mount namespace where the container's hosts and
// resolv.conf are bind-mounted over /etc's (what `ip netns exec` does with
// /etc/netns/NAME). Everything happens on one locked thread, and execve
// from that thread keeps its namespaces. The exit code is argv's own.
func execIn(c *model.Container, root, dir string, argv []string) error {
	path, err := exec.LookPath(argv[0])
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
		if err := bindBeneath(root, filepath.Join(dir, f.name), f.dst); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("exec: container %s: its %s was never written (%v): run netctl apply first", c.ID(), f.name, err)
			}
			return fmt.Errorf("exec: %w", err)
		}
	}
	if c.Mode != model.ModeHost {
		fd, err := unix.Open(c.Netns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("exec: open namespace %s: %w", c.Netns, err)
		}
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("exec: enter namespace %s: %w", c.Netns, err)
		}
		unix.Close(fd)
		// A fresh sysfs shows the container's interfaces under
		// /sys/class/net, as ip netns exec does; best effort.
		if err := unix.Unmount("/sys", unix.MNT_DETACH); err == nil {
			_ = unix.Mount(c.Name, "/sys", "sysfs", 0, "")
		}
	}
	env, err := linkEnv(root, dir)
	if err != nil {
		return fmt.Errorf("exec: link env: %w", err)
	}
	err = unix.Exec(path, argv, append(os.Environ(), env...))
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EACCES) {
		return &exitError{code: 126, err: fmt.Errorf("exec %s: %w", argv[0], err)}
	}
	return fmt.Errorf("exec %s: %w", argv[0], err)
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
