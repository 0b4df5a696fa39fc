//go:build openblas && cgo

package blas

import (
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// obLoad loads OpenBLAS for a test, or skips it when the library is not
// installed (CI need not have it). Any other load error fails the test.
func obLoad(tb testing.TB, opt OpenBLASOptions) *OpenBLAS {
	tb.Helper()
	f, err := LoadOpenBLASWith(opt)
	if err != nil {
		if strings.Contains(err.Error(), "OpenBLAS not found") {
			tb.Skipf("OpenBLAS is not installed, skipping (%s): %v", OpenBLASInstallHint, err)
		}
		tb.Fatal(err)
	}
	return f.(*OpenBLAS)
}

func obRand(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
	return s
}

func obAbs(s []float32) []float32 {
	r := make([]float32, len(s))
	for i, v := range s {
		r[i] = float32(math.Abs(float64(v)))
	}
	return r
}

// obCheck runs impl and Reference on the same problem and compares them
// within the float32 rounding bound 2*k*eps*(|alpha| |A||B| + |beta| |C|),
// with |A||B| from the reference on absolute values. lda, ldb, ldc get pad
// extra elements per row, and the padding must be left untouched.
func obCheck(t *testing.T, impl Float32, rng *rand.Rand, ta, tb bool, m, n, k, pad int, alpha, beta float32, nanC bool) {
	t.Helper()
	ar, ac := m, k
	if ta {
		ar, ac = k, m
	}
	br, bc := k, n
	if tb {
		br, bc = n, k
	}
	lda, ldb, ldc := ac+pad, bc+pad, n+pad
	a := obRand(rng, max(0, (ar-1)*lda+ac))
	b := obRand(rng, max(0, (br-1)*ldb+bc))
	c0 := obRand(rng, (m-1)*ldc+n)
	if nanC {
		for i := range c0 {
			c0[i] = float32(math.NaN())
		}
	}
	want := append([]float32(nil), c0...)
	got := append([]float32(nil), c0...)
	bound := obAbs(c0)
	if nanC {
		clear(bound)
	}
	Reference{}.Sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, want, ldc)
	Reference{}.Sgemm(ta, tb, m, n, k, float32(math.Abs(float64(alpha))), obAbs(a), lda, obAbs(b), ldb,
		float32(math.Abs(float64(beta))), bound, ldc)
	impl.Sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, got, ldc)
	const eps = 1.0 / (1 << 23)
	for i := 0; i < m; i++ {
		for j := 0; j < ldc && i*ldc+j < len(got); j++ {
			p := i*ldc + j
			g, w := float64(got[p]), float64(want[p])
			if j >= n { // padding
				if !(g == w || math.IsNaN(g) && math.IsNaN(w)) {
					t.Fatalf("%s ta=%v tb=%v pad=%d: padding c[%d] changed to %g", String(m, n, k), ta, tb, pad, p, g)
				}
				continue
			}
			tol := 2*float64(k+2)*eps*float64(bound[p]) + 1e-30
			if math.IsNaN(g) || math.Abs(g-w) > tol {
				t.Fatalf("%s ta=%v tb=%v pad=%d alpha=%g beta=%g: c[%d,%d]=%g want %g (tol %g)",
					String(m, n, k), ta, tb, pad, alpha, beta, i, j, g, w, tol)
			}
		}
	}
}

func TestOpenBLASMatchesReference(t *testing.T) {
	o := obLoad(t, OpenBLASOptions{AllowSlowCore: true})
	t.Log(o.Name())
	rng := rand.New(rand.NewPCG(3, 4))
	shapes := []struct{ m, n, k int }{
		{1, 1, 1}, {3, 5, 7}, {17, 33, 65}, {64, 9, 128}, {1, 100, 50}, {100, 1, 300},
		{129, 65, 257}, {16, 1024, 27}, {64, 300, 576}, {33, 17, 1}, {250, 250, 250},
	}
	scalars := []struct{ alpha, beta float32 }{{1, 0}, {0.5, 2}, {-1, 1}, {0, 0.5}}
	for _, s := range shapes {
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				for i, ab := range scalars {
					obCheck(t, o, rng, ta, tb, s.m, s.n, s.k, i%2*3, ab.alpha, ab.beta, false)
				}
			}
		}
	}
}

// beta == 0 must overwrite C, NaNs included (BLAS does not read C then).
func TestOpenBLASBetaZeroIgnoresNaN(t *testing.T) {
	o := obLoad(t, OpenBLASOptions{AllowSlowCore: true})
	rng := rand.New(rand.NewPCG(5, 6))
	for _, s := range []struct{ m, n, k int }{{1, 1, 1}, {7, 9, 5}, {64, 200, 144}, {300, 20, 64}} {
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				obCheck(t, o, rng, ta, tb, s.m, s.n, s.k, 0, 1, 0, true)
				obCheck(t, o, rng, ta, tb, s.m, s.n, s.k, 2, 0.5, 0, true)
			}
		}
	}
}

func TestOpenBLASZeroK(t *testing.T) {
	o := obLoad(t, OpenBLASOptions{AllowSlowCore: true})
	c := []float32{1, 2, 3, 4}
	o.Sgemm(false, false, 2, 2, 0, 1, nil, 1, nil, 2, 0.5, c, 2)
	for i, want := range []float32{0.5, 1, 1.5, 2} {
		if c[i] != want {
			t.Fatalf("beta=0.5: c[%d]=%g want %g", i, c[i], want)
		}
	}
	nan := float32(math.NaN())
	c = []float32{nan, nan, nan, nan}
	o.Sgemm(true, true, 2, 2, 0, 1, nil, 2, nil, 1, 0, c, 2)
	for i := range c {
		if c[i] != 0 {
			t.Fatalf("beta=0: c[%d]=%g want 0", i, c[i])
		}
	}
	o.Sgemm(false, false, 0, 3, 4, 1, nil, 4, nil, 3, 0, nil, 3) // m == 0: nothing to do
}

func TestOpenBLASThroughUse(t *testing.T) {
	o := obLoad(t, OpenBLASOptions{Threads: 2, AllowSlowCore: true})
	defer Use(Use(o))
	if Implementation().Name() != o.Name() {
		t.Fatalf("Implementation is %q", Implementation().Name())
	}
	if o.Threads() != 2 || !strings.Contains(o.Name(), "2 threads") {
		t.Errorf("Threads()=%d, Name %q: want 2 threads", o.Threads(), o.Name())
	}
	rng := rand.New(rand.NewPCG(7, 8))
	a, b := obRand(rng, 300*200), obRand(rng, 200*500)
	got, want := make([]float32, 300*500), make([]float32, 300*500)
	Sgemm(false, false, 300, 500, 200, 1, a, 200, b, 500, 0, got, 500)
	Reference{}.Sgemm(false, false, 300, 500, 200, 1, a, 200, b, 500, 0, want, 500)
	for i := range got {
		if math.Abs(float64(got[i]-want[i])) > 1e-3 {
			t.Fatalf("c[%d]=%g want %g", i, got[i], want[i])
		}
	}
	o.SetThreads(1)
	if o.Threads() != 1 || !strings.Contains(o.Name(), "1 thread,") {
		t.Errorf("after SetThreads(1): Threads()=%d, Name %q", o.Threads(), o.Name())
	}
}

// TestOpenBLASSourceOnBlocked checks that products from a Source (the
// convolutions' patches) run on the pure-Go Blocked GEMM under OpenBLAS,
// bit for bit, and that Name says so.
func TestOpenBLASSourceOnBlocked(t *testing.T) {
	o := obLoad(t, OpenBLASOptions{AllowSlowCore: true})
	defer Use(Use(o))
	if !strings.Contains(o.Name(), "convolutions on "+Blocked{}.Name()) {
		t.Errorf("Name %q does not say where convolutions run", o.Name())
	}
	rng := rand.New(rand.NewPCG(9, 10))
	const m, n, k = 20, 300, 70
	a, b := obRand(rng, m*k), obRand(rng, k*n)
	src := &matrixSource{v: b, rows: k, cols: n}
	got, want := make([]float32, m*n), make([]float32, m*n)
	SgemmSource(0, false, false, m, n, k, 1, a, k, src, 0, got, n)
	Blocked{}.SgemmSource(0, false, false, m, n, k, 1, a, k, src, 0, want, n)
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("c[%d]=%g, Blocked gives %g", i, got[i], want[i])
		}
	}
}

func TestOpenBLASShortSlicePanics(t *testing.T) {
	o := obLoad(t, OpenBLASOptions{AllowSlowCore: true})
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for a C shorter than m x n")
		}
	}()
	s := make([]float32, 100)
	o.Sgemm(false, false, 10, 10, 10, 1, s, 10, s, 10, 0, s[:99], 10)
}

// The kernel must be the one chosen for this CPU, never the SSE fallback.
func TestOpenBLASCoreIsNotGeneric(t *testing.T) {
	obLoad(t, OpenBLASOptions{AllowSlowCore: true}) // skips if not installed
	f := obHostCPU()
	g, err := LoadOpenBLAS()
	if err != nil {
		env, set := os.LookupEnv("OPENBLAS_CORETYPE")
		if set && strings.Contains(err.Error(), "AllowSlowCore") {
			t.Skipf("OPENBLAS_CORETYPE=%q set by the caller selects a generic core, refused as it should be: %v", env, err)
		}
		t.Fatal(err)
	}
	o := g.(*OpenBLAS)
	t.Logf("%s; CPU %s; %s; library %s", o.Name(), f, o.Config(), o.Library())
	for _, want := range []string{"openblas ", o.Core(), " thread"} {
		if !strings.Contains(o.Name(), want) {
			t.Errorf("Name %q does not mention %q", o.Name(), want)
		}
	}
	if obSlowCore(o.Core(), f) {
		t.Fatalf("OpenBLAS runs the generic core %q on a %s CPU", o.Core(), f)
	}
	if env, set := os.LookupEnv("OPENBLAS_CORETYPE"); set {
		t.Skipf("OPENBLAS_CORETYPE=%q is set by the caller, so the core is not evoprune's choice", env)
	}
	if want, set, _ := obChooseCore("", "", false, f); set {
		if !strings.EqualFold(o.Core(), want) {
			t.Errorf("on this %s CPU (%s family %d) the core should be %s, got %q", f, f.vendor, f.family, want, o.Core())
		}
		if !strings.Contains(o.Name(), obCoreFromEvoprune) {
			t.Errorf("Name %q should say the core was forced", o.Name())
		}
	}
	if _, err := LoadOpenBLASWith(OpenBLASOptions{CoreType: "PRESCOTT"}); err == nil {
		t.Error("asking for another core after the first load should fail")
	}
}

func TestOpenBLASMissingLibrary(t *testing.T) {
	_, _, err := obOpenFirst([]string{"/nonexistent/libopenblas.so.0", "libnosuchblas.so.9"})
	if err == nil {
		t.Fatal("no error for missing libraries")
	}
	for _, want := range []string{"/nonexistent/libopenblas.so.0", "libnosuchblas.so.9", "apt-get install libopenblas0-pthread"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// The trap, end to end in child processes (the core is fixed per process):
// a generic core forced through the environment is refused, runs only with
// AllowSlowCore and then says so in Name; OpenBLAS's own detection is logged.
func TestOpenBLASRefusesGenericCore(t *testing.T) {
	if os.Getenv("EVOPRUNE_OPENBLAS_CHILD") == "1" {
		f, err := LoadOpenBLASWith(OpenBLASOptions{AllowSlowCore: os.Getenv("EVOPRUNE_OPENBLAS_ALLOW") == "1"})
		if err != nil {
			os.Stdout.WriteString("CHILD ERROR: " + err.Error() + "\n")
			return
		}
		os.Stdout.WriteString("CHILD NAME: " + f.Name() + "\n")
		return
	}
	obLoad(t, OpenBLASOptions{AllowSlowCore: true}) // skips if not installed
	if !obHostCPU().wide() {
		t.Skip("this CPU has no AVX2, so a generic core is not a fallback here")
	}
	child := func(env ...string) string {
		t.Helper()
		cmd := exec.Command(os.Args[0], "-test.run=^TestOpenBLASRefusesGenericCore$", "-test.count=1")
		cmd.Env = append(os.Environ(), append([]string{"EVOPRUNE_OPENBLAS_CHILD=1"}, env...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child %v: %v\n%s", env, err, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(line, "CHILD ") {
				return line
			}
		}
		t.Fatalf("child %v printed no result:\n%s", env, out)
		return ""
	}
	got := child("OPENBLAS_CORETYPE=PRESCOTT")
	if !strings.Contains(got, "CHILD ERROR") || !strings.Contains(got, "Prescott") || !strings.Contains(got, "AllowSlowCore") {
		t.Errorf("forced PRESCOTT was not refused: %s", got)
	}
	got = child("OPENBLAS_CORETYPE=PRESCOTT", "EVOPRUNE_OPENBLAS_ALLOW=1")
	if !strings.Contains(got, "CHILD NAME") || !strings.Contains(got, "SLOW GENERIC KERNEL") {
		t.Errorf("allowed PRESCOTT does not say it is slow: %s", got)
	}
	t.Logf("OpenBLAS's own detection (OPENBLAS_CORETYPE set empty): %s", child("OPENBLAS_CORETYPE="))
	t.Logf("evoprune's choice (caller's environment): %s", child())
}
