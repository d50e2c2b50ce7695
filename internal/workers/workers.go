// Package workers runs independent pieces of work on every CPU: the one
// worker pool of gen's pipeline, which its benchmark uses too so that the
// baseline is scheduled as gen is.
package workers

import (
	"runtime"
	"sync"
)

// Each runs fn for 0..n-1 on GOMAXPROCS workers, taking the indexes in
// order, and returns when every call has.
func Each(n int, fn func(i int)) {
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), n) {
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
