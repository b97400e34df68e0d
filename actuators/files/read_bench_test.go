package files

import (
	"context"
	"fmt"
	"net/netip"
	"testing"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/model"
)

// writeContainers writes n containers' files, shaped like a compose
// project's: one network with an alias, Docker's hosts lines, the
// embedded server in resolv.conf, and an env file on one in twenty.
func writeContainers(tb testing.TB, s *Store, n int) []*model.Container {
	tb.Helper()
	ctx := context.Background()
	cs := make([]*model.Container, n)
	for i := range n {
		project, name := fmt.Sprintf("p%d", i/50), fmt.Sprintf("svc%d", i%50)
		addr := netip.AddrFrom4([4]byte{10, 250, byte(i >> 8), byte(i)})
		c := &model.Container{
			Project: project, Name: name, Hostname: name, Mode: model.ModeBridge,
			Netns:     "/run/netctl/netns/" + project + "/" + name,
			Endpoints: []*model.Endpoint{{Network: project + "/default", Aliases: []string{name, "api-" + name}}},
			HostsFile: "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" +
				"fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n" +
				addr.String() + "\t" + name + "\n",
			ResolvFile: "nameserver 127.0.0.11\nsearch example.com\noptions ndots:0\n",
		}
		if i%20 == 0 {
			c.ExtraHosts = []model.HostEntry{{IP: netip.MustParseAddr("10.1.2.3"), Names: []string{"metrics"}}}
			c.DNS = []netip.Addr{netip.MustParseAddr("1.1.1.1")}
			c.EnvFile = "DB_NAME=/" + name + "/db\nDB_PORT=tcp://10.250.0.2:5432\n"
		}
		if err := s.WriteContainer(ctx, c); err != nil {
			tb.Fatal(err)
		}
		cs[i] = c
	}
	return cs
}

// BenchmarkReadContainers1000 is the files' part of a no-op apply's
// observation at a thousand containers: Read of every container.
func BenchmarkReadContainers1000(b *testing.B) { benchmarkRead(b, false) }

// BenchmarkReadContainersJournalled1000 is the same Read when the files
// journal heard nothing since the last one: every reading reused.
func BenchmarkReadContainersJournalled1000(b *testing.B) { benchmarkRead(b, true) }

func benchmarkRead(b *testing.B, journal bool) {
	root := b.TempDir()
	s := New(root)
	writeContainers(b, s, 1000)
	if journal {
		journalled(b, root)
		s.UseJournal(true, zerolog.Nop())
	}
	ctx := context.Background()
	if _, err := s.Read(ctx, nil); err != nil { // the reading the next ones reuse
		b.Fatal(err)
	}
	b.ReportAllocs()
	// The reads run side by side: ns/op is their wall time, user-ns/op
	// and sys-ns/op what they cost the machine, in the program and in
	// the kernel's system calls.
	user0, sys0 := cpuTime(b)
	for b.Loop() {
		fill, err := s.Read(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		fill(model.NewState())
	}
	user, sys := cpuTime(b)
	b.ReportMetric(float64(user-user0)/float64(b.N), "user-ns/op")
	b.ReportMetric(float64(sys-sys0)/float64(b.N), "sys-ns/op")
}

// cpuTime is the process's user and system time so far, in nanoseconds.
func cpuTime(tb testing.TB) (user, sys int64) {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return ru.Utime.Nano(), ru.Stime.Nano()
}
