package blas

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestGonumMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct{ m, n, k int }{{1, 1, 1}, {3, 5, 7}, {17, 33, 65}, {64, 9, 128}} {
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				a := randSlice(rng, tc.m*tc.k)
				b := randSlice(rng, tc.k*tc.n)
				c0 := randSlice(rng, tc.m*tc.n)
				lda, ldb := tc.k, tc.n
				if ta {
					lda = tc.m
				}
				if tb {
					ldb = tc.k
				}
				want := append([]float32(nil), c0...)
				got := append([]float32(nil), c0...)
				Reference{}.Sgemm(ta, tb, tc.m, tc.n, tc.k, 0.5, a, lda, b, ldb, 2, want, tc.n)
				Gonum{}.Sgemm(ta, tb, tc.m, tc.n, tc.k, 0.5, a, lda, b, ldb, 2, got, tc.n)
				for i := range want {
					if d := math.Abs(float64(want[i] - got[i])); d > 1e-4*(1+math.Abs(float64(want[i]))) {
						t.Fatalf("%v ta=%v tb=%v: c[%d]=%g want %g", tc, ta, tb, i, got[i], want[i])
					}
				}
			}
		}
	}
}

func TestZeroK(t *testing.T) {
	c := []float32{1, 2, 3, 4}
	Gonum{}.Sgemm(false, false, 2, 2, 0, 1, nil, 1, nil, 2, 0.5, c, 2)
	for i, want := range []float32{0.5, 1, 1.5, 2} {
		if c[i] != want {
			t.Fatalf("c[%d]=%g want %g", i, c[i], want)
		}
	}
}

func randSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
	return s
}
