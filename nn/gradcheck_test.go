package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/evoprune/evoprune/tensor"
)

// The gradient checks compare each analytic gradient with central finite
// differences of a float64-accumulated loss. Layers compute in float32, so
// the step is large enough (eps) for float32 rounding to stay far below the
// tolerance, and inputs of piecewise-linear layers (ReLU, max pooling) are
// kept away from their kinks and ties so the difference quotient is exact.

const gradTol = 1e-3

// relErr is |a-n| relative to the larger of the two and of 1 % of the
// tensor's largest gradient, so entries that are zero up to rounding are
// judged against the tensor's scale rather than against zero.
func relErr(a, n, scale float64) float64 {
	return math.Abs(a-n) / max(math.Abs(a), math.Abs(n), 0.01*scale, 1e-12)
}

type gradCase struct {
	name   string
	layer  Layer
	inputs []*tensor.Tensor
	train  bool
	eps    float64
}

// loss runs the layer and returns sum(r * out) in float64.
func (c *gradCase) loss(r []float32) float64 {
	ctx := &Context{Train: c.train, Rand: rand.New(rand.NewPCG(7, 7))}
	shapes := make([][]int, len(c.inputs))
	for i, x := range c.inputs {
		shapes[i] = x.Shape[1:]
	}
	os, err := c.layer.OutShape(shapes)
	if err != nil {
		panic(err)
	}
	out := tensor.New(append([]int{c.inputs[0].Shape[0]}, os...)...)
	c.layer.Forward(ctx, c.inputs, out)
	var s float64
	for i, v := range out.Data {
		s += float64(v) * float64(r[i])
	}
	return s
}

func checkLayer(t *testing.T, c gradCase, rng *rand.Rand) {
	t.Helper()
	shapes := make([][]int, len(c.inputs))
	for i, x := range c.inputs {
		shapes[i] = x.Shape[1:]
	}
	os, err := c.layer.OutShape(shapes)
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	n := c.inputs[0].Shape[0]
	out := tensor.New(append([]int{n}, os...)...)
	r := randTensor(rng, out.Shape...)
	ctx := &Context{Train: c.train, Rand: rand.New(rand.NewPCG(7, 7))}
	c.layer.Forward(ctx, c.inputs, out)
	din := make([]*tensor.Tensor, len(c.inputs))
	for i, x := range c.inputs {
		din[i] = tensor.New(x.Shape...)
	}
	for _, p := range c.layer.Params() {
		if p.Grad != nil {
			p.Grad.Zero()
		}
	}
	c.layer.Backward(ctx, c.inputs, out, r, din)

	check := func(what string, vals []float32, grad []float32) {
		scale := 0.0
		for _, g := range grad {
			scale = max(scale, math.Abs(float64(g)))
		}
		worst := 0.0
		for i := range vals {
			num := richardson(func(h float64) float64 {
				orig := vals[i]
				vals[i] = orig + float32(h)
				lp := c.loss(r.Data)
				vals[i] = orig - float32(h)
				lm := c.loss(r.Data)
				vals[i] = orig
				return (lp - lm) / (float64(orig+float32(h)) - float64(orig-float32(h)))
			}, c.eps)
			e := relErr(float64(grad[i]), num, scale)
			worst = max(worst, e)
			if e > gradTol {
				t.Errorf("%s %s[%d]: analytic %.6g, numeric %.6g (rel %.2g)", c.name, what, i, grad[i], num, e)
				return
			}
		}
		t.Logf("%-28s %-14s max rel err %.2e", c.name, what, worst)
	}
	for i, x := range c.inputs {
		check(fmt.Sprintf("input%d", i), x.Data, din[i].Data)
	}
	for _, p := range c.layer.Params() {
		if p.Grad != nil {
			check(p.Name, p.Value.Data, p.Grad.Data)
		}
	}
}

// richardson combines central differences at steps h and h/2 so that their
// O(h^2) truncation errors cancel: (4 D(h/2) - D(h)) / 3.
func richardson(d func(h float64) float64, h float64) float64 {
	return (4*d(h/2) - d(h)) / 3
}

func randTensor(rng *rand.Rand, shape ...int) *tensor.Tensor {
	t := tensor.New(shape...)
	for i := range t.Data {
		t.Data[i] = float32(rng.NormFloat64())
	}
	return t
}

// spacedTensor fills a tensor with distinct values at least 0.02 apart and
// at least 0.01 from zero, in random order: no kinks or ties within eps.
func spacedTensor(rng *rand.Rand, shape ...int) *tensor.Tensor {
	t := tensor.New(shape...)
	perm := rng.Perm(len(t.Data))
	for i, p := range perm {
		t.Data[i] = float32(p-len(perm)/2)*0.02 + 0.01
	}
	return t
}

func mustLayer(l Layer, err error) Layer {
	if err != nil {
		panic(err)
	}
	return l
}

func randomiseParams(rng *rand.Rand, l Layer) {
	for _, p := range l.Params() {
		if p.Grad == nil {
			continue
		}
		for i := range p.Value.Data {
			p.Value.Data[i] = float32(rng.NormFloat64() * 0.5)
		}
	}
}

func TestLayerGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	conv := func(c ConvConfig) Layer { l := mustLayer(NewConv2d(c)); randomiseParams(rng, l); return l }
	bn := func(c int) Layer {
		l := mustLayer(NewBatchNorm(BatchNormConfig{C: c}))
		randomiseParams(rng, l)
		return l
	}
	lin := func(c LinearConfig) Layer { l := mustLayer(NewLinear(c)); randomiseParams(rng, l); return l }
	bnEval := bn(3).(*BatchNorm)
	for i := range bnEval.RunningMean.Value.Data {
		bnEval.RunningMean.Value.Data[i] = float32(rng.NormFloat64())
		bnEval.RunningVar.Value.Data[i] = float32(0.5 + rng.Float64())
	}
	cases := []gradCase{
		{name: "conv k3 s1 p1 bias", layer: conv(ConvConfig{InC: 3, OutC: 4, Kernel: 3, Stride: 1, Pad: 1, Bias: true}), inputs: []*tensor.Tensor{randTensor(rng, 2, 3, 5, 5)}, eps: 1e-1},
		{name: "conv k3 s2 p1", layer: conv(ConvConfig{InC: 2, OutC: 3, Kernel: 3, Stride: 2, Pad: 1}), inputs: []*tensor.Tensor{randTensor(rng, 2, 2, 7, 6)}, eps: 1e-1},
		{name: "conv k5 s1 p0", layer: conv(ConvConfig{InC: 2, OutC: 3, Kernel: 5, Stride: 1}), inputs: []*tensor.Tensor{randTensor(rng, 2, 2, 8, 8)}, eps: 1e-1},
		// Maps of at least minPerImage pixels take the per-image path and the
		// flipped-filter input gradient; smaller ones the batched path and col2im.
		{name: "conv k3 s1 p1 12x12 bias", layer: conv(ConvConfig{InC: 2, OutC: 3, Kernel: 3, Stride: 1, Pad: 1, Bias: true}), inputs: []*tensor.Tensor{randTensor(rng, 2, 2, 12, 12)}, eps: 1e-1},
		// 8x8 maps with 13 output channels: the direct kernels' two tiles
		// (7 + 6 channels) where the CPU has them.
		{name: "conv k3 s1 p1 8x8 13 channels", layer: conv(ConvConfig{InC: 3, OutC: 13, Kernel: 3, Stride: 1, Pad: 1}), inputs: []*tensor.Tensor{randTensor(rng, 2, 3, 8, 8)}, eps: 1e-1},
		{name: "conv k5 s1 p0 16x14", layer: conv(ConvConfig{InC: 2, OutC: 2, Kernel: 5, Stride: 1}), inputs: []*tensor.Tensor{randTensor(rng, 2, 2, 16, 14)}, eps: 1e-1},
		{name: "conv k3 s2 p1 24x24", layer: conv(ConvConfig{InC: 2, OutC: 2, Kernel: 3, Stride: 2, Pad: 1}), inputs: []*tensor.Tensor{randTensor(rng, 2, 2, 24, 24)}, eps: 1e-1},
		{name: "conv k3 s1 p0", layer: conv(ConvConfig{InC: 2, OutC: 3, Kernel: 3, Stride: 1}), inputs: []*tensor.Tensor{randTensor(rng, 2, 2, 6, 5)}, eps: 1e-1},
		{name: "conv k3 s1 p2 bias", layer: conv(ConvConfig{InC: 2, OutC: 3, Kernel: 3, Stride: 1, Pad: 2, Bias: true}), inputs: []*tensor.Tensor{randTensor(rng, 3, 2, 4, 4)}, eps: 1e-1},
		{name: "conv k1 s1 p1", layer: conv(ConvConfig{InC: 3, OutC: 2, Kernel: 1, Stride: 1, Pad: 1}), inputs: []*tensor.Tensor{randTensor(rng, 2, 3, 3, 3)}, eps: 1e-1},
		{name: "conv k1 s2", layer: conv(ConvConfig{InC: 3, OutC: 2, Kernel: 1, Stride: 2}), inputs: []*tensor.Tensor{randTensor(rng, 2, 3, 5, 5)}, eps: 1e-1},
		{name: "batchnorm2d train", layer: bn(3), inputs: []*tensor.Tensor{randTensor(rng, 4, 3, 3, 3)}, train: true, eps: 5e-2},
		{name: "batchnorm2d eval", layer: bnEval, inputs: []*tensor.Tensor{randTensor(rng, 4, 3, 3, 3)}, eps: 1e-1},
		{name: "batchnorm1d train", layer: bn(5), inputs: []*tensor.Tensor{randTensor(rng, 6, 5)}, train: true, eps: 5e-2},
		{name: "relu", layer: &ReLU{}, inputs: []*tensor.Tensor{spacedTensor(rng, 2, 3, 4, 4)}, eps: 1e-3},
		{name: "maxpool k2", layer: mustLayer(NewMaxPool2d(PoolConfig{Kernel: 2})), inputs: []*tensor.Tensor{spacedTensor(rng, 2, 2, 6, 6)}, eps: 1e-3},
		{name: "maxpool k3 s2 p1", layer: mustLayer(NewMaxPool2d(PoolConfig{Kernel: 3, Stride: 2, Pad: 1})), inputs: []*tensor.Tensor{spacedTensor(rng, 2, 2, 7, 7)}, eps: 1e-3},
		{name: "avgpool k2", layer: mustLayer(NewAvgPool2d(PoolConfig{Kernel: 2})), inputs: []*tensor.Tensor{randTensor(rng, 2, 2, 6, 6)}, eps: 1e-1},
		{name: "avgpool k3 s2 p1", layer: mustLayer(NewAvgPool2d(PoolConfig{Kernel: 3, Stride: 2, Pad: 1})), inputs: []*tensor.Tensor{randTensor(rng, 2, 2, 7, 7)}, eps: 1e-1},
		{name: "global avg pool", layer: &GlobalAvgPool{}, inputs: []*tensor.Tensor{randTensor(rng, 2, 3, 4, 5)}, eps: 1e-1},
		{name: "linear bias", layer: lin(LinearConfig{In: 7, Out: 4, Bias: true}), inputs: []*tensor.Tensor{randTensor(rng, 3, 7)}, eps: 1e-1},
		{name: "linear", layer: lin(LinearConfig{In: 5, Out: 3}), inputs: []*tensor.Tensor{randTensor(rng, 2, 5)}, eps: 1e-1},
		{name: "dropout train", layer: mustLayer(NewDropout(DropoutConfig{P: 0.4})), inputs: []*tensor.Tensor{randTensor(rng, 3, 10)}, train: true, eps: 1e-1},
		{name: "flatten", layer: &Flatten{}, inputs: []*tensor.Tensor{randTensor(rng, 2, 2, 3, 3)}, eps: 1e-1},
		{name: "add", layer: &Add{}, inputs: []*tensor.Tensor{randTensor(rng, 2, 3, 2, 2), randTensor(rng, 2, 3, 2, 2)}, eps: 1e-1},
		{name: "shortcut A s2", layer: mustLayer(NewShortcutA(ShortcutAConfig{In: 2, Out: 4, Stride: 2})), inputs: []*tensor.Tensor{randTensor(rng, 2, 2, 5, 5)}, eps: 1e-1},
	}
	for _, c := range cases {
		checkLayer(t, c, rng)
	}
}

// TestValidRange compares the closed form with a direct scan.
func TestValidRange(t *testing.T) {
	for w := 1; w < 9; w++ {
		for k := 1; k <= 5; k++ {
			for s := 1; s <= 3; s++ {
				for p := 0; p <= k/2+1; p++ {
					ow := (w+2*p-k)/s + 1
					if ow <= 0 {
						continue
					}
					for kx := 0; kx < k; kx++ {
						lo, hi := validRange(ow, w, s, p, kx)
						for ox := 0; ox < ow; ox++ {
							ix := ox*s - p + kx
							in := ix >= 0 && ix < w
							if in != (ox >= lo && ox < hi) {
								t.Fatalf("w=%d k=%d s=%d p=%d kx=%d: [%d,%d) wrong at ox=%d", w, k, s, p, kx, lo, hi, ox)
							}
						}
					}
				}
			}
		}
	}
}

// TestPatchesBlockSame checks the "same"-convolution fast path of patches
// against the general path on arbitrary blocks.
func TestPatchesBlockSame(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	for _, tc := range []struct{ c, h, w, k, p int }{{2, 5, 5, 3, 1}, {3, 4, 6, 5, 2}, {1, 7, 3, 1, 0}, {2, 6, 6, 3, 1}} {
		x := randTensor(rng, 3, tc.c, tc.h, tc.w)
		q := patches{x: x.Data, c: tc.c, h: tc.h, w: tc.w, k: tc.k, s: 1, p: tc.p, oh: tc.h, ow: tc.w, i0: 0, b: 3}
		rows, cols := q.Rows(), q.Cols()
		for trial := 0; trial < 50; trial++ {
			r0, c0 := rng.IntN(rows), rng.IntN(cols)
			nr, nc := 1+rng.IntN(rows-r0), 1+rng.IntN(cols-c0)
			ld := nc + rng.IntN(3)
			fast := make([]float32, nr*ld)
			slow := make([]float32, nr*ld)
			for i := range fast { // stale contents: padding must be written
				fast[i], slow[i] = 7, 7
			}
			q.blockSame(r0, nr, c0, nc, fast, ld)
			generalBlock(&q, r0, nr, c0, nc, slow, ld)
			for i := range fast {
				if fast[i] != slow[i] {
					t.Fatalf("%+v block (%d,%d,%d,%d): element %d = %g, want %g", tc, r0, nr, c0, nc, i, fast[i], slow[i])
				}
			}
		}
	}
}
