package files

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
)

func TestTryLock(t *testing.T) {
	root := t.TempDir()
	unlock, err := TryLock(root, "watch.lock", "netctl watch")
	if err != nil {
		t.Fatal(err)
	}
	// flock excludes open files, not processes: a second open in this
	// process stands in for a second watcher.
	_, err = TryLock(root, "watch.lock", "netctl watch")
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second TryLock: %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
		t.Errorf("the error does not name the holder: %v", err)
	}
	// The ordinary lock is a different file: apply still works.
	unlockApply, err := TryLock(root, "lock", "netctl apply")
	if err != nil {
		t.Fatalf("the apply lock is taken by the watch lock: %v", err)
	}
	unlockApply()
	unlock()
	again, err := TryLock(root, "watch.lock", "netctl watch")
	if err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	again()
}
