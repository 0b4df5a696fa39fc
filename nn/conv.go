package nn

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/evoprune/evoprune/blas"
	"github.com/evoprune/evoprune/internal/direct"
	"github.com/evoprune/evoprune/internal/parallel"
	"github.com/evoprune/evoprune/internal/vec"
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

// Conv2d is a convolution lowered to GEMM without materialising the
// im2col matrix: the GEMM pulls cache-sized blocks of it from the image
// (patches, a blas.Source). Per image, out[oc, oh*ow] = W[oc, InC*K*K] *
// patches(x) (small maps: chunks of images in one product). The backward
// pass computes dW = dout * patches(x)^T over a chunk of images, and dx as
// the convolution of dout with the flipped, transposed filters (stride 1,
// large maps), or through dcol and col2im.
//
// On CPUs with AVX-512, 3x3 convolutions with stride 1 and padding 1 skip
// the GEMM altogether (useDirect): package direct's kernels read each tap
// straight from a zero-margined copy of the image, for the forward pass,
// the input gradient and (up to 64 channels) the weight gradient.
type Conv2d struct {
	Cfg    ConvConfig
	Weight *Param
	B      *Param // nil without bias

	cur     convCall  // arguments of the parallel loop in flight
	flipped []float32 // W rearranged for the input gradient
	srcs    []patches // one Source per image, reused (no allocation per step)
	inHW    int       // input pixels of the pass in flight
	// fwdPlan and gradPlan are the direct kernels' packed filters for the
	// forward pass and for the input gradient (3x3 "same" convolutions on
	// CPUs with AVX-512; see useDirect).
	fwdPlan, gradPlan direct.Plan
	wgrad             direct.WeightGrad
	// after, when set (by Graph.Forward in eval mode), is called for each
	// image as soon as its output is complete.
	after imageHook
}

// imageHook consumes a layer's output image by image.
type imageHook interface{ applyImage(img int) }

// source returns the reusable patches Source of slot i.
func (l *Conv2d) source(i int) *patches { return &l.srcs[i] }

func (l *Conv2d) ensureSources(n int) {
	if len(l.srcs) < n {
		l.srcs = make([]patches, n)
	}
}

// convCall holds what a parallel loop over images or channels needs, so it
// can be handed to parallel.Do as a Task without allocating a closure.
type convCall struct {
	x, y                *tensor.Tensor // input and output of the loop
	i0, b, h, w, oh, ow int
	col                 []float32
	threads             int // GEMM threads per image
}

// convForward, convInputGrad and col2imTask are Conv2d seen as the Task of
// one loop each.
type (
	convForward   Conv2d
	convInputGrad Conv2d
	col2imTask    Conv2d
)

func (t *convForward) Run(i0, i1 int)   { (*Conv2d)(t).forwardImages(i0, i1) }
func (t *convInputGrad) Run(i0, i1 int) { (*Conv2d)(t).inputGradImages(i0, i1) }
func (t *col2imTask) Run(c0, c1 int)    { (*Conv2d)(t).col2imChannels(c0, c1) }

// directForward and directInputGrad are the loops over images of the
// direct kernels.
type (
	directForward   Conv2d
	directInputGrad Conv2d
)

func (t *directForward) Run(i0, i1 int)   { (*Conv2d)(t).directImages(&t.fwdPlan, i0, i1, false) }
func (t *directInputGrad) Run(i0, i1 int) { (*Conv2d)(t).directImages(&t.gradPlan, i0, i1, true) }

// useDirect reports whether this convolution runs on the direct kernels
// (package direct) for maps of hw pixels: 3x3, stride 1, padding 1, on a
// CPU and build that have them. They read the image in place instead of
// gathering patches for a GEMM. Their tiles are 32 pixels of one image, so
// maps that would leave more than an eighth of the last tile's lanes idle
// (VGG's 4x4 and 2x2 stages) stay on the GEMM route, which batches images.
// EVOPRUNE_CONV=gemm turns them off.
func (l *Conv2d) useDirect(hw int) bool {
	return directEnabled && l.Cfg.Kernel == 3 && l.Cfg.Stride == 1 && l.Cfg.Pad == 1 && direct.Available() &&
		(hw+31)/32*32*8 <= hw*9
}

// maxDirectWeightGrad is the widest layer (channels) whose weight gradient
// the direct kernels compute.
const maxDirectWeightGrad = 64

// directEnabled lets tests compare the direct and the GEMM route.
var directEnabled = true

// directWorkspaces hold the padded image copies of the goroutines running
// direct kernels.
var directWorkspaces = sync.Pool{New: func() any { return new(direct.Workspace) }}

// directImages runs plan on images [i0, i1) of l.cur.x into l.cur.y: the
// forward pass (bias first, then the sum added to it) or, with
// accumulate, the input gradient added to dx.
func (l *Conv2d) directImages(plan *direct.Plan, i0, i1 int, accumulate bool) {
	ws := directWorkspaces.Get().(*direct.Workspace)
	defer directWorkspaces.Put(ws)
	x, y := l.cur.x, l.cur.y
	inN, outN := plan.InC*plan.H*plan.W, plan.OutC*plan.H*plan.W
	hw := plan.H * plan.W
	for img := i0; img < i1; img++ {
		out := y.Data[img*outN : (img+1)*outN]
		acc := accumulate
		if !accumulate && l.B != nil {
			for c, bv := range l.B.Value.Data {
				row := out[c*hw : (c+1)*hw]
				for i := range row {
					row[i] = bv
				}
			}
			acc = true
		}
		plan.Run(ws, x.Data[img*inN:(img+1)*inN], out, acc)
		if !accumulate && l.after != nil {
			l.after.applyImage(img)
		}
	}
}

// runDirect runs plan over the n images of x into y, one image per
// goroutine.
func (l *Conv2d) runDirect(task parallel.Task, x, y *tensor.Tensor, n int) {
	l.cur = convCall{x: x, y: y}
	parallel.Do(n, 1, task)
}

// colBudget bounds (in float32s) the workspaces of batched products: the
// gathered output gradient and the dcol matrix of a chunk of images.
const colBudget = 1 << 22

// patches is the im2col matrix of images [i0, i0+b) of x as a blas.Source:
// row (c*K+ky)*K+kx, column img*oh*ow + oy*ow + ox holds
// x[i0+img, c, oy*s-p+ky, ox*s-p+kx] (0 outside the image).
type patches struct {
	x                        []float32
	c, h, w, k, s, p, oh, ow int
	i0, b                    int
}

func (q *patches) Rows() int { return q.c * q.k * q.k }
func (q *patches) Cols() int { return q.b * q.oh * q.ow }

// Block implements blas.Source. It walks the block's columns output row by
// output row (no division per element) and copies each row's valid span of
// input pixels, zeroing what falls in the padding.
func (q *patches) Block(r0, nr, c0, nc int, dst []float32, ld int) {
	if q.s == 1 && q.oh == q.h && q.ow == q.w {
		q.blockSame(r0, nr, c0, nc, dst, ld)
		return
	}
	generalBlock(q, r0, nr, c0, nc, dst, ld)
}

// generalBlock is Block for any stride and padding.
func generalBlock(q *patches, r0, nr, c0, nc int, dst []float32, ld int) {
	ohw := q.oh * q.ow
	kk := q.k * q.k
	img0, pos0 := c0/ohw, c0%ohw
	oy0, ox00 := pos0/q.ow, pos0%q.ow
	for r := r0; r < r0+nr; r++ {
		ch, rem := r/kk, r%kk
		ky, kx := rem/q.k, rem%q.k
		lo, hi := validRange(q.ow, q.w, q.s, q.p, kx)
		row := dst[(r-r0)*ld : (r-r0)*ld+nc]
		img, oy, ox0 := img0, oy0, ox00
		for j := 0; j < nc; {
			run := min(q.ow-ox0, nc-j)
			d := row[j : j+run]
			iy := oy*q.s - q.p + ky
			a, b := max(lo, ox0), min(hi, ox0+run)
			if iy < 0 || iy >= q.h || a >= b {
				zero(d)
			} else {
				zero(d[:a-ox0])
				zero(d[b-ox0:])
				src := q.x[((q.i0+img)*q.c+ch)*q.h*q.w+iy*q.w:]
				if q.s == 1 {
					copy(d[a-ox0:b-ox0], src[a-q.p+kx:])
				} else {
					dd := d[a-ox0 : b-ox0]
					ss := src[a*q.s-q.p+kx:]
					ss = ss[:(len(dd)-1)*q.s+1] // one bounds check for the run
					for i := range dd {
						dd[i] = ss[i*q.s]
					}
				}
			}
			j += run
			ox0 = 0
			if oy++; oy == q.oh {
				oy, img = 0, img+1
			}
		}
	}
}

// blockSame is Block for the common stride-1 "same" convolution (output map
// as large as the input). There, patch row (c, ky, kx) is the input plane
// shifted by d = (ky-p)*w + (kx-p): one contiguous copy per image, clamped
// to the plane (which zeroes the rows above and below it), followed by
// zeroing the |kx-p| columns of each row that fall off its left or right edge.
func (q *patches) blockSame(r0, nr, c0, nc int, dst []float32, ld int) {
	hw, w := q.h*q.w, q.w
	kk := q.k * q.k
	for r := r0; r < r0+nr; r++ {
		ch, rem := r/kk, r%kk
		ky, kx := rem/q.k, rem%q.k
		off := (ky-q.p)*w + (kx - q.p)
		row := dst[(r-r0)*ld : (r-r0)*ld+nc]
		for j := c0; j < c0+nc; {
			img, pa := j/hw, j%hw
			pb := min(hw, pa+c0+nc-j)
			d := row[j-c0 : j-c0+pb-pa]
			plane := q.x[((q.i0+img)*q.c+ch)*hw : ((q.i0+img)*q.c+ch+1)*hw]
			lo, hi := max(pa, -off), min(pb, hw-off)
			if lo >= hi {
				zero(d)
			} else {
				zero(d[:lo-pa])
				copy(d[lo-pa:hi-pa], plane[lo+off:hi+off])
				clear(d[hi-pa:])
			}
			if kx != q.p {
				// Columns x with x+kx-p outside [0, w) read across a row edge.
				x0, x1 := 0, q.p-kx // left edge when kx < p
				if kx > q.p {
					x0, x1 = w-(kx-q.p), w
				}
				if x1-x0 == 1 {
					// One column per row (3x3 kernels): a strided store.
					i := (pa/w)*w + x0 - pa
					if i < 0 {
						i += w
					}
					for ; i < len(d); i += w {
						d[i] = 0
					}
				} else {
					for t := (pa / w) * w; t < pb; t += w {
						a, b := max(t+x0, pa), min(t+x1, pb)
						if a < b {
							zero(d[a-pa : b-pa])
						}
					}
				}
			}
			j += pb - pa
		}
	}
}

// zero clears a short slice inline (padding spans are a pixel or two,
// where a call to the runtime's memclr costs more than the stores).
func zero(d []float32) {
	if len(d) > 8 {
		clear(d)
		return
	}
	for i := range d {
		d[i] = 0
	}
}

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

// chunk returns how many images a batched product takes at once, so that
// neither the gathered output gradient (OutC rows) nor a dcol matrix
// (InC*K*K rows) of the chunk exceeds colBudget.
func (l *Conv2d) chunk(n, ohw int) int {
	rows := max(l.Cfg.OutC, l.Cfg.InC*l.Cfg.Kernel*l.Cfg.Kernel)
	return max(1, min(n, colBudget/(rows*ohw)))
}

func grow(buf []float32, n int) []float32 {
	if cap(buf) < n {
		return make([]float32, n)
	}
	return buf[:n]
}

// perImage decides how to use the threads for n independent per-image
// products: one image per thread with single-threaded GEMMs when there are
// enough images, otherwise images in turn with multi-threaded GEMMs. The
// results are the same either way.
func perImage(n int) (parallelImages bool, gemmThreads int) {
	if procs := runtime.GOMAXPROCS(0); procs > 1 && n >= procs {
		return true, 1
	}
	return false, 0
}

// minPerImage is the smallest output map (pixels) computed image by image;
// smaller maps (VGG's last stages are 2x2) would give GEMMs too narrow to
// run well, so their images are batched into one product and scattered.
const minPerImage = 128

// Forward implements Layer.
func (l *Conv2d) Forward(ctx *Context, in []*tensor.Tensor, out *tensor.Tensor) {
	x := in[0]
	n, h, w := x.Shape[0], x.Shape[2], x.Shape[3]
	oh, ow := l.outHW(h, w)
	if l.useDirect(h * w) {
		if err := l.fwdPlan.Reset(l.Cfg.InC, l.Cfg.OutC, h, w); err != nil {
			panic(fmt.Sprintf("nn: conv %+v on %dx%d maps: %v", l.Cfg, h, w, err))
		}
		l.fwdPlan.Pack(l.Weight.Value.Data)
		l.runDirect((*directForward)(l), x, out, n)
		return
	}
	if oh*ow < minPerImage {
		l.forwardBatched(ctx, x, out, h, w, oh, ow)
		return
	}
	par, threads := perImage(n)
	l.ensureSources(n)
	l.cur = convCall{x: x, y: out, h: h, w: w, oh: oh, ow: ow, threads: threads}
	if par {
		parallel.Do(n, 1, (*convForward)(l))
	} else {
		l.forwardImages(0, n)
	}
}

// forwardBatched computes chunks of images as one product
// out2d[oc, img*ohw+p] = W * patches and scatters it into NCHW.
func (l *Conv2d) forwardBatched(ctx *Context, x, out *tensor.Tensor, h, w, oh, ow int) {
	n := x.Shape[0]
	ohw := oh * ow
	kdim := l.Cfg.InC * l.Cfg.Kernel * l.Cfg.Kernel
	oc := l.Cfg.OutC
	l.ensureSources(1)
	for i0 := 0; i0 < n; i0 += l.chunk(n, ohw) {
		b := min(l.chunk(n, ohw), n-i0)
		cols := b * ohw
		out2d := ctx.Scratch().Get(1, oc*cols)
		src := l.source(0)
		*src = patches{x: x.Data, c: l.Cfg.InC, h: h, w: w, k: l.Cfg.Kernel, s: l.Cfg.Stride, p: l.Cfg.Pad,
			oh: oh, ow: ow, i0: i0, b: b}
		blas.SgemmSource(0, false, false, oc, cols, kdim, 1, l.Weight.Value.Data, kdim, src, 0, out2d, cols)
		for img := 0; img < b; img++ {
			dst := out.Data[(i0+img)*oc*ohw:]
			for c := 0; c < oc; c++ {
				srow := out2d[c*cols+img*ohw : c*cols+img*ohw+ohw]
				d := dst[c*ohw : c*ohw+ohw]
				if l.B != nil {
					vec.ScaleShift(d, srow, 1, l.B.Value.Data[c]) // v*1 + b = v + b exactly
				} else {
					copy(d, srow)
				}
			}
			if l.after != nil {
				l.after.applyImage(i0 + img)
			}
		}
	}
}

func (l *Conv2d) forwardImages(i0, i1 int) {
	x, out := l.cur.x, l.cur.y
	h, w, oh, ow := l.cur.h, l.cur.w, l.cur.oh, l.cur.ow
	ohw := oh * ow
	kdim := l.Cfg.InC * l.Cfg.Kernel * l.Cfg.Kernel
	oc := l.Cfg.OutC
	for img := i0; img < i1; img++ {
		src := l.source(img)
		*src = patches{x: x.Data, c: l.Cfg.InC, h: h, w: w, k: l.Cfg.Kernel, s: l.Cfg.Stride, p: l.Cfg.Pad,
			oh: oh, ow: ow, i0: img, b: 1}
		y := out.Data[img*oc*ohw : (img+1)*oc*ohw]
		beta := float32(0)
		if l.B != nil {
			for c, bv := range l.B.Value.Data {
				row := y[c*ohw : (c+1)*ohw]
				for i := range row {
					row[i] = bv
				}
			}
			beta = 1
		}
		blas.SgemmSource(l.cur.threads, false, false, oc, ohw, kdim, 1, l.Weight.Value.Data, kdim, src, beta, y, ohw)
		if l.after != nil {
			l.after.applyImage(img)
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
	l.inHW = h * w
	// The direct weight gradient beats the GEMM on narrow layers (2x on
	// ResNet's 16-channel stage) but not on wide ones (VGG's 128 channels:
	// 62-78 against 72-86 GFLOPS, go test ./nn -bench 'Conv/.*/weights'
	// with and without EVOPRUNE_CONV=gemm), where the GEMM's larger tiles
	// reuse each load more.
	inPlace := false
	if l.useDirect(h*w) && max(l.Cfg.InC, oc) <= maxDirectWeightGrad {
		ok, err := l.wgrad.Reset(l.Cfg.InC, oc, h, w)
		if err != nil {
			panic(fmt.Sprintf("nn: conv %+v on %dx%d maps: %v", l.Cfg, h, w, err))
		}
		inPlace = ok
	}
	if inPlace {
		// dW from the images in place; db summed straight from dout.
		l.wgrad.Add(x.Data, dout.Data, n, l.Weight.Grad.Data)
		if l.B != nil {
			g := l.B.Grad.Data
			for img := 0; img < n; img++ {
				for c := 0; c < oc; c++ {
					var s float32
					for _, v := range dout.Data[(img*oc+c)*ohw : (img*oc+c+1)*ohw] {
						s += v
					}
					g[c] += s
				}
			}
		}
	}
	// dW += dout2d * patches^T, dout gathered into [oc][img*ohw+p] per chunk.
	for i0 := 0; i0 < n && !inPlace; i0 += l.chunk(n, ohw) {
		b := min(l.chunk(n, ohw), n-i0)
		cols := b * ohw
		dout2d := ctx.Scratch().Get(1, oc*cols)
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
		l.ensureSources(1)
		src := l.source(0)
		*src = patches{x: x.Data, c: l.Cfg.InC, h: h, w: w, k: l.Cfg.Kernel, s: l.Cfg.Stride, p: l.Cfg.Pad,
			oh: oh, ow: ow, i0: i0, b: b}
		blas.SgemmSource(0, false, true, oc, kdim, cols, 1, dout2d, cols, src, 1, l.Weight.Grad.Data, kdim)
		if din[0] != nil && !l.flipPath() {
			// dcol = W^T * dout2d, folded back onto the input.
			dcol := ctx.Scratch().Get(0, kdim*cols)
			blas.Sgemm(true, false, kdim, cols, oc, 1, l.Weight.Value.Data, kdim, dout2d, cols, 0, dcol, cols)
			l.col2im(dcol, din[0], i0, b, h, w, oh, ow)
		}
	}
	if din[0] == nil || !l.flipPath() {
		return
	}
	// Stride 1: dx is dout convolved with the filters flipped in space and
	// with in/out channels swapped, padded by K-1-p: a forward convolution,
	// image by image, accumulated into dx.
	k := l.Cfg.Kernel
	inC := l.Cfg.InC
	l.flipped = grow(l.flipped, l.Weight.Value.Len())
	wv := l.Weight.Value.Data
	for co := 0; co < oc; co++ {
		for ci := 0; ci < inC; ci++ {
			for ky := 0; ky < k; ky++ {
				for kx := 0; kx < k; kx++ {
					l.flipped[((ci*oc+co)*k+ky)*k+kx] = wv[((co*inC+ci)*k+k-1-ky)*k+k-1-kx]
				}
			}
		}
	}
	if l.useDirect(h * w) {
		if err := l.gradPlan.Reset(oc, inC, h, w); err != nil {
			panic(fmt.Sprintf("nn: conv %+v on %dx%d maps: %v", l.Cfg, h, w, err))
		}
		l.gradPlan.Pack(l.flipped)
		l.runDirect((*directInputGrad)(l), dout, din[0], n)
		return
	}
	par, threads := perImage(n)
	l.ensureSources(n)
	l.cur = convCall{x: dout, y: din[0], h: h, w: w, oh: oh, ow: ow, threads: threads}
	if par {
		parallel.Do(n, 1, (*convInputGrad)(l))
	} else {
		l.inputGradImages(0, n)
	}
}

// flipPath reports whether dx is computed as a forward convolution of dout
// (stride 1 "same" convolutions, where that convolution has the forward
// pass's size); otherwise through dcol and col2im. A "valid" convolution
// (LeNet's, no padding) would need a full convolution of dout padded by
// K-1 on every side: more multiply-adds than dcol (K*K*OutC per input
// pixel against K*K*InC*oh*ow/(h*w)) and patches mostly of padding.
func (l *Conv2d) flipPath() bool {
	if l.useDirect(l.inHW) {
		return true // the direct kernels take small maps too
	}
	return l.Cfg.Stride == 1 && 2*l.Cfg.Pad == l.Cfg.Kernel-1 && l.inHW >= minPerImage
}

func (l *Conv2d) inputGradImages(i0, i1 int) {
	dout, dx := l.cur.x, l.cur.y
	h, w, oh, ow := l.cur.h, l.cur.w, l.cur.oh, l.cur.ow
	k, oc, inC := l.Cfg.Kernel, l.Cfg.OutC, l.Cfg.InC
	for img := i0; img < i1; img++ {
		src := l.source(img)
		*src = patches{x: dout.Data, c: oc, h: oh, w: ow, k: k, s: 1, p: k - 1 - l.Cfg.Pad, oh: h, ow: w, i0: img, b: 1}
		y := dx.Data[img*inC*h*w : (img+1)*inC*h*w]
		blas.SgemmSource(l.cur.threads, false, false, inC, h*w, oc*k*k, 1, l.flipped, oc*k*k, src, 1, y, h*w)
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
