package nn

import (
	"fmt"
	"math"

	"github.com/evoprune/evoprune/tensor"
)

// PoolConfig describes a square pooling window. Stride defaults to the kernel.
// Max pooling pads with -inf; average pooling counts padded zeros in its
// divisor (PyTorch's count_include_pad=True).
type PoolConfig struct {
	Kernel int `json:"kernel"`
	Stride int `json:"stride"`
	Pad    int `json:"padding"`
}

func (c *PoolConfig) check(kind string) error {
	if c.Stride == 0 {
		c.Stride = c.Kernel
	}
	if c.Kernel <= 0 || c.Stride <= 0 || c.Pad < 0 || 2*c.Pad > c.Kernel {
		return fmt.Errorf("%s: invalid configuration %+v", kind, *c)
	}
	return nil
}

func (c PoolConfig) outShape(kind string, in [][]int) ([]int, error) {
	ch, h, w, err := chwInput(kind, in)
	if err != nil {
		return nil, err
	}
	oh := (h+2*c.Pad-c.Kernel)/c.Stride + 1
	ow := (w+2*c.Pad-c.Kernel)/c.Stride + 1
	if oh <= 0 || ow <= 0 {
		return nil, fmt.Errorf("%s window %d does not fit a %dx%d input", kind, c.Kernel, h, w)
	}
	return []int{ch, oh, ow}, nil
}

func init() {
	register("maxpool2d", NewMaxPool2d)
	register("avgpool2d", NewAvgPool2d)
}

// MaxPool2d keeps the largest value of each window and remembers where it was.
type MaxPool2d struct {
	Cfg    PoolConfig
	argmax []int32 // index within the input plane, per output element
}

// NewMaxPool2d returns a max-pooling layer.
func NewMaxPool2d(c PoolConfig) (Layer, error) {
	if err := c.check("maxpool2d"); err != nil {
		return nil, err
	}
	return &MaxPool2d{Cfg: c}, nil
}

// Kind implements Layer.
func (*MaxPool2d) Kind() string { return "maxpool2d" }

// Config implements Layer.
func (l *MaxPool2d) Config() any { return l.Cfg }

// Params implements Layer.
func (*MaxPool2d) Params() []*Param { return nil }

// MACs implements Layer.
func (*MaxPool2d) MACs([][]int) int64 { return 0 }

// OutShape implements Layer.
func (l *MaxPool2d) OutShape(in [][]int) ([]int, error) { return l.Cfg.outShape("maxpool2d", in) }

// Forward implements Layer.
func (l *MaxPool2d) Forward(_ *Context, in []*tensor.Tensor, out *tensor.Tensor) {
	x := in[0]
	planes, h, w := x.Shape[0]*x.Shape[1], x.Shape[2], x.Shape[3]
	oh, ow := out.Shape[2], out.Shape[3]
	k, s, p := l.Cfg.Kernel, l.Cfg.Stride, l.Cfg.Pad
	if cap(l.argmax) < out.Len() {
		l.argmax = make([]int32, out.Len())
	}
	l.argmax = l.argmax[:out.Len()]
	if k == 2 && s == 2 && p == 0 {
		maxPool2x2(x.Data, out.Data, l.argmax, planes, h, w, oh, ow)
		return
	}
	for pl := 0; pl < planes; pl++ {
		src := x.Data[pl*h*w : (pl+1)*h*w]
		for oy := 0; oy < oh; oy++ {
			for ox := 0; ox < ow; ox++ {
				best, at := float32(math.Inf(-1)), int32(-1)
				for ky := 0; ky < k; ky++ {
					iy := oy*s - p + ky
					if iy < 0 || iy >= h {
						continue
					}
					for kx := 0; kx < k; kx++ {
						ix := ox*s - p + kx
						if ix < 0 || ix >= w {
							continue
						}
						// NaN wins, as in PyTorch, so it propagates to the NaN guard.
						if v := src[iy*w+ix]; v > best || at < 0 || v != v {
							best, at = v, int32(iy*w+ix)
						}
					}
				}
				o := (pl*oh+oy)*ow + ox
				out.Data[o] = best
				l.argmax[o] = at
			}
		}
	}
}

// Backward implements Layer: each output's gradient goes to its argmax.
func (l *MaxPool2d) Backward(_ *Context, in []*tensor.Tensor, out, dout *tensor.Tensor, din []*tensor.Tensor) {
	if din[0] == nil {
		return
	}
	hw := in[0].Shape[2] * in[0].Shape[3]
	ohw := out.Shape[2] * out.Shape[3]
	for o0 := 0; o0 < len(dout.Data); o0 += ohw {
		dx := din[0].Data[o0/ohw*hw : o0/ohw*hw+hw]
		am := l.argmax[o0 : o0+ohw]
		for i, g := range dout.Data[o0 : o0+ohw] {
			dx[am[i]] += g
		}
	}
}

// pick returns (v, iv) if v beats best (is larger, or NaN) and (best, at)
// otherwise, written so the compiler emits conditional moves: the outcome
// is random, and branches on it mispredict about half the time.
func pick(best float32, at int32, v float32, iv int32) (float32, int32) {
	take := v > best
	if v != v {
		take = true
	}
	bb, vb := math.Float32bits(best), math.Float32bits(v)
	if take {
		bb = vb
	}
	if take {
		at = iv
	}
	return math.Float32frombits(bb), at
}

// maxPool2x2 is MaxPool2d's forward for the common 2x2 window with stride
// 2 and no padding, unrolled; it visits the window in the general loop's
// order with the same rule (a larger value or a NaN replaces the best), so
// values and argmax are the same.
func maxPool2x2(x, out []float32, argmax []int32, planes, h, w, oh, ow int) {
	for pl := 0; pl < planes; pl++ {
		src := x[pl*h*w : (pl+1)*h*w]
		for oy := 0; oy < oh; oy++ {
			r0 := src[2*oy*w : 2*oy*w+w]
			r1 := src[(2*oy+1)*w : (2*oy+1)*w+w]
			o := out[(pl*oh+oy)*ow : (pl*oh+oy)*ow+ow]
			am := argmax[(pl*oh+oy)*ow : (pl*oh+oy)*ow+ow]
			base := int32(2 * oy * w)
			for ox := range o {
				i := 2 * ox
				best, at := r0[i], base+int32(i)
				best, at = pick(best, at, r0[i+1], base+int32(i+1))
				best, at = pick(best, at, r1[i], base+int32(w+i))
				best, at = pick(best, at, r1[i+1], base+int32(w+i+1))
				o[ox], am[ox] = best, at
			}
		}
	}
}

// AvgPool2d averages each window.
type AvgPool2d struct{ Cfg PoolConfig }

// NewAvgPool2d returns an average-pooling layer.
func NewAvgPool2d(c PoolConfig) (Layer, error) {
	if err := c.check("avgpool2d"); err != nil {
		return nil, err
	}
	return &AvgPool2d{Cfg: c}, nil
}

// Kind implements Layer.
func (*AvgPool2d) Kind() string { return "avgpool2d" }

// Config implements Layer.
func (l *AvgPool2d) Config() any { return l.Cfg }

// Params implements Layer.
func (*AvgPool2d) Params() []*Param { return nil }

// MACs implements Layer.
func (*AvgPool2d) MACs([][]int) int64 { return 0 }

// OutShape implements Layer.
func (l *AvgPool2d) OutShape(in [][]int) ([]int, error) { return l.Cfg.outShape("avgpool2d", in) }

// window calls f for every in-image input position of output (oy, ox).
func (c PoolConfig) window(h, w, oy, ox int, f func(idx int)) {
	for ky := 0; ky < c.Kernel; ky++ {
		iy := oy*c.Stride - c.Pad + ky
		if iy < 0 || iy >= h {
			continue
		}
		for kx := 0; kx < c.Kernel; kx++ {
			ix := ox*c.Stride - c.Pad + kx
			if ix >= 0 && ix < w {
				f(iy*w + ix)
			}
		}
	}
}

// Forward implements Layer.
func (l *AvgPool2d) Forward(_ *Context, in []*tensor.Tensor, out *tensor.Tensor) {
	x := in[0]
	planes, h, w := x.Shape[0]*x.Shape[1], x.Shape[2], x.Shape[3]
	oh, ow := out.Shape[2], out.Shape[3]
	inv := 1 / float32(l.Cfg.Kernel*l.Cfg.Kernel)
	for pl := 0; pl < planes; pl++ {
		src := x.Data[pl*h*w : (pl+1)*h*w]
		for oy := 0; oy < oh; oy++ {
			for ox := 0; ox < ow; ox++ {
				var s float32
				l.Cfg.window(h, w, oy, ox, func(i int) { s += src[i] })
				out.Data[(pl*oh+oy)*ow+ox] = s * inv
			}
		}
	}
}

// Backward implements Layer.
func (l *AvgPool2d) Backward(_ *Context, in []*tensor.Tensor, out, dout *tensor.Tensor, din []*tensor.Tensor) {
	if din[0] == nil {
		return
	}
	x := in[0]
	planes, h, w := x.Shape[0]*x.Shape[1], x.Shape[2], x.Shape[3]
	oh, ow := out.Shape[2], out.Shape[3]
	inv := 1 / float32(l.Cfg.Kernel*l.Cfg.Kernel)
	for pl := 0; pl < planes; pl++ {
		dx := din[0].Data[pl*h*w : (pl+1)*h*w]
		for oy := 0; oy < oh; oy++ {
			for ox := 0; ox < ow; ox++ {
				g := dout.Data[(pl*oh+oy)*ow+ox] * inv
				l.Cfg.window(h, w, oy, ox, func(i int) { dx[i] += g })
			}
		}
	}
}
