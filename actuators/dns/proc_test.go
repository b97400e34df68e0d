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

func TestParseIsServer(t *testing.T) {
	for cmdline, want := range map[string]bool{
		"/usr/bin/netctl\x00--root\x00/run/netctl\x00dns\x00serve\x00":              true,
		"/usr/bin/netctl\x00--root\x00/run/netctl/\x00dns\x00serve\x00--worker\x00": true,
		"/usr/bin/netctl\x00--root\x00/run/other\x00dns\x00serve\x00":               false,
		"/usr/bin/netctl\x00--root\x00/run/netctl\x00apply\x00":                     false,
		"/bin/sleep\x00100\x00": false,
	} {
		if got := parseIsServer([]byte(cmdline), "/run/netctl"); got != want {
			t.Errorf("%q: %v, want %v", cmdline, got, want)
		}
	}
}
