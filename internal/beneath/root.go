package beneath

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// Root is a trusted directory held open, for reading many files below it
// with one open of the root, not one per file: an observation reads four
// files per container, and opening the root, the file, statting it and
// reading it to EOF through an os.File took seven system calls a file
// where four do (openat2, fstat, one read, close).
type Root struct {
	path string
	fd   int
}

// OpenRoot opens root; the caller closes it.
func OpenRoot(root string) (*Root, error) {
	fd, err := openRoot(root)
	if err != nil {
		return nil, err
	}
	return &Root{path: root, fd: fd}, nil
}

// Close closes the root.
func (r *Root) Close() error { return unix.Close(r.fd) }

// ReadFile reads path, which must lie inside the root and be a regular
// file, following no symbolic link below the root.
func (r *Root) ReadFile(path string) ([]byte, error) { return r.ReadFileBuf(path, nil) }

// ReadFileBuf is ReadFile reading into buf when it is large enough, so
// that a caller reading many small files needs no buffer per file: the
// result may share buf's memory.
func (r *Root) ReadFileBuf(path string, buf []byte) ([]byte, error) {
	rp, err := rel(r.path, path)
	if err != nil {
		return nil, err
	}
	fd, err := openAt(r.fd, rp, unix.O_RDONLY, 0)
	if err != nil {
		return nil, wrap("open", path, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, &os.PathError{Op: "read", Path: path, Err: errors.New("not a regular file")}
	}
	// A buffer one byte larger than the file: a read of a regular file
	// returns all that is asked up to the end, so a read that does not
	// fill it has reached the end, and a second read to see 0 is spared.
	// The loop covers a file that grew meanwhile. buf is used when it
	// has room for that byte too.
	b := buf[:cap(buf)]
	if int64(len(b)) <= st.Size {
		b = make([]byte, st.Size+1)
	}
	n := 0
	for {
		m, err := unix.Read(fd, b[n:])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: path, Err: err}
		}
		n += m
		if m == 0 || n < len(b) {
			return b[:n], nil
		}
		b = append(b, make([]byte, len(b))...)
	}
}
