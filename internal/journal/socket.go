// Package journal is what netctl's two journals share (actuators/netlink's,
// of the kernel's announcements, and actuators/files', of inotify events):
// the ledger of each container's last change, and the unix socket under
// --root on which the process that keeps a journal (the DNS server's
// worker) answers one-shot commands: one question line and one answer
// line per connection, in JSON. The worker's other service, the iptables
// backend's read-back (actuators/firewall/iptables), asks and answers on
// a socket of the same kind.
package journal

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ErrRunning: another journal answers on the socket.
var ErrRunning = errors.New("another journal answers for this root")

// Question asks a journal what it heard since the count Since of the
// journal of epoch Epoch.
type Question struct {
	Epoch uint64
	Since uint64
}

// Serve answers each question (a Q, in JSON) on the socket at path with
// answer's value until ctx is done, then removes the socket. It holds path's lock file
// (the socket's name with .lock for .sock) meanwhile, so that a socket
// left by a journal that died is replaced and the socket of one that
// lives never is.
func Serve[Q any](ctx context.Context, path string, answer func(Q) any) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	lock, err := os.OpenFile(strings.TrimSuffix(path, ".sock")+".lock", os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return ErrRunning
		}
		return fmt.Errorf("lock: %w", err)
	}
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	defer os.Remove(path)
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return err
	}
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		go reply(conn, answer)
	}
}

func reply[Q any](conn net.Conn, answer func(Q) any) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReaderSize(conn, 1024).ReadSlice('\n')
	var q Q
	if err == nil {
		err = json.Unmarshal(line, &q)
	}
	if err != nil {
		return
	}
	b, err := json.Marshal(answer(q))
	if err != nil {
		return
	}
	_, _ = conn.Write(append(b, '\n'))
}

// Ask asks the journal at path q and decodes its answer into answer; an
// error means there is no journal to trust.
func Ask(ctx context.Context, path string, q any, answer any) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	b, _ := json.Marshal(q)
	if _, err := conn.Write(append(b, '\n')); err != nil {
		return err
	}
	// An answer may be large (a namespace id per container): read to the
	// end, which the journal's close marks.
	if b, err = io.ReadAll(conn); err != nil {
		return err
	}
	if len(b) == 0 || b[len(b)-1] != '\n' {
		return errors.New("answer cut short")
	}
	return json.Unmarshal(b, answer)
}
