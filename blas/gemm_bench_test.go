package blas

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// gemmBenchShapes are the acceptance shapes and the GEMMs of small CNNs
// (nn/conv.go: forward oc x cols x kdim, weight gradient A*B^T, input
// gradient A^T*B) and of linear layers with few outputs.
var gemmBenchShapes = []struct {
	name           string
	ta, tb         bool
	m, n, k        int
	gonum, generic bool // also run the slow implementations
}{
	{"NN_1024x1024x1024", false, false, 1024, 1024, 1024, true, true},
	{"NN_32768x128x1152", false, false, 32768, 128, 1152, true, false},
	{"NN_50x8192x500", false, false, 50, 8192, 500, true, false},
	{"NN_16x16384x144", false, false, 16, 16384, 144, true, false},
	{"NN_32x8192x288", false, false, 32, 8192, 288, false, false},
	{"NN_64x4096x576", false, false, 64, 4096, 576, true, false},
	{"NT_64x576x4096", false, true, 64, 576, 4096, true, false},
	{"NT_16x144x16384", false, true, 16, 144, 16384, false, false},
	{"TN_576x4096x64", true, false, 576, 4096, 64, true, false},
	{"TN_144x16384x16", true, false, 144, 16384, 16, false, false},
	{"TT_256x256x256", true, true, 256, 256, 256, false, false},
	{"NN_4096x10x512", false, false, 4096, 10, 512, true, false},
	{"NT_4096x10x512", false, true, 4096, 10, 512, false, false},
	{"NN_4096x16x512", false, false, 4096, 16, 512, false, false},
	{"NN_128x128x128", false, false, 128, 128, 128, true, true},
}

// BenchmarkSgemm reports GFLOPS (2*m*n*k per call) for each shape and
// kernel (and gonum on some). Use -cpu 1,2 for the thread counts.
func BenchmarkSgemm(b *testing.B) {
	impls := map[string]Float32{"gonum": Gonum{}}
	for name, g := range blockedKernels(b) {
		impls[name] = g
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range impls {
			if !yield(n) {
				return
			}
		}
	})
	rng := rand.New(rand.NewPCG(1, 1))
	for _, s := range gemmBenchShapes {
		a := randSlice(rng, s.m*s.k)
		bm := randSlice(rng, s.k*s.n)
		c := randSlice(rng, s.m*s.n)
		lda, ldb := s.k, s.n
		if s.ta {
			lda = s.m
		}
		if s.tb {
			ldb = s.k
		}
		for _, name := range names {
			if name == "gonum" && !s.gonum || name == "generic" && !s.generic {
				continue
			}
			f := impls[name]
			b.Run(fmt.Sprintf("%s/%s", s.name, name), func(b *testing.B) {
				f.Sgemm(s.ta, s.tb, s.m, s.n, s.k, 1, a, lda, bm, ldb, 0, c, s.n)
				b.ReportAllocs()
				t := startGflops(b)
				for i := 0; i < b.N; i++ {
					f.Sgemm(s.ta, s.tb, s.m, s.n, s.k, 1, a, lda, bm, ldb, 0, c, s.n)
				}
				t.report(b, 2*float64(s.m)*float64(s.n)*float64(s.k))
			})
		}
	}
}
