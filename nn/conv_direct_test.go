package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/evoprune/evoprune/internal/direct"
	"github.com/evoprune/evoprune/tensor"
)

// TestDirectMatchesGEMM runs the same 3x3 "same" convolutions forward and
// backward on the direct kernels and on the GEMM route and compares the
// outputs and every gradient: two independent computations of one thing.
func TestDirectMatchesGEMM(t *testing.T) {
	if !direct.Available() {
		t.Skip("no direct kernels on this machine or build")
	}
	defer func() { directEnabled = true }()
	rng := rand.New(rand.NewPCG(7, 7))
	for _, s := range []struct {
		inC, outC, n, h, w int
		bias               bool
	}{
		{3, 16, 3, 32, 32, false}, {16, 32, 2, 16, 16, true}, {64, 64, 3, 8, 8, false}, {5, 9, 2, 16, 10, true},
	} {
		l := mustLayer(NewConv2d(ConvConfig{InC: s.inC, OutC: s.outC, Kernel: 3, Stride: 1, Pad: 1, Bias: s.bias})).(*Conv2d)
		randomiseParams(rng, l)
		x := randTensor(rng, s.n, s.inC, s.h, s.w)
		dout := randTensor(rng, s.n, s.outC, s.h, s.w)
		run := func(on bool) (y, dx, dw, db []float32) {
			directEnabled = on
			if got := l.useDirect(s.h * s.w); got != on {
				t.Fatalf("%+v: useDirect = %v with the kernels %v", s, got, on)
			}
			ctx := &Context{}
			out := tensor.New(s.n, s.outC, s.h, s.w)
			l.Forward(ctx, []*tensor.Tensor{x}, out)
			din := tensor.New(x.Shape...)
			for _, p := range l.Params() {
				clear(p.Grad.Data)
			}
			l.Backward(ctx, []*tensor.Tensor{x}, out, dout, []*tensor.Tensor{din})
			y, dx = append(y, out.Data...), append(dx, din.Data...)
			dw = append(dw, l.Weight.Grad.Data...)
			if l.B != nil {
				db = append(db, l.B.Grad.Data...)
			}
			return
		}
		y1, dx1, dw1, db1 := run(true)
		y0, dx0, dw0, db0 := run(false)
		for _, c := range []struct {
			name string
			a, b []float32
		}{{"output", y1, y0}, {"input gradient", dx1, dx0}, {"weight gradient", dw1, dw0}, {"bias gradient", db1, db0}} {
			for i := range c.b {
				if d := math.Abs(float64(c.a[i] - c.b[i])); d > 1e-4*(1+math.Abs(float64(c.b[i]))) || math.IsNaN(float64(c.a[i])) {
					t.Fatalf("%+v: %s[%d] direct %v, GEMM %v", s, c.name, i, c.a[i], c.b[i])
				}
			}
		}
	}
}
