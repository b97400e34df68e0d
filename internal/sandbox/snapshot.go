package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// volatileKeys change on their own, with no configuration change, so they
// must not make two snapshots of the same state differ. Found by taking
// snapshots of a bridge with a port, 1 s, 3 s and 20 s apart:
//
//   - operstate: linkwatch moves it from UNKNOWN to UP up to a second after
//     "link set up" (admin state and carrier stay visible in "flags", and
//     a snapshot waits for the rest of what linkwatch changes: see
//     settledLinks);
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
		var res Result
		if q[len(q)-2] == "link" {
			res = h.settledLinks(t, path, q)
		} else {
			res = h.InNetns(path, q...)
		}
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

// settleTimeout bounds how long a snapshot waits for the links of a
// namespace to settle (linksPending); past it, the snapshot takes them as
// they are and a comparison shows what had not settled.
const settleTimeout = 15 * time.Second

// settledLinks runs the link query q in the namespace at path once the
// kernel has applied the link changes it has queued. "ip link set up"
// returns before that work is done: linkwatch applies a change of carrier
// later, from a workqueue that needs RTNL (up to a second later by design
// when it is not urgent), and only then do operstate and IFF_RUNNING
// follow, a bridge port go from "disabled" to "forwarding", the bridge
// gain carrier and IPv6 add a link-local address. With other namespaces
// keeping RTNL busy that took seconds, and a snapshot taken in between
// differed from the next one with no configuration change (a
// NO-CARRIER flag, a port "disabled", a veth's fe80:: address missing).
// Addresses and routes are read after the links, so they are settled too.
func (h *Host) settledLinks(t testing.TB, path string, q []string) Result {
	t.Helper()
	deadline := time.Now().Add(settleTimeout)
	for {
		syncLinks(path)
		res := h.InNetns(path, q...)
		if res.Code != 0 || !linksPending([]byte(res.Stdout)) {
			return res
		}
		if time.Now().After(deadline) {
			t.Logf("sandbox: links in %s still settling after %s", path, settleTimeout)
			return res
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// syncLinks asks the kernel for each link of the namespace at path by
// itself: a request for one link (RTM_GETLINK, unlike the dump ip makes)
// has linkwatch apply what it queued for that link first, so that the
// reply does not report a carrier not acted on yet. Twice, because a port
// that comes up gives its bridge carrier, queued anew. Kernels that do not
// sync there leave the waiting to linksPending. Errors are left to the
// dump that follows (a dangling namespace file, a link just deleted).
func syncLinks(path string) {
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return
	}
	defer ns.Close()
	nh, err := netlink.NewHandleAt(ns)
	if err != nil {
		return
	}
	defer nh.Close()
	for range 2 {
		links, err := nh.LinkList()
		if err != nil {
			return
		}
		for _, l := range links {
			_, _ = nh.LinkByIndex(l.Attrs().Index)
		}
	}
}

// linksPending reports whether a link in ip -j link output is up with a
// carrier (LOWER_UP) that IFF_RUNNING does not reflect yet, or the other
// way round: ip prints NO-CARRIER for an up link without IFF_RUNNING,
// which the kernel derives from operstate, which linkwatch sets from the
// carrier. The two disagree for good only on a dormant link, which netctl
// never makes.
func linksPending(data []byte) bool {
	var links []struct {
		Flags []string `json:"flags"`
	}
	if err := json.Unmarshal(data, &links); err != nil {
		return false // normalizeJSON reports it
	}
	for _, l := range links {
		up, carrier, running, dormant := false, false, true, false
		for _, f := range l.Flags {
			switch f {
			case "UP":
				up = true
			case "LOWER_UP":
				carrier = true
			case "NO-CARRIER":
				running = false
			case "DORMANT":
				dormant = true
			}
		}
		if up && !dormant && carrier != running {
			return true
		}
	}
	return false
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
