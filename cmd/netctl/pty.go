package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// ptyChildEnv marks the netctl that execWithPty starts on the new
// terminal, so that it can never start another.
const ptyChildEnv = "NETCTL_EXEC_PTY"

// execWithPty serves `exec -t` when stdin is not a terminal (docker exec
// -t in a pipeline): it opens a pseudo-terminal, runs this same command
// line again with the terminal as its stdin, stdout and stderr and as its
// controlling terminal (that netctl then runs the command straight on
// it), copies what the command writes to out and exits with its code.
func execWithPty(out io.Writer) error {
	if os.Getenv(ptyChildEnv) != "" {
		return errors.New("exec -t: the pseudo-terminal is not a terminal")
	}
	master, slave, err := openPty()
	if err != nil {
		return fmt.Errorf("exec -t: pseudo-terminal: %w", err)
	}
	defer master.Close()
	exe, err := os.Executable()
	if err != nil {
		slave.Close()
		return err
	}
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Env = append(os.Environ(), ptyChildEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	err = cmd.Start()
	slave.Close() // the child holds it now: its exit ends the master's reads
	if err != nil {
		return err
	}
	// The command is in a session of its own: signals sent to netctl (a
	// timeout's SIGTERM, Ctrl-C on the pipeline) are passed on to it.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	defer func() { signal.Stop(sigs); close(sigs) }()
	go func() {
		for sig := range sigs {
			_ = cmd.Process.Signal(sig)
		}
	}()
	copied := make(chan struct{})
	go func() {
		// Reading the master fails with EIO once every holder of the
		// terminal is gone: that is the end of the output.
		_, _ = io.Copy(out, master)
		close(copied)
	}()
	err = cmd.Wait()
	<-copied
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code := ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal()) // as a shell reports it
		}
		return &exitError{code: code}
	}
	return err
}

// openPty opens a new pseudo-terminal pair, 80x24 like a fresh terminal.
func openPty() (master, slave *os.File, err error) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, err
	}
	fail := func(err error) (*os.File, *os.File, error) {
		m.Close()
		return nil, nil, err
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		return fail(fmt.Errorf("unlock: %w", err))
	}
	n, err := unix.IoctlGetUint32(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		return fail(fmt.Errorf("pty number: %w", err))
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.FormatUint(uint64(n), 10), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return fail(err)
	}
	if err := unix.IoctlSetWinsize(int(s.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: 80}); err != nil {
		s.Close()
		return fail(fmt.Errorf("window size: %w", err))
	}
	return m, s, nil
}
