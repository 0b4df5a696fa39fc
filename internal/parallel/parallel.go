// Package parallel splits loops over independent items across the
// goroutines GOMAXPROCS allows. Every item is processed by exactly one
// goroutine and the split never changes what is computed, only who computes
// it, so results do not depend on the number of threads.
package parallel

import (
	"runtime"
	"sync"
)

// For calls body(lo, hi) on disjoint ranges covering [0, n). Ranges hold at
// least grain items, so small loops run inline without goroutine overhead.
func For(n, grain int, body func(lo, hi int)) {
	if n <= 0 {
		return
	}
	workers := runtime.GOMAXPROCS(0)
	if grain < 1 {
		grain = 1
	}
	if workers <= 1 || n < 2*grain {
		body(0, n)
		return
	}
	parts := min(workers, n/grain)
	var wg sync.WaitGroup
	wg.Add(parts - 1)
	for i := 1; i < parts; i++ {
		lo, hi := i*n/parts, (i+1)*n/parts
		go func() {
			defer wg.Done()
			body(lo, hi)
		}()
	}
	body(0, n/parts)
	wg.Wait()
}
