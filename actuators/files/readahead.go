package files

import (
	"context"
	"path/filepath"
	"runtime"
	"sync"
)

// containerFiles is what Observe reads for one container.
type containerFiles struct {
	settings      containerSettings
	hosts, resolv string
	err           error
}

// readContainers reads the settings, hosts and resolv.conf of each
// container directory holding settingsPaths[i], in parallel: at a thousand
// containers these three thousand small reads are most of Observe's time
// in this package, and `watch` observes on every resync.
func readContainers(ctx context.Context, settingsPaths []string) ([]containerFiles, error) {
	out := make([]containerFiles, len(settingsPaths))
	workers := min(4*runtime.GOMAXPROCS(0), len(settingsPaths))
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				dir := filepath.Dir(settingsPaths[i])
				r := &out[i]
				r.err = readJSON(settingsPaths[i], &r.settings)
				r.hosts = readOptional(filepath.Join(dir, Hosts))
				r.resolv = readOptional(filepath.Join(dir, Resolv))
			}
		}()
	}
	var err error
	for i := range settingsPaths {
		if err = ctx.Err(); err != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	return out, err
}
