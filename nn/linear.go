package nn

import (
	"fmt"

	"github.com/evoprune/evoprune/blas"
	"github.com/evoprune/evoprune/tensor"
)

// LinearConfig describes a fully connected layer y = x W^T + b with PyTorch's
// weight layout [Out, In].
type LinearConfig struct {
	In   int  `json:"in_features"`
	Out  int  `json:"out_features"`
	Bias bool `json:"bias"`
}

// Linear is a fully connected layer.
type Linear struct {
	Cfg    LinearConfig
	Weight *Param
	B      *Param
}

func init() { register("linear", NewLinear) }

// NewLinear returns a linear layer with zero weights.
func NewLinear(c LinearConfig) (Layer, error) {
	if c.In <= 0 || c.Out <= 0 {
		return nil, fmt.Errorf("linear: invalid configuration %+v", c)
	}
	l := &Linear{Cfg: c, Weight: newParam("weight", c.Out, c.In)}
	if c.Bias {
		l.B = newParam("bias", c.Out)
	}
	return l, nil
}

// Kind implements Layer.
func (*Linear) Kind() string { return "linear" }

// Config implements Layer.
func (l *Linear) Config() any { return l.Cfg }

// Params implements Layer.
func (l *Linear) Params() []*Param {
	if l.B != nil {
		return []*Param{l.Weight, l.B}
	}
	return []*Param{l.Weight}
}

// MACs implements Layer.
func (l *Linear) MACs([][]int) int64 { return int64(l.Cfg.In) * int64(l.Cfg.Out) }

// OutShape implements Layer.
func (l *Linear) OutShape(in [][]int) ([]int, error) {
	s, err := oneInput("linear", in)
	if err != nil {
		return nil, err
	}
	if len(s) != 1 || s[0] != l.Cfg.In {
		return nil, fmt.Errorf("linear expects %d input features, got %s", l.Cfg.In, tensor.ShapeString(s))
	}
	return []int{l.Cfg.Out}, nil
}

// Forward implements Layer.
func (l *Linear) Forward(_ *Context, in []*tensor.Tensor, out *tensor.Tensor) {
	n := in[0].Shape[0]
	ni, no := l.Cfg.In, l.Cfg.Out
	if l.B != nil {
		for i := 0; i < n; i++ {
			copy(out.Data[i*no:(i+1)*no], l.B.Value.Data)
		}
	}
	beta := float32(0)
	if l.B != nil {
		beta = 1
	}
	blas.Sgemm(false, true, n, no, ni, 1, in[0].Data, ni, l.Weight.Value.Data, ni, beta, out.Data, no)
}

// Backward implements Layer: dW += dy^T x, db += sum dy, dx += dy W.
func (l *Linear) Backward(_ *Context, in []*tensor.Tensor, out, dout *tensor.Tensor, din []*tensor.Tensor) {
	n := in[0].Shape[0]
	ni, no := l.Cfg.In, l.Cfg.Out
	blas.Sgemm(true, false, no, ni, n, 1, dout.Data, no, in[0].Data, ni, 1, l.Weight.Grad.Data, ni)
	if l.B != nil {
		g := l.B.Grad.Data
		for i := 0; i < n; i++ {
			for j, v := range dout.Data[i*no : (i+1)*no] {
				g[j] += v
			}
		}
	}
	if din[0] != nil {
		blas.Sgemm(false, false, n, ni, no, 1, dout.Data, no, l.Weight.Value.Data, ni, 1, din[0].Data, ni)
	}
}
