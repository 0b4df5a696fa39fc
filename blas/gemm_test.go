package blas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// gemmCase is one Sgemm call with padded operands: lda/ldb/ldc may exceed
// the minimum (padding holds NaN in a and b, a sentinel in c), and c is
// followed by sentinel elements that must survive.
type gemmCase struct {
	ta, tb        bool
	m, n, k       int
	alpha, beta   float32
	a, b          []float32
	lda, ldb, ldc int
	c0            []float32 // initial C (NaN if beta == 0), with tail
	clen          int       // length passed to Sgemm
}

const gemmSentinel = float32(-12345.5)

func newGemmCase(rng *rand.Rand, ta, tb bool, m, n, k int, alpha, beta float32, pad int) *gemmCase {
	tc := &gemmCase{ta: ta, tb: tb, m: m, n: n, k: k, alpha: alpha, beta: beta}
	mat := func(rows, cols, ld int) []float32 {
		if rows == 0 || cols == 0 {
			return nil
		}
		s := make([]float32, (rows-1)*ld+cols)
		for i := range s {
			if i%ld < cols {
				s[i] = float32(rng.NormFloat64())
			} else {
				s[i] = float32(math.NaN())
			}
		}
		return s
	}
	ra, ca := m, k
	if ta {
		ra, ca = k, m
	}
	rb, cb := k, n
	if tb {
		rb, cb = n, k
	}
	tc.lda, tc.ldb, tc.ldc = max(1, ca)+pad, max(1, cb)+2*pad, max(1, n)+3*pad
	tc.a, tc.b = mat(ra, ca, tc.lda), mat(rb, cb, tc.ldb)
	tc.clen = (m-1)*tc.ldc + n
	tc.c0 = make([]float32, tc.clen+37)
	for i := range tc.c0 {
		switch {
		case i >= tc.clen || i%tc.ldc >= n:
			tc.c0[i] = gemmSentinel
		case beta == 0:
			tc.c0[i] = float32(math.NaN())
		default:
			tc.c0[i] = float32(rng.NormFloat64())
		}
	}
	return tc
}

func (tc *gemmCase) String() string {
	return fmt.Sprintf("%s ta=%v tb=%v alpha=%g beta=%g lda=%d ldb=%d ldc=%d",
		String(tc.m, tc.n, tc.k), tc.ta, tc.tb, tc.alpha, tc.beta, tc.lda, tc.ldb, tc.ldc)
}

func (tc *gemmCase) run(f Float32) []float32 {
	c := slices.Clone(tc.c0)
	f.Sgemm(tc.ta, tc.tb, tc.m, tc.n, tc.k, tc.alpha, tc.a, tc.lda, tc.b, tc.ldb, tc.beta, c[:tc.clen], tc.ldc)
	return c
}

// bound returns |alpha|*sum|a||b| + |beta*c| per element of C: the scale
// of the rounding error.
func (tc *gemmCase) bound() []float64 {
	bd := make([]float64, len(tc.c0))
	for i := 0; i < tc.m; i++ {
		for j := 0; j < tc.n; j++ {
			var s float64
			for p := 0; p < tc.k; p++ {
				var av, bv float32
				if tc.ta {
					av = tc.a[p*tc.lda+i]
				} else {
					av = tc.a[i*tc.lda+p]
				}
				if tc.tb {
					bv = tc.b[j*tc.ldb+p]
				} else {
					bv = tc.b[p*tc.ldb+j]
				}
				s += math.Abs(float64(av) * float64(bv))
			}
			s *= math.Abs(float64(tc.alpha))
			if tc.beta != 0 {
				s += math.Abs(float64(tc.beta) * float64(tc.c0[i*tc.ldc+j]))
			}
			bd[i*tc.ldc+j] = s
		}
	}
	return bd
}

// check compares got with want (the reference) within a rounding bound and
// the sentinels with their initial value.
func (tc *gemmCase) check(t *testing.T, name string, got, want []float32, bound []float64) bool {
	t.Helper()
	tol := 1e-5 * math.Sqrt(float64(tc.k)+1)
	for i := range got {
		inside := i < tc.clen && i%tc.ldc < tc.n
		if !inside {
			if got[i] != gemmSentinel {
				t.Errorf("%s %v: wrote outside C at %d: %g", name, tc, i, got[i])
				return false
			}
			continue
		}
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if !(d <= tol*bound[i]+1e-30) {
			t.Errorf("%s %v: c[%d,%d]=%g want %g (diff %g, bound %g)", name, tc, i/tc.ldc, i%tc.ldc, got[i], want[i], d, tol*bound[i])
			return false
		}
	}
	return true
}

func blockedKernels(t testing.TB) map[string]Blocked {
	ks := map[string]Blocked{}
	for _, name := range GemmKernels() {
		g, err := NewBlocked(name)
		if err != nil {
			t.Fatal(err)
		}
		ks[name] = g
	}
	for _, name := range []string{"avx512", "avx2", "generic"} {
		if _, ok := ks[name]; !ok {
			t.Logf("kernel %s not available on this CPU/build: skipped", name)
		}
	}
	return ks
}

func TestBlockedMatchesReference(t *testing.T) {
	ks := blockedKernels(t)
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range ks {
			if !yield(n) {
				return
			}
		}
	})
	rng := rand.New(rand.NewPCG(3, 4))
	dims := []int{1, 2, 3, 5, 7, 13, 17, 31, 33, 64, 100, 129}
	scalars := []float32{0, 1, -0.5, 2}
	if testing.Short() {
		dims = []int{1, 3, 13, 33, 100}
	}
	cnt := 0
	for _, m := range dims {
		for _, n := range dims {
			for _, k := range dims {
				cnt++
				// Rotate the transposes, scalars and padding over the shapes
				// so that every combination meets many shapes.
				ta, tb := cnt&1 == 1, cnt&2 == 2
				alpha := scalars[(cnt/4)%4]
				if alpha == 0 && cnt%3 != 0 {
					alpha = 1.5
				}
				beta := scalars[(cnt/3)%4]
				tc := newGemmCase(rng, ta, tb, m, n, k, alpha, beta, (cnt/5)%3)
				want := tc.run(Reference{})
				bound := tc.bound()
				for _, name := range names {
					if !tc.check(t, name, tc.run(ks[name]), want, bound) {
						return
					}
				}
			}
		}
	}
}

// TestBlockedEdges covers every transpose/scalar combination on shapes
// around the tile and block sizes of each kernel.
func TestBlockedEdges(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for name, g := range blockedKernels(t) {
		f := g.family()
		shapes := [][3]int{
			{f.mr, f.nr, 1}, {f.mr + 1, f.nr + 1, 2}, {2*f.mr - 1, f.nr - 1, 9},
			{f.mr, f.narrow + 1, 17}, {f.mr - 1, max(1, f.narrow), f.kc + 1},
			{f.mc + f.mr + 1, 2*f.nr + 3, 7}, {5, f.nc + f.nr + 5, 3}, {3, 7, 2*f.kc + 5},
		}
		for _, s := range shapes {
			for _, ta := range []bool{false, true} {
				for _, tb := range []bool{false, true} {
					for _, ab := range [][2]float32{{1, 0}, {-0.5, 1}, {2, -0.5}, {1, 2}} {
						tc := newGemmCase(rng, ta, tb, s[0], s[1], s[2], ab[0], ab[1], 1)
						if !tc.check(t, name, tc.run(g), tc.run(Reference{}), tc.bound()) {
							return
						}
					}
				}
			}
		}
	}
}

func TestBlockedZeroKAndAlpha(t *testing.T) {
	for name, g := range blockedKernels(t) {
		c := []float32{1, 2, 3, 4}
		g.Sgemm(false, false, 2, 2, 0, 1, nil, 1, nil, 2, 0.5, c, 2)
		if !slices.Equal(c, []float32{0.5, 1, 1.5, 2}) {
			t.Errorf("%s k=0: %v", name, c)
		}
		nan := float32(math.NaN())
		c = []float32{nan, nan, nan, nan}
		g.Sgemm(false, false, 2, 2, 0, 1, nil, 1, nil, 2, 0, c, 2)
		if !slices.Equal(c, []float32{0, 0, 0, 0}) {
			t.Errorf("%s k=0 beta=0: %v", name, c)
		}
		c = []float32{1, 2, 3, 4}
		a := []float32{1, 2, 3, 4}
		g.Sgemm(false, false, 2, 2, 2, 0, a, 2, a, 2, 2, c, 2)
		if !slices.Equal(c, []float32{2, 4, 6, 8}) {
			t.Errorf("%s alpha=0: %v", name, c)
		}
		// m == 0 or n == 0: nothing to do, even with empty slices.
		g.Sgemm(true, true, 0, 3, 4, 1, nil, 1, make([]float32, 12), 4, 0, nil, 3)
		g.Sgemm(false, false, 3, 0, 4, 1, make([]float32, 12), 4, nil, 1, 0, nil, 1)
	}
}

func TestBlockedPanicsOnShortSlices(t *testing.T) {
	mustPanic := func(what string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s: no panic", what)
			}
		}()
		f()
	}
	g := Blocked{}
	s := make([]float32, 12)
	mustPanic("short a", func() { g.Sgemm(false, false, 4, 3, 4, 1, s, 4, s, 3, 0, s, 3) })
	mustPanic("short c", func() { g.Sgemm(false, false, 3, 4, 3, 1, s, 3, s, 4, 0, s[:11], 4) })
	mustPanic("small ldb", func() { g.Sgemm(false, true, 2, 4, 3, 1, s, 3, s, 2, 0, s, 4) })
	mustPanic("negative", func() { g.Sgemm(false, false, -1, 2, 2, 1, s, 2, s, 2, 0, s, 2) })
}

// TestBlockedDeterministic checks that the result does not depend on the
// number of goroutines: bitwise equal at GOMAXPROCS 1, 2 and 3, with both
// row-band and column-band splits.
func TestBlockedDeterministic(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	rng := rand.New(rand.NewPCG(7, 8))
	shapes := [][3]int{{301, 203, 150}, {20, 1500, 200}, {1100, 40, 130}, {64, 64, 1100}}
	if testing.Short() {
		shapes = shapes[:2]
	}
	for name, g := range blockedKernels(t) {
		for _, s := range shapes {
			for _, tt := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
				tc := newGemmCase(rng, tt[0], tt[1], s[0], s[1], s[2], 1, 0.5, 1)
				runtime.GOMAXPROCS(1)
				one := tc.run(g)
				for _, procs := range []int{2, 3} {
					runtime.GOMAXPROCS(procs)
					if nt, _, _, _ := gemmSplit(g.family(), s[0], s[1], s[2]); nt < 2 {
						t.Fatalf("%v: not split at GOMAXPROCS=%d", tc, procs)
					}
					got := tc.run(g)
					for i := range one {
						if math.Float32bits(got[i]) != math.Float32bits(one[i]) {
							t.Fatalf("%s %v: GOMAXPROCS=%d c[%d]=%g, GOMAXPROCS=1 %g", name, tc, procs, i, got[i], one[i])
						}
					}
				}
			}
		}
	}
}

func TestBlockedNoAllocs(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	m, n, k := 200, 300, 150
	a, b, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
	for _, procs := range []int{1, 2} {
		runtime.GOMAXPROCS(procs)
		for name, g := range blockedKernels(t) {
			g.Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
			allocs := testing.AllocsPerRun(20, func() {
				g.Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
			})
			if allocs != 0 {
				t.Errorf("%s GOMAXPROCS=%d: %v allocs per call", name, procs, allocs)
			}
		}
	}
}

func TestGemmKernelChoice(t *testing.T) {
	avail := GemmKernels()
	if avail[len(avail)-1] != "generic" {
		t.Fatalf("kernels %v: generic must be last", avail)
	}
	if f, err := gemmChoose(""); err != nil || f.name != avail[0] {
		t.Fatalf("default: %v, %v", f.name, err)
	}
	if f, err := gemmChoose("generic"); err != nil || f.name != "generic" {
		t.Fatalf("generic: %v, %v", f.name, err)
	}
	f, err := gemmChoose("sse9")
	if err == nil || f.name != avail[0] || !strings.Contains(err.Error(), KernelEnv) {
		t.Fatalf("bad value: %v, %v", f.name, err)
	}
	if _, err := NewBlocked("sse9"); err == nil {
		t.Fatal("NewBlocked(sse9): no error")
	}
	for _, k := range []string{"avx512", "avx2"} {
		if !slices.Contains(avail, k) {
			if _, err := NewBlocked(k); err == nil {
				t.Fatalf("NewBlocked(%s) on a CPU without it: no error", k)
			}
		}
	}
	if g, _ := NewBlocked(avail[0]); !strings.Contains(g.Name(), avail[0]) {
		t.Fatalf("Name %q does not say %s", g.Name(), avail[0])
	}
}
