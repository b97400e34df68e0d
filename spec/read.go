package spec

import (
	"fmt"
	"io"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// MaxFileSize bounds a topology file. The largest realistic file (ten
// thousand containers with ports and aliases) is about 1 MiB.
const MaxFileSize = 4 << 20

// Stdin is the file name that reads the topology from standard input.
const Stdin = "-"

// ReadFile reads a topology file: a regular file, or standard input for
// "-", of at most MaxFileSize bytes. Anything else is refused with a
// clear error rather than read: a named pipe would hang netctl until a
// writer came, and a device such as /dev/zero would grow it without
// bound. A missing file gives the os error as is (fs.ErrNotExist).
func ReadFile(path string) ([]byte, error) {
	if path == Stdin {
		return ReadLimited(os.Stdin, "standard input")
	}
	// O_NONBLOCK: opening a named pipe would otherwise wait for a writer
	// before the check below could refuse it.
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %s, not a regular file: netctl reads a topology from a file or from standard input (-f -)", path, kind(st.Mode()))
	}
	if st.Size() > MaxFileSize {
		return nil, tooLarge(path)
	}
	return ReadLimited(f, path)
}

// ReadLimited reads r whole, refusing more than MaxFileSize bytes; name
// says what r is in errors.
func ReadLimited(r io.Reader, name string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(b) > MaxFileSize {
		return nil, tooLarge(name)
	}
	return b, nil
}

func tooLarge(name string) error {
	return fmt.Errorf("%s: larger than %d MiB: not a topology file netctl will read", name, MaxFileSize>>20)
}

func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "a special file"
}
