package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// volatileKeys change on their own, with no configuration change, so they
// must not make two snapshots of the same state differ. Found by taking
// snapshots of a bridge with a port, 1 s, 3 s and 20 s apart:
//
//   - operstate: linkwatch moves it from UNKNOWN to UP up to a second after
//     "link set up" (admin state and carrier stay visible in "flags");
//   - tentative: IPv6 duplicate address detection on the link-local
//     address, cleared one to two seconds after the link comes up;
//   - valid_life_time, preferred_life_time: count down on dynamic addresses;
//   - stats, stats64: traffic counters (only with -s; dropped in case).
//
// Keys ending in "_timer" (bridge gc/hello/tcn/topology_change timers and
// port forward_delay/hold/message_age timers) count down as well.
var volatileKeys = map[string]bool{
	"operstate":           true,
	"tentative":           true,
	"valid_life_time":     true,
	"preferred_life_time": true,
	"stats":               true,
	"stats64":             true,
}

func volatile(key string) bool {
	return volatileKeys[key] || strings.HasSuffix(key, "_timer")
}

// Snapshot returns a stable text of the kernel state netctl manages: links
// (with details), addresses and IPv4 routes of the sandbox host and of every
// container namespace under <root>/netns/<project>/<name>, sorted by path.
// Two snapshots are equal when the configuration is, so comparing one taken
// before and after a no-op apply checks idempotency.
func (h *Host) Snapshot(t testing.TB) string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(h.root, "netns", "*", "*"))
	if err != nil {
		t.Fatalf("sandbox: %v", err)
	}
	sort.Strings(paths)
	var b strings.Builder
	h.snapshotNetns(t, &b, "host", h.NetnsPath())
	for _, p := range paths {
		rel, _ := filepath.Rel(h.root, p)
		h.snapshotNetns(t, &b, rel, p)
	}
	return b.String()
}

func (h *Host) snapshotNetns(t testing.TB, b *strings.Builder, label, path string) {
	t.Helper()
	for _, q := range [][]string{
		{"ip", "-d", "-j", "link", "show"},
		{"ip", "-j", "addr", "show"},
		{"ip", "-j", "route", "show"},
	} {
		fmt.Fprintf(b, "### %s: %s\n", label, strings.Join(q, " "))
		res := h.InNetns(path, q...)
		if res.Code != 0 {
			// A namespace file netctl left dangling is state worth
			// comparing too, so it goes into the text instead of failing.
			fmt.Fprintf(b, "error: exit %d: %s\n", res.Code, strings.TrimSpace(res.Stderr))
			continue
		}
		norm, err := normalizeJSON([]byte(res.Stdout))
		if err != nil {
			t.Fatalf("sandbox: %s in %s: %v\n%s", strings.Join(q, " "), path, err, res.Stdout)
		}
		b.WriteString(norm)
		b.WriteString("\n")
	}
}

// normalizeJSON drops volatile keys and re-encodes with sorted keys, one
// value per line, so that diffs of two snapshots are readable.
func normalizeJSON(data []byte) (string, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return "[]", nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // keep numbers exactly as ip printed them
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", err
	}
	out, err := json.MarshalIndent(strip(v), "", " ")
	if err != nil {
		return "", err
	}
	return string(out), nil
}

func strip(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if volatile(k) {
				delete(x, k)
				continue
			}
			x[k] = strip(val)
		}
	case []any:
		for i := range x {
			x[i] = strip(x[i])
		}
	}
	return v
}
