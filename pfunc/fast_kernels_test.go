package pfunc

import (
	"math/rand/v2"
	"testing"
)

func TestMatmul2MatchesMatmul(t *testing.T) {
	r := rand.New(rand.NewPCG(71, 72))
	for _, s := range [][3]int{{1, 1, 1}, {3, 5, 2}, {7, 40, 9}, {16, 3, 16}} {
		m, k, n := s[0], s[1], s[2]
		a := make([]float64, m*k)
		b := make([]float64, k*n)
		for i := range a {
			a[i] = r.NormFloat64()
		}
		for i := range b {
			b[i] = r.NormFloat64()
		}
		want := matmul(Value{Kind: Array, Shape: []int{m, k}, Data: a}, Value{Kind: Array, Shape: []int{k, n}, Data: b})
		got := matmul2(a, b, m, k, n)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%v: entry %d: %v, want %v", s, i, got[i], want[i])
			}
		}
	}
}

func TestGramMatchesMatmulOfTranspose(t *testing.T) {
	r := rand.New(rand.NewPCG(73, 74))
	for _, s := range [][2]int{{1, 1}, {5, 3}, {40, 7}, {3, 9}} {
		rows, d := s[0], s[1]
		b := Value{Kind: Array, Shape: []int{rows, d}, Data: make([]float64, rows*d)}
		for i := range b.Data {
			b.Data[i] = r.NormFloat64()
		}
		want := matmul(transpose(b), b)
		got := gram(b.Data, rows, d)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%v: entry %d: %v, want %v", s, i, got[i], want[i])
			}
		}
	}
}
