package dns

import "testing"

func TestParseStopped(t *testing.T) {
	for stat, want := range map[string]bool{
		"42 (netctl) S 1 42":         false,
		"42 (netctl) T 1 42":         true,
		"42 (a) b) t 1 42":           true,
		"42 (weird (name) T) R 1 42": false,
		"garbage":                    false,
	} {
		if got := parseStopped([]byte(stat)); got != want {
			t.Errorf("parseStopped(%q) = %v, want %v", stat, got, want)
		}
	}
}
