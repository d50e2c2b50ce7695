// Package workers runs independent pieces of work on every CPU: the one
// worker pool of gen's pipeline, which its benchmark uses too so that the
// baseline is scheduled as gen is, and of apply's nodes.
package workers

import (
	"runtime"
	"sync"
)

// Each runs fn for 0..n-1 on GOMAXPROCS workers, taking the indexes in
// order, and returns when every call has.
func Each(n int, fn func(i int)) { Run(n, runtime.GOMAXPROCS(0), fn) }

// Run runs fn for 0..n-1 on at most parallel workers (at least one), taking
// the indexes in order, and returns when every call has: Each for work
// that waits on the network rather than the CPU (apply's --concurrency).
func Run(n, parallel int, fn func(i int)) {
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(max(parallel, 1), n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				fn(i)
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
}
