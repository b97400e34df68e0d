package netlink

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/model"
)

// scaleN is how many containers the scale test and benchmark make;
// NETCTL_SCALE_N overrides it (e.g. 1000).
func scaleN(t testing.TB) int {
	if v := os.Getenv("NETCTL_SCALE_N"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("NETCTL_SCALE_N=%q", v)
		}
		return n
	}
	return 300
}

// scaleSandbox wires n containers, one endpoint each, spread over four
// bridges (a bridge takes at most 1024 ports), in parallel as the
// reconciler would.
func scaleSandbox(t testing.TB, n int) *sandbox {
	s := newSandboxLog(t, zerolog.Nop())
	ctx := context.Background()
	var nets []*model.Network
	for b := range 4 {
		net := s.network("scale", "n"+strconv.Itoa(b), "nct-sb"+strconv.Itoa(b), "10.250."+strconv.Itoa(64*b)+".0/18")
		s.ensureBridge(net)
		nets = append(nets, net)
	}
	start := time.Now()
	err := forEach(ctx, n, 4*runtime.GOMAXPROCS(0), func(i int) error {
		net := nets[i%4]
		c := s.container("scale", "c"+strconv.Itoa(i))
		if err := s.links.EnsureNamespace(ctx, c); err != nil {
			return err
		}
		addr := net.Subnet.Addr().As4()
		host := 2 + i/4
		addr[2] += byte(host >> 8)
		addr[3] = byte(host)
		ep := endpoint(net, "eth0", "nct-s"+strconv.Itoa(i), netip.AddrFrom4(addr).String())
		if err := s.links.EnsureEndpoint(ctx, c, net, ep); err != nil {
			return err
		}
		return s.links.EnsureDefaultRoute(ctx, c, net.Gateway)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("wired %d containers in %v", n, time.Since(start).Round(time.Millisecond))
	// The namespaces wired stay open only up to the cache's bound: 10,000
	// containers must not run the process out of file descriptors.
	s.links.nsMu.Lock()
	cached := len(s.links.nsCache)
	s.links.nsMu.Unlock()
	if cached > nsCacheMax {
		t.Errorf("%d namespaces kept open, want at most %d", cached, nsCacheMax)
	}
	return s
}

// settle waits out the kernel's work after a burst of new interfaces (IPv6
// DAD and router solicitations, namespaces of earlier tests being
// destroyed), which would otherwise be measured along with Observe. A
// no-op reconcile runs on a settled host.
func settle() { time.Sleep(2 * time.Second) }

// TestObserveScale measures Observe over many namespaces; the number to
// watch is in the log (go test -v -run ObserveScale).
func TestObserveScale(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: creates hundreds of namespaces")
	}
	n := scaleN(t)
	s := scaleSandbox(t, n)
	settle()
	var times []time.Duration
	for range 7 {
		start := time.Now()
		st := s.observe()
		times = append(times, time.Since(start))
		if len(st.Containers) != n || len(st.Networks) != 4 {
			t.Fatalf("observed %d containers, %d networks", len(st.Containers), len(st.Networks))
		}
		for id, c := range st.Containers {
			if !c.NetnsOK || len(c.Endpoints) != 1 || !c.Endpoints[0].HostOK || !c.Endpoints[0].PeerOK {
				t.Fatalf("%s observed as %+v", id, *c)
			}
		}
	}
	slices.Sort(times)
	t.Logf("Observe of %d namespaces (GOMAXPROCS=%d): min %v, median %v, max %v",
		n, runtime.GOMAXPROCS(0), times[0].Round(10*time.Microsecond),
		times[len(times)/2].Round(10*time.Microsecond), times[len(times)-1].Round(10*time.Microsecond))
}

func BenchmarkObserve(b *testing.B) {
	s := scaleSandbox(b, scaleN(b))
	settle()
	ctx := context.Background()
	n := scaleN(b)
	cpu0 := processCPU(b)
	for b.Loop() {
		if _, err := s.links.Observe(ctx, nil); err != nil {
			b.Fatal(err)
		}
	}
	// CPU time (user + system, every thread) is what a loaded machine
	// does not distort as much as the wall clock.
	cpu := processCPU(b) - cpu0
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N)/float64(n)/1e3, "cpu-µs/container")
}

// processCPU is the process's user and system time so far.
func processCPU(t testing.TB) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestObserveCancelled(t *testing.T) {
	s := scaleSandbox(t, 20)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.links.Observe(ctx, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Observe with a cancelled context: err = %v", err)
	}
}
