package blas

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// matrixSource serves a stored row-major matrix through the Source
// interface, so SgemmSource can be checked against Sgemm.
type matrixSource struct {
	v          []float32
	rows, cols int
}

func (s *matrixSource) Rows() int { return s.rows }
func (s *matrixSource) Cols() int { return s.cols }
func (s *matrixSource) Block(r0, nr, c0, nc int, dst []float32, ld int) {
	for i := 0; i < nr; i++ {
		copy(dst[i*ld:i*ld+nc], s.v[(r0+i)*s.cols+c0:(r0+i)*s.cols+c0+nc])
	}
}

func TestSgemmSourceMatchesSgemm(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	rng := rand.New(rand.NewPCG(4, 5))
	backends := []Float32{Blocked{}, Reference{}}
	for _, kern := range GemmKernels() {
		if b, err := NewBlocked(kern); err == nil {
			backends = append(backends, b)
		}
	}
	// A small slab makes the materialising fallback (Reference) work in
	// several slabs on every shape below.
	defer func(b int) { materialiseBudget = b }(materialiseBudget)
	materialiseBudget = 100
	shapes := []struct{ m, n, k int }{{1, 1, 1}, {5, 7, 3}, {16, 1024, 144}, {20, 600, 25}, {64, 300, 576}, {50, 130, 500}, {130, 70, 40}, {600, 40, 33}}
	for _, be := range backends {
		old := Use(be)
		for _, sh := range shapes {
			for _, ta := range []bool{false, true} {
				for _, tb := range []bool{false, true} {
					for _, threads := range []int{0, 1} {
						a := randSlice(rng, sh.m*sh.k)
						rb, cb := sh.k, sh.n
						if tb {
							rb, cb = sh.n, sh.k
						}
						src := &matrixSource{randSlice(rng, rb*cb), rb, cb}
						lda := sh.k
						if ta {
							lda = sh.m
						}
						c0 := randSlice(rng, sh.m*sh.n)
						want := append([]float32(nil), c0...)
						got := append([]float32(nil), c0...)
						Reference{}.Sgemm(ta, tb, sh.m, sh.n, sh.k, 1.5, a, lda, src.v, cb, 0.5, want, sh.n)
						SgemmSource(threads, ta, tb, sh.m, sh.n, sh.k, 1.5, a, lda, src, 0.5, got, sh.n)
						tol := 1e-5 * math.Sqrt(float64(sh.k))
						for i := range want {
							if d := math.Abs(float64(want[i] - got[i])); d > tol*(1+math.Abs(float64(want[i]))) {
								t.Fatalf("%s %v ta=%v tb=%v threads=%d: c[%d] = %g, want %g", be.Name(), sh, ta, tb, threads, i, got[i], want[i])
							}
						}
					}
				}
			}
		}
		Use(old)
	}
}

// The product from a Source is bitwise the same for 1 and 2 threads.
func TestSgemmSourceThreadsBitwise(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 7))
	m, n, k := 64, 4096, 576
	a := randSlice(rng, m*k)
	for _, tb := range []bool{false, true} {
		rb, cb := k, n
		if tb {
			rb, cb = n, k
		}
		src := &matrixSource{randSlice(rng, rb*cb), rb, cb}
		run := func(procs int) []float32 {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			c := make([]float32, m*n)
			SgemmSource(0, false, tb, m, n, k, 1, a, k, src, 0, c, n)
			return c
		}
		one, two := run(1), run(2)
		for i := range one {
			if one[i] != two[i] {
				t.Fatalf("transB=%v: element %d differs between 1 and 2 threads", tb, i)
			}
		}
	}
}

// The materialising fallback holds one slab of about materialiseBudget
// values, whatever the shape (a whole-width buffer once cost gigabytes).
func TestSgemmSourceFallbackMemory(t *testing.T) {
	old := Use(Reference{})
	defer Use(old)
	defer func(b int) { materialiseBudget = b }(materialiseBudget)
	materialiseBudget = 64
	rng := rand.New(rand.NewPCG(9, 9))
	m, n, k := 3, 4, 5000
	a := randSlice(rng, m*k)
	src := &matrixSource{randSlice(rng, n*k), n, k}
	c := make([]float32, m*n)
	SgemmSource(0, false, true, m, n, k, 1, a, k, src, 0, c, n)
	buf := materialised.Get().(*[]float32)
	defer materialised.Put(buf)
	if cap(*buf) > 4*materialiseBudget {
		t.Fatalf("fallback slab holds %d values for a budget of %d", cap(*buf), materialiseBudget)
	}
}
