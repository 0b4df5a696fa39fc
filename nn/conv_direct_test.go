package nn

import (
	"math"
	"math/rand/v2"
	"runtime"
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

// TestDirectThreadsBitwise checks that the direct route gives the same bits
// for any number of threads (images and weight-gradient pairs are split
// across goroutines, but every sum keeps its order).
func TestDirectThreadsBitwise(t *testing.T) {
	if !direct.Available() {
		t.Skip("no direct kernels on this machine or build")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	rng := rand.New(rand.NewPCG(8, 8))
	l := mustLayer(NewConv2d(ConvConfig{InC: 16, OutC: 20, Kernel: 3, Stride: 1, Pad: 1, Bias: true})).(*Conv2d)
	randomiseParams(rng, l)
	x := randTensor(rng, 9, 16, 16, 16)
	dout := randTensor(rng, 9, 20, 16, 16)
	run := func(procs int) []float32 {
		runtime.GOMAXPROCS(procs)
		ctx := &Context{}
		out := tensor.New(9, 20, 16, 16)
		l.Forward(ctx, []*tensor.Tensor{x}, out)
		din := tensor.New(x.Shape...)
		for _, p := range l.Params() {
			clear(p.Grad.Data)
		}
		l.Backward(ctx, []*tensor.Tensor{x}, out, dout, []*tensor.Tensor{din})
		all := append(append([]float32(nil), out.Data...), din.Data...)
		return append(append(all, l.Weight.Grad.Data...), l.B.Grad.Data...)
	}
	one := run(1)
	for _, procs := range []int{2, 3} {
		got := run(procs)
		for i := range one {
			if math.Float32bits(got[i]) != math.Float32bits(one[i]) {
				t.Fatalf("GOMAXPROCS=%d: value %d is %v, with one thread %v", procs, i, got[i], one[i])
			}
		}
	}
}
