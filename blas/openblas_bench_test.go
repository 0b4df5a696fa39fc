//go:build openblas && cgo

package blas

import (
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/evoprune/evoprune/blas/openblasdl"
)

// GEMM benchmarks of the C libraries, one thread, reporting GFLOPS. The
// core OpenBLAS runs is part of the benchmark name, so that runs with
// different OPENBLAS_CORETYPE settings (one process each) can be compared:
//
//	go test -tags openblas -run '^$' -bench 'OpenBLASGEMM|BLISGEMM' -count 5 ./blas
//	OPENBLAS_CORETYPE= go test ...          # OpenBLAS's own CPU detection
//	OPENBLAS_CORETYPE=PRESCOTT go test ...  # the generic fallback
//
// BenchmarkOpenBLASCores compares the kernels in one process instead, call
// by call, which is what to trust on a busy machine.

// obShapes are the brief's two reference shapes and the GEMMs of nn.Conv2d
// (forward C = W*col, dW += dout*col^T, dcol = W^T*dout) for ResNet-20's
// first and last stage and a 128-channel VGG-16 layer on CIFAR, with the
// image chunks that nn's 4M-float im2col budget gives.
var obShapes = []struct {
	name           string
	transA, transB bool
	m, n, k        int
	beta           float32
}{
	{"square/1024x1024x1024", false, false, 1024, 1024, 1024, 0},
	{"tall/32768x128x1152", false, false, 32768, 128, 1152, 0},
	{"resnet-s1-fwd/16x28672x144", false, false, 16, 28672, 144, 0},
	{"resnet-s1-dW/16x144x28672", false, true, 16, 144, 28672, 1},
	{"resnet-s1-dcol/144x28672x16", true, false, 144, 28672, 16, 0},
	{"resnet-s3-fwd/64x7232x576", false, false, 64, 7232, 576, 0},
	{"vgg-128-fwd/128x3584x1152", false, false, 128, 3584, 1152, 0},
	{"vgg-128-dcol/1152x3584x128", true, false, 1152, 3584, 128, 0},
}

func obBenchShapes(b *testing.B, impl Float32, prefix string) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, s := range obShapes {
		b.Run(prefix+"/"+s.name, func(b *testing.B) {
			lda, ldb := s.k, s.n
			if s.transA {
				lda = s.m
			}
			if s.transB {
				ldb = s.k
			}
			a, bm := obRand(rng, s.m*s.k), obRand(rng, s.k*s.n)
			c := make([]float32, s.m*s.n)
			impl.Sgemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bm, ldb, s.beta, c, s.n) // warm up
			b.ResetTimer()
			for b.Loop() {
				impl.Sgemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bm, ldb, s.beta, c, s.n)
			}
			b.ReportMetric(2*float64(s.m)*float64(s.n)*float64(s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
		})
	}
}

func BenchmarkOpenBLASGEMM(b *testing.B) {
	o := obLoad(b, OpenBLASOptions{Threads: 1, AllowSlowCore: true})
	b.Log(o.Name())
	obBenchShapes(b, o, o.Core())
}

func BenchmarkBLISGEMM(b *testing.B) {
	l, err := obLoadBLIS(1)
	if err != nil {
		b.Skip(err)
	}
	b.Log(l.Name())
	obBenchShapes(b, l, l.arch)
}

// The pure-Go default of blas.go at the time of writing, for scale.
func BenchmarkOpenBLASBaselineGonum(b *testing.B) {
	obBenchShapes(b, Gonum{}, strings.Fields(Gonum{}.Name())[0])
}

// BenchmarkOpenBLASCores loads private copies of the OpenBLAS library, each
// with its own OPENBLAS_CORETYPE (a copy under another path is a separate
// library with its own constructor), plus BLIS, and runs every shape on all
// of them in turn, call by call: background load then hits every kernel
// alike, and the ratios hold even when the absolute numbers do not.
// Metrics: median and best GFLOPS per kernel.
//
//	go test -tags openblas -run '^$' -bench OpenBLASCores -benchtime 20x ./blas
func BenchmarkOpenBLASCores(b *testing.B) {
	obLoad(b, OpenBLASOptions{Threads: 1, AllowSlowCore: true})
	src := obMappedLibrary(b, "libopenblas")
	type impl struct {
		name string
		f    Float32
	}
	var impls []impl
	for _, core := range []string{"SKYLAKEX", "HASWELL", "ZEN", "auto", "PRESCOTT"} {
		name, f := obLoadCopy(b, src, core)
		impls = append(impls, impl{name, f})
	}
	// The pure-Go kernel, single-threaded, in the same rotation.
	impls = append(impls, impl{"go", Blocked{}})
	if l, err := obLoadBLIS(1); err == nil {
		impls = append(impls, impl{"BLIS-" + l.arch, l})
	} else {
		b.Logf("no BLIS: %v", err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for _, s := range obShapes {
		b.Run(s.name, func(b *testing.B) {
			lda, ldb := s.k, s.n
			if s.transA {
				lda = s.m
			}
			if s.transB {
				ldb = s.k
			}
			a, bm := obRand(rng, s.m*s.k), obRand(rng, s.k*s.n)
			c := make([]float32, s.m*s.n)
			times := make([][]time.Duration, len(impls))
			for _, im := range impls { // warm up
				im.f.Sgemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bm, ldb, s.beta, c, s.n)
			}
			for b.Loop() {
				for i, im := range impls {
					t0 := time.Now()
					im.f.Sgemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bm, ldb, s.beta, c, s.n)
					times[i] = append(times[i], time.Since(t0))
				}
			}
			gflop := 2 * float64(s.m) * float64(s.n) * float64(s.k) / 1e9
			for i, im := range impls {
				slices.Sort(times[i])
				b.ReportMetric(gflop/times[i][len(times[i])/2].Seconds(), im.name+"-GFLOPS-med")
				b.ReportMetric(gflop/times[i][0].Seconds(), im.name+"-GFLOPS-best")
			}
		})
	}
}

// obMappedLibrary returns the file of the loaded library whose path
// contains name, from /proc/self/maps.
func obMappedLibrary(b *testing.B, name string) string {
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		b.Skipf("cannot find the loaded library: %v", err)
	}
	for _, line := range strings.Split(string(maps), "\n") {
		if f := strings.Fields(line); len(f) >= 6 && strings.Contains(filepath.Base(f[5]), name) {
			return f[5]
		}
	}
	b.Skipf("no %s in /proc/self/maps", name)
	return ""
}

// obLoadCopy copies the library to a private path and loads it with
// OPENBLAS_CORETYPE=core ("auto": unset), one thread. It returns the core
// OpenBLAS reports and the GEMM.
func obLoadCopy(b *testing.B, src, core string) (string, Float32) {
	dst := filepath.Join(b.TempDir(), "libopenblas-"+core+".so")
	in, err := os.Open(src)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		b.Fatal(err)
	}
	if err := out.Close(); err != nil {
		b.Fatal(err)
	}
	old, had := os.LookupEnv("OPENBLAS_CORETYPE")
	if core == "auto" {
		os.Unsetenv("OPENBLAS_CORETYPE")
	} else {
		os.Setenv("OPENBLAS_CORETYPE", core)
	}
	l, err := openblasdl.Open(dst, false)
	if had {
		os.Setenv("OPENBLAS_CORETYPE", old)
	} else {
		os.Unsetenv("OPENBLAS_CORETYPE")
	}
	if err != nil {
		b.Fatal(err)
	}
	fn := func(name string) openblasdl.Func {
		f, err := l.Sym(name)
		if err != nil {
			b.Fatal(err)
		}
		return f
	}
	lib := &obLib{Lib: l, sgemm: fn("cblas_sgemm")}
	openblasdl.CallSetInt(fn("openblas_set_num_threads"), 1)
	name := openblasdl.CallString(fn("openblas_get_corename"))
	if core == "auto" {
		name += "(auto)"
	}
	return name, obCopy{lib, name}
}

type obCopy struct {
	lib  *obLib
	name string
}

func (c obCopy) Name() string { return c.name }

func (c obCopy) Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int,
	b []float32, ldb int, beta float32, cm []float32, ldc int) {
	c.lib.call(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, cm, ldc)
}
