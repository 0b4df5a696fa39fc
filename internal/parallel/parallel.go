// Package parallel splits loops over independent items across the
// goroutines GOMAXPROCS allows. Every item is processed by exactly one
// goroutine and the split never changes what is computed, only who computes
// it, so results do not depend on the number of threads.
//
// Loops are handed over as a Task (an interface implemented on a struct
// that holds the loop's arguments) to long-lived workers, so a training step
// that runs thousands of parallel loops allocates nothing.
package parallel

import (
	"runtime"
	"sync"
)

// Task is a loop body over a range of item indices [lo, hi).
type Task interface{ Run(lo, hi int) }

// Func adapts a function to a Task, for loops where the closure's
// allocation per call does not matter (hot paths implement Task on a struct).
type Func func(lo, hi int)

// Run implements Task.
func (f Func) Run(lo, hi int) { f(lo, hi) }

type job struct {
	t      Task
	lo, hi int
	wg     *sync.WaitGroup
}

var (
	mu      sync.Mutex
	workers int
	jobs    = make(chan job)
	wgs     = sync.Pool{New: func() any { return new(sync.WaitGroup) }}
)

// ensureWorkers starts workers until n of them exist.
func ensureWorkers(n int) {
	mu.Lock()
	defer mu.Unlock()
	for workers < n {
		workers++
		go func() {
			for j := range jobs {
				j.t.Run(j.lo, j.hi)
				j.wg.Done()
			}
		}()
	}
}

// Do runs t over [0, n) in ranges of at least grain items, using up to
// GOMAXPROCS goroutines. Small loops run inline. A range that finds no idle
// worker runs on the caller, so nested calls never deadlock.
func Do(n, grain int, t Task) {
	if n <= 0 {
		return
	}
	procs := runtime.GOMAXPROCS(0)
	grain = max(grain, 1)
	if procs <= 1 || n < 2*grain {
		t.Run(0, n)
		return
	}
	parts := min(procs, n/grain)
	ensureWorkers(procs - 1)
	wg := wgs.Get().(*sync.WaitGroup)
	for i := 1; i < parts; i++ {
		lo, hi := i*n/parts, (i+1)*n/parts
		wg.Add(1)
		select {
		case jobs <- job{t, lo, hi, wg}:
		default:
			t.Run(lo, hi)
			wg.Done()
		}
	}
	t.Run(0, n/parts)
	wg.Wait()
	wgs.Put(wg)
}
