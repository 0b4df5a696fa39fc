package nn

import (
	"fmt"

	"github.com/evoprune/evoprune/tensor"
)

// SelectConfig lists, in order, the input channels a Select layer passes on.
type SelectConfig struct {
	In    int   `json:"in_channels"`
	Index []int `json:"index"`
}

// Select passes on a subset of its input's channels: out[:, j] = x[:, Index[j]].
// The pruning engine inserts it in front of a residual block's first
// convolution when that convolution reads only some channels of the residual
// stream, which itself stays whole (the reference's ResNet pruning). It has
// no parameters and no MACs; ONNX calls it Gather on axis 1.
type Select struct{ Cfg SelectConfig }

func init() { register("select", NewSelect) }

// NewSelect returns a Select layer. Indices must be distinct and in [0, In).
func NewSelect(c SelectConfig) (Layer, error) {
	if c.In <= 0 || len(c.Index) == 0 {
		return nil, fmt.Errorf("select: needs in_channels > 0 and a non-empty index, got %+v", c)
	}
	seen := make([]bool, c.In)
	for j, i := range c.Index {
		if i < 0 || i >= c.In {
			return nil, fmt.Errorf("select: index[%d] = %d outside [0, %d)", j, i, c.In)
		}
		if seen[i] {
			return nil, fmt.Errorf("select: index[%d] = %d repeats a channel", j, i)
		}
		seen[i] = true
	}
	return &Select{Cfg: SelectConfig{In: c.In, Index: append([]int(nil), c.Index...)}}, nil
}

// Kind implements Layer.
func (*Select) Kind() string { return "select" }

// Config implements Layer.
func (l *Select) Config() any { return l.Cfg }

// Params implements Layer.
func (*Select) Params() []*Param { return nil }

// MACs implements Layer.
func (*Select) MACs([][]int) int64 { return 0 }

// OutShape implements Layer.
func (l *Select) OutShape(in [][]int) ([]int, error) {
	s, err := oneInput("select", in)
	if err != nil {
		return nil, err
	}
	if len(s) == 0 || s[0] != l.Cfg.In {
		return nil, fmt.Errorf("select expects %d channels, got %s", l.Cfg.In, tensor.ShapeString(s))
	}
	out := append([]int(nil), s...)
	out[0] = len(l.Cfg.Index)
	return out, nil
}

// Forward implements Layer.
func (l *Select) Forward(_ *Context, in []*tensor.Tensor, out *tensor.Tensor) {
	x := in[0]
	n := x.Shape[0]
	per := x.Len() / (n * l.Cfg.In) // values per channel per sample
	k := len(l.Cfg.Index)
	for i := 0; i < n; i++ {
		for j, c := range l.Cfg.Index {
			copy(out.Data[(i*k+j)*per:(i*k+j+1)*per], x.Data[(i*l.Cfg.In+c)*per:])
		}
	}
}

// Backward implements Layer: the gradient of each selected channel goes back
// to the channel it came from; unselected channels get none.
func (l *Select) Backward(_ *Context, in []*tensor.Tensor, out, dout *tensor.Tensor, din []*tensor.Tensor) {
	if din[0] == nil {
		return
	}
	x := in[0]
	n := x.Shape[0]
	per := x.Len() / (n * l.Cfg.In)
	k := len(l.Cfg.Index)
	for i := 0; i < n; i++ {
		for j, c := range l.Cfg.Index {
			dx := din[0].Data[(i*l.Cfg.In+c)*per : (i*l.Cfg.In+c+1)*per]
			g := dout.Data[(i*k+j)*per:]
			for t := range dx {
				dx[t] += g[t]
			}
		}
	}
}
