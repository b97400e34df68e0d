// Package journalsock carries a journal's answers between the process
// that keeps the journal (the DNS server's worker) and one-shot commands:
// a unix socket under --root, one question line and one answer line per
// connection. What a question and an answer hold is the journal's
// business.
package journalsock

import (
	"bufio"
	"context"
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

// Serve answers each question on the socket at path with answer(question)
// until ctx is done, then removes the socket. It holds path's lock file
// (the socket's name with .lock for .sock) meanwhile, so that a socket
// left by a journal that died is replaced and the socket of one that
// lives never is.
func Serve(ctx context.Context, path string, answer func(question []byte) []byte) error {
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

func reply(conn net.Conn, answer func([]byte) []byte) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReaderSize(conn, 256).ReadSlice('\n')
	if err != nil {
		return
	}
	_, _ = conn.Write(append(answer(line), '\n'))
}

// Ask sends question (one line, without its newline) to the journal at
// path and returns its answer line; an error means there is no journal
// to trust.
func Ask(ctx context.Context, path string, question []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if _, err := conn.Write(append(question, '\n')); err != nil {
		return nil, err
	}
	// An answer may be large (a namespace id per container): read to the
	// end, which the journal's close marks.
	b, err := io.ReadAll(conn)
	if err != nil {
		return nil, err
	}
	if len(b) == 0 || b[len(b)-1] != '\n' {
		return nil, errors.New("answer cut short")
	}
	return b[:len(b)-1], nil
}
