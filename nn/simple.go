package nn

import (
	"fmt"

	"github.com/evoprune/evoprune/internal/parallel"
	"github.com/evoprune/evoprune/internal/vec"
	"github.com/evoprune/evoprune/tensor"
)

// ReLU is max(0, x), elementwise.
type ReLU struct{ ew elementwise }

// elementwise holds the slices of an elementwise loop in flight, so the loop
// can run on several threads without allocating a closure.
type elementwise struct {
	op         func(e *elementwise, lo, hi int)
	a, b, c, d []float32
}

func (e *elementwise) Run(lo, hi int) { e.op(e, lo, hi) }

func (e *elementwise) do(op func(e *elementwise, lo, hi int), a, b, c []float32) {
	e.op, e.a, e.b, e.c = op, a, b, c
	parallel.Do(len(a), elementGrain, e)
}

func reluForward(e *elementwise, lo, hi int) { vec.ReLU(e.b[lo:hi], e.a[lo:hi]) }

// reluBackward: a = output, b = its gradient, c = input gradient. The
// gradient passes where the output is positive (vec.Mask).
func reluBackward(e *elementwise, lo, hi int) { vec.ReLUGrad(e.c[lo:hi], e.a[lo:hi], e.b[lo:hi]) }

func addForward(e *elementwise, lo, hi int) { vec.Add(e.c[lo:hi], e.a[lo:hi], e.b[lo:hi]) }

// addReLUForward: a + b into c, max(c, 0) into d.
func addReLUForward(e *elementwise, lo, hi int) {
	vec.AddReLU(e.c[lo:hi], e.d[lo:hi], e.a[lo:hi], e.b[lo:hi])
}

type empty struct{}

func init() {
	register("relu", func(empty) (Layer, error) { return &ReLU{}, nil })
	register("flatten", func(empty) (Layer, error) { return &Flatten{}, nil })
	register("add", func(empty) (Layer, error) { return &Add{}, nil })
	register("global_avg_pool", func(empty) (Layer, error) { return &GlobalAvgPool{}, nil })
	register("dropout", NewDropout)
}

// Kind implements Layer.
func (*ReLU) Kind() string { return "relu" }

// Config implements Layer.
func (*ReLU) Config() any { return empty{} }

// Params implements Layer.
func (*ReLU) Params() []*Param { return nil }

// MACs implements Layer.
func (*ReLU) MACs([][]int) int64 { return 0 }

// OutShape implements Layer.
func (*ReLU) OutShape(in [][]int) ([]int, error) { return oneInput("relu", in) }

// Forward implements Layer.
func (l *ReLU) Forward(_ *Context, in []*tensor.Tensor, out *tensor.Tensor) {
	l.ew.do(reluForward, in[0].Data, out.Data, nil)
}

// elementGrain is the smallest share of an elementwise loop worth a goroutine.
const elementGrain = 1 << 15

// Backward implements Layer: the gradient passes where the output is positive.
func (l *ReLU) Backward(_ *Context, in []*tensor.Tensor, out, dout *tensor.Tensor, din []*tensor.Tensor) {
	if din[0] == nil {
		return
	}
	l.ew.do(reluBackward, out.Data, dout.Data, din[0].Data)
}

// Flatten turns a CxHxW sample into a vector of C*H*W, channel-major, so
// channel c owns the block [c*H*W, (c+1)*H*W) of the vector.
type Flatten struct{}

// Kind implements Layer.
func (*Flatten) Kind() string { return "flatten" }

// Config implements Layer.
func (*Flatten) Config() any { return empty{} }

// Params implements Layer.
func (*Flatten) Params() []*Param { return nil }

// MACs implements Layer.
func (*Flatten) MACs([][]int) int64 { return 0 }

// OutShape implements Layer.
func (*Flatten) OutShape(in [][]int) ([]int, error) {
	s, err := oneInput("flatten", in)
	if err != nil {
		return nil, err
	}
	return []int{tensor.Numel(s)}, nil
}

// Forward implements Layer.
func (*Flatten) Forward(_ *Context, in []*tensor.Tensor, out *tensor.Tensor) {
	copy(out.Data, in[0].Data)
}

// Backward implements Layer.
func (*Flatten) Backward(_ *Context, in []*tensor.Tensor, out, dout *tensor.Tensor, din []*tensor.Tensor) {
	if din[0] != nil {
		vec.AddTo(din[0].Data, dout.Data)
	}
}

// Add sums two tensors of one shape: the join of a residual block.
type Add struct{ ew elementwise }

// Kind implements Layer.
func (*Add) Kind() string { return "add" }

// Config implements Layer.
func (*Add) Config() any { return empty{} }

// Params implements Layer.
func (*Add) Params() []*Param { return nil }

// MACs implements Layer.
func (*Add) MACs([][]int) int64 { return 0 }

// OutShape implements Layer.
func (*Add) OutShape(in [][]int) ([]int, error) {
	if len(in) != 2 {
		return nil, fmt.Errorf("add takes 2 inputs, got %d", len(in))
	}
	if !tensor.SameShape(in[0], in[1]) {
		return nil, fmt.Errorf("add needs equal shapes, got %s and %s", tensor.ShapeString(in[0]), tensor.ShapeString(in[1]))
	}
	return in[0], nil
}

// Forward implements Layer.
func (l *Add) Forward(_ *Context, in []*tensor.Tensor, out *tensor.Tensor) {
	l.ew.do(addForward, in[0].Data, in[1].Data, out.Data)
}

// forwardReLU implements reluFuser: the sum and its ReLU in one pass.
func (l *Add) forwardReLU(_ *Context, in []*tensor.Tensor, out, relu *tensor.Tensor) {
	l.ew.d = relu.Data
	l.ew.do(addReLUForward, in[0].Data, in[1].Data, out.Data)
	l.ew.d = nil
}

// backwardReLU implements reluFuser: each input's gradient gets drelu
// where relu > 0, as the unfused ReLU's gradient would pass it on.
func (l *Add) backwardReLU(_ *Context, in []*tensor.Tensor, relu, drelu *tensor.Tensor, din []*tensor.Tensor) {
	for _, d := range din {
		if d != nil {
			l.ew.do(reluBackward, relu.Data, drelu.Data, d.Data)
		}
	}
}

// Backward implements Layer.
func (*Add) Backward(_ *Context, in []*tensor.Tensor, out, dout *tensor.Tensor, din []*tensor.Tensor) {
	for _, d := range din {
		if d != nil {
			vec.AddTo(d.Data, dout.Data)
		}
	}
}

// GlobalAvgPool averages each channel's map: CxHxW -> C.
type GlobalAvgPool struct{}

// Kind implements Layer.
func (*GlobalAvgPool) Kind() string { return "global_avg_pool" }

// Config implements Layer.
func (*GlobalAvgPool) Config() any { return empty{} }

// Params implements Layer.
func (*GlobalAvgPool) Params() []*Param { return nil }

// MACs implements Layer.
func (*GlobalAvgPool) MACs([][]int) int64 { return 0 }

// OutShape implements Layer.
func (*GlobalAvgPool) OutShape(in [][]int) ([]int, error) {
	c, _, _, err := chwInput("global_avg_pool", in)
	if err != nil {
		return nil, err
	}
	return []int{c}, nil
}

// Forward implements Layer.
func (*GlobalAvgPool) Forward(_ *Context, in []*tensor.Tensor, out *tensor.Tensor) {
	x := in[0]
	hw := x.Shape[2] * x.Shape[3]
	for i := range out.Data {
		var s float32
		for _, v := range x.Data[i*hw : i*hw+hw] {
			s += v
		}
		out.Data[i] = s / float32(hw)
	}
}

// Backward implements Layer.
func (*GlobalAvgPool) Backward(_ *Context, in []*tensor.Tensor, out, dout *tensor.Tensor, din []*tensor.Tensor) {
	if din[0] == nil {
		return
	}
	x := in[0]
	hw := x.Shape[2] * x.Shape[3]
	for i, g := range dout.Data {
		g /= float32(hw)
		dx := din[0].Data[i*hw : i*hw+hw]
		for p := range dx {
			dx[p] += g
		}
	}
}

// DropoutConfig holds the probability of zeroing an element in training.
type DropoutConfig struct {
	P float64 `json:"p"`
}

// Dropout zeroes each element with probability P in training and scales the
// survivors by 1/(1-P) (inverted dropout), so evaluation is the identity.
type Dropout struct {
	Cfg  DropoutConfig
	mask []float32
}

// NewDropout returns a dropout layer; P must lie in [0, 1).
func NewDropout(c DropoutConfig) (Layer, error) {
	if c.P < 0 || c.P >= 1 {
		return nil, fmt.Errorf("dropout probability %g is outside [0, 1)", c.P)
	}
	return &Dropout{Cfg: c}, nil
}

// Kind implements Layer.
func (*Dropout) Kind() string { return "dropout" }

// Config implements Layer.
func (l *Dropout) Config() any { return l.Cfg }

// Params implements Layer.
func (*Dropout) Params() []*Param { return nil }

// MACs implements Layer.
func (*Dropout) MACs([][]int) int64 { return 0 }

// OutShape implements Layer.
func (*Dropout) OutShape(in [][]int) ([]int, error) { return oneInput("dropout", in) }

// Forward implements Layer.
func (l *Dropout) Forward(ctx *Context, in []*tensor.Tensor, out *tensor.Tensor) {
	x := in[0].Data
	l.mask = grow(l.mask, len(x))
	if !ctx.Train || l.Cfg.P == 0 {
		for i := range l.mask {
			l.mask[i] = 1
		}
		copy(out.Data, x)
		return
	}
	keep := float32(1 / (1 - l.Cfg.P))
	for i, v := range x {
		if ctx.Rand.Float64() < l.Cfg.P {
			l.mask[i] = 0
		} else {
			l.mask[i] = keep
		}
		out.Data[i] = v * l.mask[i]
	}
}

// Backward implements Layer.
func (l *Dropout) Backward(_ *Context, in []*tensor.Tensor, out, dout *tensor.Tensor, din []*tensor.Tensor) {
	if din[0] == nil {
		return
	}
	for i, g := range dout.Data {
		din[0].Data[i] += g * l.mask[i]
	}
}
