// Command dnsload is the DNS benchmark's tools in one binary:
//
//	dnsload upstream -addr 127.0.0.1:53
//	    a stand-in upstream resolver: every A query gets 192.0.2.1 at once
//	    (the forwarded-names benchmark measures the server, not a resolver).
//	dnsload load -server 172.30.0.1:53 -names FILE [-duration 10s]
//	    [-concurrency 32] [-rate 0]
//	    UDP load from the namespace it runs in: closed loop with
//	    -concurrency queries in flight, or open loop at -rate queries per
//	    second. Prints one line: qps, latency percentiles, lost queries.
//
// It sends traffic only to the address it is given; the benchmark script
// runs it inside a sandbox namespace.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	mdns "github.com/miekg/dns"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: dnsload upstream|load [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "upstream":
		err = upstream(os.Args[2:])
	case "load":
		err = load(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dnsload:", err)
		os.Exit(1)
	}
}

func upstream(args []string) error {
	fs := flag.NewFlagSet("upstream", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:53", "listen address (udp and tcp)")
	_ = fs.Parse(args)
	h := mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(r)
		m.RecursionAvailable = true
		if q := r.Question[0]; q.Qtype == mdns.TypeA {
			m.Answer = append(m.Answer, &mdns.A{
				Hdr: mdns.RR_Header{Name: q.Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 60},
				A:   net.IPv4(192, 0, 2, 1),
			})
		}
		_ = w.WriteMsg(m)
	})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errs := make(chan error, 2)
	var servers []*mdns.Server
	for _, netw := range []string{"udp", "tcp"} {
		srv := &mdns.Server{Addr: *addr, Net: netw, Handler: h}
		servers = append(servers, srv)
		go func() { errs <- srv.ListenAndServe() }()
	}
	select {
	case <-ctx.Done():
	case err := <-errs:
		return err
	}
	for _, s := range servers {
		_ = s.Shutdown()
	}
	return nil
}

func load(args []string) error {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	server := fs.String("server", "", "server address host:port")
	namesFile := fs.String("names", "", "file of names to ask, one a line")
	duration := fs.Duration("duration", 10*time.Second, "how long to send")
	concurrency := fs.Int("concurrency", 32, "closed loop: queries in flight")
	rate := fs.Int("rate", 0, "open loop: queries per second (0: closed loop)")
	timeout := fs.Duration("timeout", time.Second, "a query unanswered after this is lost")
	label := fs.String("label", "", "printed first on the result line")
	_ = fs.Parse(args)
	if *server == "" || *namesFile == "" {
		return errors.New("load needs -server and -names")
	}
	names, err := readNames(*namesFile)
	if err != nil {
		return err
	}
	// Pack every query once: the generator must cost far less than the
	// servers it measures (both share the machine's cores).
	packed := make([][]byte, len(names))
	for i, n := range names {
		m := new(mdns.Msg)
		m.SetQuestion(mdns.Fqdn(n), mdns.TypeA)
		if packed[i], err = m.Pack(); err != nil {
			return err
		}
	}
	var res result
	if *rate > 0 {
		res, err = openLoop(*server, packed, *duration, *rate, *timeout)
	} else {
		res, err = closedLoop(*server, packed, *duration, *concurrency, *timeout)
	}
	if err != nil {
		return err
	}
	fmt.Println(res.line(*label))
	return nil
}

func readNames(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) > 0 {
			out = append(out, f[0])
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no names", path)
	}
	return out, sc.Err()
}

type result struct {
	elapsed   time.Duration
	latencies []time.Duration // of answered queries
	lost      int
	errors    int // answers that were not NOERROR with an answer
}

func (r result) line(label string) string {
	slices.Sort(r.latencies)
	pct := func(p float64) string {
		if len(r.latencies) == 0 {
			return "-"
		}
		i := int(p * float64(len(r.latencies)-1))
		return fmt.Sprintf("%.3f", float64(r.latencies[i].Microseconds())/1000)
	}
	qps := float64(len(r.latencies)) / r.elapsed.Seconds()
	return fmt.Sprintf("%s qps=%.0f p50_ms=%s p99_ms=%s p999_ms=%s max_ms=%s answered=%d lost=%d bad=%d",
		label, qps, pct(0.50), pct(0.99), pct(0.999), pct(1), len(r.latencies), r.lost, r.errors)
}

// closedLoop: each worker has its own socket and one query in flight.
func closedLoop(server string, packed [][]byte, d time.Duration, workers int, timeout time.Duration) (result, error) {
	var mu sync.Mutex
	var total result
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(d)
	errc := make(chan error, workers)
	for w := range workers {
		conn, err := net.Dial("udp", server)
		if err != nil {
			return result{}, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conn.Close()
			var r result
			buf := make([]byte, 4096)
			q := make([]byte, 0, 512)
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			id := uint16(w * 1000)
			for time.Now().Before(end) {
				q = append(q[:0], packed[rng.IntN(len(packed))]...)
				id++
				q[0], q[1] = byte(id>>8), byte(id)
				sent := time.Now()
				if _, err := conn.Write(q); err != nil {
					errc <- err
					return
				}
				_ = conn.SetReadDeadline(sent.Add(timeout))
				for {
					n, err := conn.Read(buf)
					if err != nil {
						r.lost++
						break
					}
					if n < 12 || buf[0] != q[0] || buf[1] != q[1] {
						continue // a late answer to a lost query
					}
					r.latencies = append(r.latencies, time.Since(sent))
					if !goodAnswer(buf[:n]) {
						r.errors++
					}
					break
				}
			}
			mu.Lock()
			total.latencies = append(total.latencies, r.latencies...)
			total.lost += r.lost
			total.errors += r.errors
			mu.Unlock()
		}()
	}
	wg.Wait()
	total.elapsed = time.Since(start)
	select {
	case err := <-errc:
		return total, err
	default:
	}
	return total, nil
}

// openLoop sends at a fixed rate whatever the answers do, so a slow
// server's queueing shows in its latency instead of lowering the load.
func openLoop(server string, packed [][]byte, d time.Duration, rate int, timeout time.Duration) (result, error) {
	const sockets = 4
	var mu sync.Mutex
	var total result
	var wg sync.WaitGroup
	start := time.Now()
	per := time.Duration(float64(time.Second) * sockets / float64(rate))
	for s := range sockets {
		conn, err := net.Dial("udp", server)
		if err != nil {
			return result{}, err
		}
		var sentAt [65536]time.Time
		var smu sync.Mutex
		done := make(chan struct{})
		wg.Add(2)
		go func() { // sender
			defer wg.Done()
			defer close(done)
			rng := rand.New(rand.NewPCG(uint64(s), 11))
			q := make([]byte, 0, 512)
			next := start.Add(time.Duration(s) * per / sockets)
			for id := uint16(1); ; id++ {
				if next.After(start.Add(d)) {
					return
				}
				if wait := time.Until(next); wait > 0 {
					time.Sleep(wait)
				}
				q = append(q[:0], packed[rng.IntN(len(packed))]...)
				q[0], q[1] = byte(id>>8), byte(id)
				smu.Lock()
				sentAt[id] = time.Now()
				smu.Unlock()
				_, _ = conn.Write(q)
				next = next.Add(per)
			}
		}()
		go func() { // receiver
			defer wg.Done()
			defer conn.Close()
			var r result
			buf := make([]byte, 4096)
			for {
				select {
				case <-done:
					// Drain for one timeout after the last send.
					_ = conn.SetReadDeadline(time.Now().Add(timeout))
				default:
					_ = conn.SetReadDeadline(time.Now().Add(timeout))
				}
				n, err := conn.Read(buf)
				if err != nil {
					select {
					case <-done:
						// What is still marked sent never got an answer.
						smu.Lock()
						for _, t := range sentAt {
							if !t.IsZero() {
								r.lost++
							}
						}
						smu.Unlock()
						mu.Lock()
						total.latencies = append(total.latencies, r.latencies...)
						total.lost += r.lost
						total.errors += r.errors
						mu.Unlock()
						return
					default:
						continue
					}
				}
				if n < 12 {
					continue
				}
				id := uint16(buf[0])<<8 | uint16(buf[1])
				smu.Lock()
				t := sentAt[id]
				sentAt[id] = time.Time{}
				smu.Unlock()
				if t.IsZero() {
					continue
				}
				r.latencies = append(r.latencies, time.Since(t))
				if !goodAnswer(buf[:n]) {
					r.errors++
				}
			}
		}()
	}
	wg.Wait()
	total.elapsed = d
	return total, nil
}

// goodAnswer: NOERROR with at least one answer record.
func goodAnswer(b []byte) bool {
	return b[3]&0x0f == 0 && (b[6] != 0 || b[7] != 0)
}
