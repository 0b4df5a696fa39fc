package nn

import (
	"github.com/evoprune/evoprune/tensor"
	"math"
	"math/rand/v2"
	"testing"
)

// TestBatchNormMatchesFloat64 checks BatchNorm's training-mode backward
// against central differences of an independent float64 implementation of
// its forward pass, where rounding does not limit the comparison.
func TestBatchNormMatchesFloat64(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	n, c, hw := 4, 3, 9
	x := randTensor(rng, n, c, 3, 3)
	r := randTensor(rng, n, c, 3, 3)
	l := mustLayer(NewBatchNorm(BatchNormConfig{C: c})).(*BatchNorm)
	randomiseParams(rng, l)
	f := func(xs []float64) float64 {
		var L float64
		for ch := 0; ch < c; ch++ {
			var m, v float64
			for i := 0; i < n; i++ {
				for p := 0; p < hw; p++ {
					m += xs[(i*c+ch)*hw+p]
				}
			}
			m /= float64(n * hw)
			for i := 0; i < n; i++ {
				for p := 0; p < hw; p++ {
					d := xs[(i*c+ch)*hw+p] - m
					v += d * d
				}
			}
			v /= float64(n * hw)
			for i := 0; i < n; i++ {
				for p := 0; p < hw; p++ {
					k := (i*c+ch)*hw + p
					y := (xs[k]-m)/math.Sqrt(v+1e-5)*float64(l.Gamma.Value.Data[ch]) + float64(l.Beta.Value.Data[ch])
					L += y * float64(r.Data[k])
				}
			}
		}
		return L
	}
	out := tensor.New(x.Shape...)
	ctx := &Context{Train: true}
	l.Forward(ctx, []*tensor.Tensor{x}, out)
	dx := tensor.New(x.Shape...)
	l.Backward(ctx, []*tensor.Tensor{x}, out, r, []*tensor.Tensor{dx})
	xs := make([]float64, len(x.Data))
	for i, v := range x.Data {
		xs[i] = float64(v)
	}
	worst := 0.0
	for i := range xs {
		o := xs[i]
		h := 1e-6
		xs[i] = o + h
		lp := f(xs)
		xs[i] = o - h
		lm := f(xs)
		xs[i] = o
		num := (lp - lm) / (2 * h)
		worst = max(worst, math.Abs(num-float64(dx.Data[i])))
	}
	t.Logf("max abs err vs float64 finite differences: %.2e", worst)
	if worst > 1e-5 {
		t.Fatalf("batchnorm input gradient off by %g", worst)
	}
}
