package netlink

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
)

// observeWorkers bounds how many namespaces Observe reads at once. Reading
// one is mostly syscalls, so a few goroutines per CPU keep the CPUs busy
// without a thread per namespace.
func observeWorkers() int {
	return 4 * runtime.GOMAXPROCS(0)
}

// runWorkers starts at most workers goroutines (never more than n), each
// running work with a next function that hands out the indexes [0, n) one
// at a time, until they run out, ctx is done or a worker fails. It returns
// the first error.
func runWorkers(ctx context.Context, n, workers int, work func(next func() (int, bool)) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		counter  atomic.Int64
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	fail := func(err error) {
		once.Do(func() { firstErr = err })
		cancel()
	}
	next := func() (int, bool) {
		if ctx.Err() != nil {
			return 0, false
		}
		i := int(counter.Add(1) - 1)
		return i, i < n
	}
	for range max(1, min(workers, n)) {
		wg.Go(func() {
			if err := work(next); err != nil {
				fail(err)
			}
		})
	}
	wg.Wait()
	if firstErr == nil && counter.Load() < int64(n) {
		// Stopped early without a worker failing: ctx was cancelled.
		firstErr = ctx.Err()
	}
	return firstErr
}

// forEach calls fn(i) for each i in [0, n) on at most workers goroutines.
func forEach(ctx context.Context, n, workers int, fn func(i int) error) error {
	return runWorkers(ctx, n, workers, func(next func() (int, bool)) error {
		for i, ok := next(); ok; i, ok = next() {
			if err := fn(i); err != nil {
				return err
			}
		}
		return nil
	})
}
