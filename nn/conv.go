package nn

import (
	"fmt"

	"github.com/evoprune/evoprune/blas"
	"github.com/evoprune/evoprune/internal/parallel"
	"github.com/evoprune/evoprune/tensor"
)

// ConvConfig describes a 2-D convolution with square kernel, stride and
// zero padding. Weight layout is PyTorch's [OutC, InC, K, K].
type ConvConfig struct {
	InC    int  `json:"in_channels"`
	OutC   int  `json:"out_channels"`
	Kernel int  `json:"kernel"`
	Stride int  `json:"stride"`
	Pad    int  `json:"padding"`
	Bias   bool `json:"bias"`
}

// Conv2d is a convolution lowered to GEMM: for a chunk of b images the
// im2col matrix col[InC*K*K, b*OH*OW] is built, and out = W * col.
type Conv2d struct {
	Cfg    ConvConfig
	Weight *Param
	B      *Param // nil without bias

	cur convCall // arguments of the parallel loop in flight
}

// convCall holds what im2col/col2im loops need, so they can be handed to
// parallel.Do as a Task without allocating a closure.
type convCall struct {
	x                   *tensor.Tensor // im2col source or col2im destination
	i0, b, h, w, oh, ow int
	col                 []float32
}

// im2colTask and col2imTask are Conv2d seen as the Task of one loop each.
type (
	im2colTask Conv2d
	col2imTask Conv2d
)

func (t *im2colTask) Run(c0, c1 int) { (*Conv2d)(t).im2colChannels(c0, c1) }
func (t *col2imTask) Run(c0, c1 int) { (*Conv2d)(t).col2imChannels(c0, c1) }

// colBudget bounds the im2col workspace (in float32s) so VGG's wide layers
// at batch 128 do not need gigabytes: images are processed in chunks.
const colBudget = 1 << 22

func init() { register("conv2d", NewConv2d) }

// NewConv2d returns a convolution with zero weights; models initialise them.
func NewConv2d(c ConvConfig) (Layer, error) {
	if c.Stride == 0 {
		c.Stride = 1
	}
	if c.InC <= 0 || c.OutC <= 0 || c.Kernel <= 0 || c.Stride <= 0 || c.Pad < 0 {
		return nil, fmt.Errorf("conv2d: invalid configuration %+v", c)
	}
	l := &Conv2d{Cfg: c, Weight: newParam("weight", c.OutC, c.InC, c.Kernel, c.Kernel)}
	if c.Bias {
		l.B = newParam("bias", c.OutC)
	}
	return l, nil
}

// Kind implements Layer.
func (l *Conv2d) Kind() string { return "conv2d" }

// Config implements Layer.
func (l *Conv2d) Config() any { return l.Cfg }

// Params implements Layer.
func (l *Conv2d) Params() []*Param {
	if l.B != nil {
		return []*Param{l.Weight, l.B}
	}
	return []*Param{l.Weight}
}

func (l *Conv2d) outHW(h, w int) (int, int) {
	k, s, p := l.Cfg.Kernel, l.Cfg.Stride, l.Cfg.Pad
	return (h+2*p-k)/s + 1, (w+2*p-k)/s + 1
}

// OutShape implements Layer.
func (l *Conv2d) OutShape(in [][]int) ([]int, error) {
	c, h, w, err := chwInput("conv2d", in)
	if err != nil {
		return nil, err
	}
	if c != l.Cfg.InC {
		return nil, fmt.Errorf("conv2d expects %d input channels, got %d", l.Cfg.InC, c)
	}
	oh, ow := l.outHW(h, w)
	if oh <= 0 || ow <= 0 {
		return nil, fmt.Errorf("conv2d kernel %d does not fit a %dx%d input", l.Cfg.Kernel, h, w)
	}
	return []int{l.Cfg.OutC, oh, ow}, nil
}

// MACs implements Layer.
func (l *Conv2d) MACs(in [][]int) int64 {
	out, err := l.OutShape(in)
	if err != nil {
		return 0
	}
	k := l.Cfg.Kernel
	return int64(out[0]) * int64(out[1]) * int64(out[2]) * int64(l.Cfg.InC*k*k)
}

// chunk returns how many images fit one im2col workspace.
func (l *Conv2d) chunk(n, ohw int) int {
	k := l.Cfg.InC * l.Cfg.Kernel * l.Cfg.Kernel
	b := colBudget / (k * ohw)
	return max(1, min(n, b))
}

func grow(buf []float32, n int) []float32 {
	if cap(buf) < n {
		return make([]float32, n)
	}
	return buf[:n]
}

// Forward implements Layer.
func (l *Conv2d) Forward(ctx *Context, in []*tensor.Tensor, out *tensor.Tensor) {
	x := in[0]
	n, h, w := x.Shape[0], x.Shape[2], x.Shape[3]
	oh, ow := l.outHW(h, w)
	ohw := oh * ow
	kdim := l.Cfg.InC * l.Cfg.Kernel * l.Cfg.Kernel
	oc := l.Cfg.OutC
	for i0 := 0; i0 < n; i0 += l.chunk(n, ohw) {
		b := min(l.chunk(n, ohw), n-i0)
		cols := b * ohw
		col := ctx.Scratch().Get(0, kdim*cols)
		out2d := ctx.Scratch().Get(1, oc*cols)
		l.im2col(x, i0, b, oh, ow, col)
		blas.Sgemm(false, false, oc, cols, kdim, 1, l.Weight.Value.Data, kdim, col, cols, 0, out2d, cols)
		// Scatter [oc][img*ohw+p] into NCHW, adding the bias on the way.
		for img := 0; img < b; img++ {
			dst := out.Data[(i0+img)*oc*ohw:]
			for c := 0; c < oc; c++ {
				src := out2d[c*cols+img*ohw : c*cols+img*ohw+ohw]
				d := dst[c*ohw : c*ohw+ohw]
				if l.B != nil {
					bv := l.B.Value.Data[c]
					for p, v := range src {
						d[p] = v + bv
					}
				} else {
					copy(d, src)
				}
			}
		}
	}
}

// Backward implements Layer.
func (l *Conv2d) Backward(ctx *Context, in []*tensor.Tensor, out, dout *tensor.Tensor, din []*tensor.Tensor) {
	x := in[0]
	n, h, w := x.Shape[0], x.Shape[2], x.Shape[3]
	oh, ow := l.outHW(h, w)
	ohw := oh * ow
	kdim := l.Cfg.InC * l.Cfg.Kernel * l.Cfg.Kernel
	oc := l.Cfg.OutC
	for i0 := 0; i0 < n; i0 += l.chunk(n, ohw) {
		b := min(l.chunk(n, ohw), n-i0)
		cols := b * ohw
		col := ctx.Scratch().Get(0, kdim*cols)
		dout2d := ctx.Scratch().Get(1, oc*cols)
		// Gather dout into [oc][img*ohw+p], the layout of the forward GEMM.
		for img := 0; img < b; img++ {
			src := dout.Data[(i0+img)*oc*ohw:]
			for c := 0; c < oc; c++ {
				copy(dout2d[c*cols+img*ohw:c*cols+img*ohw+ohw], src[c*ohw:c*ohw+ohw])
			}
		}
		if l.B != nil {
			g := l.B.Grad.Data
			for c := 0; c < oc; c++ {
				var s float32
				for _, v := range dout2d[c*cols : c*cols+cols] {
					s += v
				}
				g[c] += s
			}
		}
		// dW += dout2d * col^T (col recomputed: cheaper than keeping it).
		l.im2col(x, i0, b, oh, ow, col)
		blas.Sgemm(false, true, oc, kdim, cols, 1, dout2d, cols, col, cols, 1, l.Weight.Grad.Data, kdim)
		if din[0] == nil {
			continue
		}
		// dcol = W^T * dout2d, then fold back onto the input.
		// dcol may reuse col's memory: col is no longer needed.
		dcol := col
		blas.Sgemm(true, false, kdim, cols, oc, 1, l.Weight.Value.Data, kdim, dout2d, cols, 0, dcol, cols)
		l.col2im(dcol, din[0], i0, b, h, w, oh, ow)
	}
}

// im2col writes col[(c*K+ky)*K+kx][img*oh*ow + oy*ow + ox] =
// x[i0+img, c, oy*s-p+ky, ox*s-p+kx] (0 outside the image), input channels
// spread over threads.
func (l *Conv2d) im2col(x *tensor.Tensor, i0, b, oh, ow int, col []float32) {
	l.cur = convCall{x: x, i0: i0, b: b, h: x.Shape[2], w: x.Shape[3], oh: oh, ow: ow, col: col}
	parallel.Do(l.Cfg.InC, 1, (*im2colTask)(l))
}

func (l *Conv2d) im2colChannels(c0, c1 int) {
	inC, k, s, p := l.Cfg.InC, l.Cfg.Kernel, l.Cfg.Stride, l.Cfg.Pad
	x, i0, b, h, w, oh, ow, col := l.cur.x, l.cur.i0, l.cur.b, l.cur.h, l.cur.w, l.cur.oh, l.cur.ow, l.cur.col
	ohw := oh * ow
	cols := b * ohw
	for c := c0; c < c1; c++ {
		for ky := 0; ky < k; ky++ {
			for kx := 0; kx < k; kx++ {
				row := col[((c*k+ky)*k+kx)*cols:]
				// Output columns whose input column falls inside the image.
				lo, hi := validRange(ow, w, s, p, kx)
				for img := 0; img < b; img++ {
					plane := x.Data[((i0+img)*inC+c)*h*w:]
					dst := row[img*ohw : img*ohw+ohw]
					for oy := 0; oy < oh; oy++ {
						iy := oy*s - p + ky
						drow := dst[oy*ow : oy*ow+ow]
						if iy < 0 || iy >= h || lo >= hi {
							clear(drow)
							continue
						}
						src := plane[iy*w : iy*w+w]
						clear(drow[:lo])
						clear(drow[hi:])
						if s == 1 {
							copy(drow[lo:hi], src[lo-p+kx:])
						} else {
							for ox := lo; ox < hi; ox++ {
								drow[ox] = src[ox*s-p+kx]
							}
						}
					}
				}
			}
		}
	}
}

// validRange returns the output columns [lo, hi) whose input column
// ox*s - p + kx lies in [0, w).
func validRange(ow, w, s, p, kx int) (lo, hi int) {
	off := kx - p
	lo = 0
	if off < 0 {
		lo = (-off + s - 1) / s
	}
	hi = ow
	if last := (w - 1 - off); last < 0 {
		hi = 0
	} else {
		hi = min(ow, last/s+1)
	}
	return lo, max(lo, hi)
}

// col2im adds dcol back onto dx, the adjoint of im2col. Each input
// channel's planes receive only their own rows of dcol, so channels are
// folded back concurrently.
func (l *Conv2d) col2im(dcol []float32, dx *tensor.Tensor, i0, b, h, w, oh, ow int) {
	l.cur = convCall{x: dx, i0: i0, b: b, h: h, w: w, oh: oh, ow: ow, col: dcol}
	parallel.Do(l.Cfg.InC, 1, (*col2imTask)(l))
}

func (l *Conv2d) col2imChannels(c0, c1 int) {
	inC, k, s, p := l.Cfg.InC, l.Cfg.Kernel, l.Cfg.Stride, l.Cfg.Pad
	dx, i0, b, h, w, oh, ow, dcol := l.cur.x, l.cur.i0, l.cur.b, l.cur.h, l.cur.w, l.cur.oh, l.cur.ow, l.cur.col
	ohw := oh * ow
	cols := b * ohw
	for c := c0; c < c1; c++ {
		for ky := 0; ky < k; ky++ {
			for kx := 0; kx < k; kx++ {
				row := dcol[((c*k+ky)*k+kx)*cols:]
				lo, hi := validRange(ow, w, s, p, kx)
				if lo >= hi {
					continue
				}
				for img := 0; img < b; img++ {
					plane := dx.Data[((i0+img)*inC+c)*h*w:]
					src := row[img*ohw : img*ohw+ohw]
					for oy := 0; oy < oh; oy++ {
						iy := oy*s - p + ky
						if iy < 0 || iy >= h {
							continue
						}
						drow := plane[iy*w : iy*w+w]
						srow := src[oy*ow : oy*ow+ow]
						if s == 1 {
							tensor.Axpy(1, srow[lo:hi], drow[lo-p+kx:])
						} else {
							for ox := lo; ox < hi; ox++ {
								drow[ox*s-p+kx] += srow[ox]
							}
						}
					}
				}
			}
		}
	}
}
