package netlink

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
)

// observeWorkers bounds how many namespaces Observe reads at once. Reading
// one is mostly syscalls (setns, socket, three dumps), so a few goroutines
// per CPU keep the CPUs busy without a thread per namespace.
func observeWorkers() int {
	return 4 * runtime.GOMAXPROCS(0)
}

// forEach calls fn(i) for i in [0, n) on at most workers goroutines. It
// stops handing out work at the first error or when ctx is done, and
// returns that first error.
func forEach(ctx context.Context, n, workers int, fn func(i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workers = max(1, min(workers, n))

	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	fail := func(err error) {
		once.Do(func() { firstErr = err })
		cancel()
	}
	for range workers {
		wg.Go(func() {
			for {
				if err := ctx.Err(); err != nil {
					fail(err)
					return
				}
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					fail(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return firstErr
}
