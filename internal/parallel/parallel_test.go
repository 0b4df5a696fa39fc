package parallel

import (
	"runtime"
	"sync/atomic"
	"testing"
)

func TestForCoversEachItemOnce(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	for _, n := range []int{0, 1, 7, 100, 1001} {
		for _, grain := range []int{0, 1, 10, 2000} {
			hits := make([]int32, n)
			Do(n, grain, Func(func(lo, hi int) {
				for i := lo; i < hi; i++ {
					atomic.AddInt32(&hits[i], 1)
				}
			}))
			for i, h := range hits {
				if h != 1 {
					t.Fatalf("n=%d grain=%d: item %d processed %d times", n, grain, i, h)
				}
			}
		}
	}
}

func TestNestedDoesNotDeadlock(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(3))
	var total atomic.Int64
	Do(8, 1, Func(func(lo, hi int) {
		for i := lo; i < hi; i++ {
			Do(100, 10, Func(func(a, b int) { total.Add(int64(b - a)) }))
		}
	}))
	if total.Load() != 800 {
		t.Fatalf("nested loops covered %d items, want 800", total.Load())
	}
}

type sumTask struct {
	x   []float64
	out []float64
}

func (s *sumTask) Run(lo, hi int) {
	for i := lo; i < hi; i++ {
		s.out[i] = s.x[i] * 2
	}
}

func TestDoAllocatesNothing(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	task := &sumTask{x: make([]float64, 1<<12), out: make([]float64, 1<<12)}
	Do(len(task.x), 64, task)
	if a := testing.AllocsPerRun(100, func() { Do(len(task.x), 64, task) }); a != 0 {
		t.Fatalf("Do allocates %.1f times per call", a)
	}
}
