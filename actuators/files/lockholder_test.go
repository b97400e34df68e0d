package files

import "testing"

func TestParseLockHolder(t *testing.T) {
	locks := []byte(`1: POSIX  ADVISORY  WRITE 111 00:1a:77 0 EOF
2: FLOCK  ADVISORY  WRITE 4242 00:1a:1234 0 EOF
2: -> FLOCK  ADVISORY  WRITE 5555 00:1a:1234 0 EOF
3: FLOCK  ADVISORY  WRITE 999 08:01:1234 0 EOF
`)
	if got := parseLockHolder(locks, "00:1a:1234"); got != 4242 {
		t.Errorf("holder = %d, want 4242 (not the waiter, not another device)", got)
	}
	if got := parseLockHolder(locks, "00:1a:77"); got != 0 {
		t.Errorf("a POSIX lock counted as a flock: %d", got)
	}
}
