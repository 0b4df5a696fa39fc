package nn

import (
	"fmt"
	"math"

	"github.com/evoprune/evoprune/internal/parallel"
	"github.com/evoprune/evoprune/internal/vec"
	"github.com/evoprune/evoprune/tensor"
)

// BatchNormConfig describes batch normalisation over the channel axis.
// It serves both BatchNorm2d (CxHxW inputs) and BatchNorm1d (C inputs).
type BatchNormConfig struct {
	C        int     `json:"channels"`
	Eps      float64 `json:"eps"`
	Momentum float64 `json:"momentum"`
}

// BatchNorm normalises each channel with the batch's statistics in training
// (updating running averages the way PyTorch does: running = (1-m)*running +
// m*batch, with the unbiased variance) and with the running ones in eval.
type BatchNorm struct {
	Cfg                     BatchNormConfig
	Gamma, Beta             *Param
	RunningMean, RunningVar *Param

	mean           []float32 // per-channel mean used by the last forward
	invStd         []float64
	usedBatchStats bool
	x, y, dy, dx   *tensor.Tensor // arguments of the parallel loop in flight
	// z and dz are the output and output gradient of a ReLU fused with this
	// layer by the graph (nil otherwise): the forward pass writes
	// z = max(y, 0) in the same sweep as y, and the backward pass reads
	// dy = dz where z > 0 without storing it (see fuse.go).
	z, dz *tensor.Tensor
	// scaleEval and shiftEval are the per-channel constants of an
	// image-by-image eval pass (prepareEval).
	scaleEval, shiftEval []float32
}

// bnForward and bnBackward are BatchNorm seen as the Task of one loop each;
// channels are independent, so they are spread over threads.
type (
	bnForward  BatchNorm
	bnBackward BatchNorm
)

func (t *bnForward) Run(c0, c1 int)  { (*BatchNorm)(t).forwardChannels(c0, c1) }
func (t *bnBackward) Run(c0, c1 int) { (*BatchNorm)(t).backwardChannels(c0, c1) }

func init() {
	register("batchnorm", NewBatchNorm)
}

// NewBatchNorm returns a BatchNorm with gamma 1, beta 0, running mean 0 and
// running variance 1. Eps defaults to 1e-5 and momentum to 0.1.
func NewBatchNorm(c BatchNormConfig) (Layer, error) {
	if c.Eps == 0 {
		c.Eps = 1e-5
	}
	if c.Momentum == 0 {
		c.Momentum = 0.1
	}
	if c.C <= 0 || c.Eps < 0 || c.Momentum < 0 || c.Momentum > 1 {
		return nil, fmt.Errorf("batchnorm: invalid configuration %+v", c)
	}
	l := &BatchNorm{Cfg: c,
		Gamma: newParam("weight", c.C), Beta: newParam("bias", c.C),
		RunningMean: newBuffer("running_mean", c.C), RunningVar: newBuffer("running_var", c.C)}
	for i := range l.Gamma.Value.Data {
		l.Gamma.Value.Data[i] = 1
		l.RunningVar.Value.Data[i] = 1
	}
	return l, nil
}

// Kind implements Layer.
func (l *BatchNorm) Kind() string { return "batchnorm" }

// Config implements Layer.
func (l *BatchNorm) Config() any { return l.Cfg }

// Params implements Layer.
func (l *BatchNorm) Params() []*Param {
	return []*Param{l.Gamma, l.Beta, l.RunningMean, l.RunningVar}
}

// MACs implements Layer: normalisation is not counted as MACs.
func (l *BatchNorm) MACs([][]int) int64 { return 0 }

// OutShape implements Layer.
func (l *BatchNorm) OutShape(in [][]int) ([]int, error) {
	s, err := oneInput("batchnorm", in)
	if err != nil {
		return nil, err
	}
	if (len(s) != 1 && len(s) != 3) || s[0] != l.Cfg.C {
		return nil, fmt.Errorf("batchnorm over %d channels cannot take a %s input", l.Cfg.C, tensor.ShapeString(s))
	}
	return s, nil
}

// spatial returns batch size and values per channel per sample.
func spatial(x *tensor.Tensor) (n, c, hw int) {
	n, c = x.Shape[0], x.Shape[1]
	return n, c, x.Len() / (n * c)
}

// Forward implements Layer.
func (l *BatchNorm) Forward(ctx *Context, in []*tensor.Tensor, out *tensor.Tensor) {
	x := in[0]
	_, c, _ := spatial(x)
	if cap(l.invStd) < c {
		l.invStd = make([]float64, c)
		l.mean = make([]float32, c)
	}
	l.invStd, l.mean = l.invStd[:c], l.mean[:c]
	l.usedBatchStats = ctx.Train
	l.x, l.y = x, out
	parallel.Do(c, 1, (*bnForward)(l))
}

// forwardReLU is Forward that also writes relu = max(out, 0), the output
// of a ReLU reading only this layer, in the same sweep over memory.
func (l *BatchNorm) forwardReLU(ctx *Context, in []*tensor.Tensor, out, relu *tensor.Tensor) {
	l.z = relu
	l.Forward(ctx, in, out)
	l.z = nil
}

func (l *BatchNorm) forwardChannels(c0, c1 int) {
	x, out := l.x, l.y
	n, c, hw := spatial(x)
	m := n * hw
	ctxTrain := l.usedBatchStats
	for ch := c0; ch < c1; ch++ {
		var mean, variance float64
		if ctxTrain {
			var s float64
			for i := 0; i < n; i++ {
				s += vec.Sum64(x.Data[(i*c+ch)*hw : (i*c+ch+1)*hw])
			}
			mean = s / float64(m)
			var ss float64
			for i := 0; i < n; i++ {
				ss += vec.SumSqDev64(x.Data[(i*c+ch)*hw:(i*c+ch+1)*hw], mean)
			}
			variance = ss / float64(m)
			mom := l.Cfg.Momentum
			unbiased := variance
			if m > 1 {
				unbiased = ss / float64(m-1)
			}
			rm, rv := &l.RunningMean.Value.Data[ch], &l.RunningVar.Value.Data[ch]
			*rm = float32((1-mom)*float64(*rm) + mom*mean)
			*rv = float32((1-mom)*float64(*rv) + mom*unbiased)
		} else {
			mean = float64(l.RunningMean.Value.Data[ch])
			variance = float64(l.RunningVar.Value.Data[ch])
		}
		scale, shift := l.constants(ch, mean, variance)
		for i := 0; i < n; i++ {
			off := (i*c + ch) * hw
			src := x.Data[off : off+hw]
			dst := out.Data[off : off+hw]
			if l.z == nil {
				vec.ScaleShift(dst, src, scale, shift)
			} else {
				vec.ScaleShiftReLU(dst, l.z.Data[off:off+hw], src, scale, shift)
			}
		}
	}
}

// constants records channel ch's mean and inverse deviation for the
// backward pass and returns the scale and shift of its output: y =
// gamma*(x-mean)*inv + beta folded into one multiply-add per element, the
// constants computed in float64.
func (l *BatchNorm) constants(ch int, mean, variance float64) (scale, shift float32) {
	inv := 1 / math.Sqrt(variance+l.Cfg.Eps)
	l.invStd[ch] = inv
	l.mean[ch] = float32(mean)
	g, b := float64(l.Gamma.Value.Data[ch]), float64(l.Beta.Value.Data[ch])
	return float32(g * inv), float32(b - mean*g*inv)
}

// prepareEval readies an eval-mode pass of x into out (and relu =
// max(out, 0) when relu is not nil) done image by image with applyImage,
// as the producer of x finishes each image (Graph.Forward chains a
// convolution and its BatchNorm so, while the image is still in cache).
// The constants and arithmetic are Forward's own; finishEval ends it.
func (l *BatchNorm) prepareEval(x, out, relu *tensor.Tensor) {
	c := x.Shape[1]
	if cap(l.invStd) < c {
		l.invStd = make([]float64, c)
		l.mean = make([]float32, c)
	}
	l.invStd, l.mean = l.invStd[:c], l.mean[:c]
	l.scaleEval, l.shiftEval = grow(l.scaleEval, c), grow(l.shiftEval, c)
	l.usedBatchStats = false
	l.x, l.y, l.z = x, out, relu
	for ch := 0; ch < c; ch++ {
		l.scaleEval[ch], l.shiftEval[ch] = l.constants(ch,
			float64(l.RunningMean.Value.Data[ch]), float64(l.RunningVar.Value.Data[ch]))
	}
}

// applyImage normalises image img of a pass set up by prepareEval.
func (l *BatchNorm) applyImage(img int) {
	_, c, hw := spatial(l.x)
	for ch := 0; ch < c; ch++ {
		off := (img*c + ch) * hw
		src, dst := l.x.Data[off:off+hw], l.y.Data[off:off+hw]
		if l.z == nil {
			vec.ScaleShift(dst, src, l.scaleEval[ch], l.shiftEval[ch])
		} else {
			vec.ScaleShiftReLU(dst, l.z.Data[off:off+hw], src, l.scaleEval[ch], l.shiftEval[ch])
		}
	}
}

// finishEval ends a pass begun by prepareEval.
func (l *BatchNorm) finishEval() { l.z = nil }

// Backward implements Layer. With batch statistics the mean and variance
// depend on the input, giving the familiar
// dx = gamma*invstd/M * (M*dy - sum(dy) - xhat*sum(dy*xhat)).
func (l *BatchNorm) Backward(ctx *Context, in []*tensor.Tensor, out, dout *tensor.Tensor, din []*tensor.Tensor) {
	l.x, l.dy, l.dx = in[0], dout, din[0]
	parallel.Do(dout.Shape[1], 1, (*bnBackward)(l))
}

// backwardReLU is Backward for this layer followed by a ReLU with output
// relu and output gradient drelu: the layer's own output gradient,
// drelu where relu > 0, is read on the fly instead of being stored.
func (l *BatchNorm) backwardReLU(_ *Context, in []*tensor.Tensor, relu, drelu *tensor.Tensor, din []*tensor.Tensor) {
	l.x, l.z, l.dz, l.dx = in[0], relu, drelu, din[0]
	parallel.Do(in[0].Shape[1], 1, (*bnBackward)(l))
	l.z, l.dz = nil, nil
}

func (l *BatchNorm) backwardChannels(c0, c1 int) {
	if l.dz != nil {
		l.backwardChannelsReLU(c0, c1)
		return
	}
	dout := l.dy
	n, c, hw := spatial(dout)
	m := float64(n * hw)
	for ch := c0; ch < c1; ch++ {
		// The normalised input is recomputed rather than stored: the same
		// float32 formula as the forward pass gives the same values.
		mf, invf := l.mean[ch], float32(l.invStd[ch])
		var sdy, sdyx float64
		for i := 0; i < n; i++ {
			off := (i*c + ch) * hw
			a, b := vec.SumDyXhat64(dout.Data[off:off+hw], l.x.Data[off:off+hw], mf, invf)
			sdy += a
			sdyx += b
		}
		l.Gamma.Grad.Data[ch] += float32(sdyx)
		l.Beta.Grad.Data[ch] += float32(sdy)
		if l.dx == nil {
			continue
		}
		g := float64(l.Gamma.Value.Data[ch]) * l.invStd[ch]
		k0, k1 := float32(g), float32(0)
		var k2 float32
		if l.usedBatchStats {
			k1 = float32(g * sdy / m)
			k2 = float32(g * sdyx / m)
		}
		for i := 0; i < n; i++ {
			off := (i*c + ch) * hw
			vec.BNGrad(l.dx.Data[off:off+hw], dout.Data[off:off+hw], l.x.Data[off:off+hw], k0, k1, k2, mf, invf)
		}
	}
}

// backwardChannelsReLU is backwardChannels with the output gradient
// taken as vec.Mask(z, dz); the arithmetic is the same, so the results
// equal those of the unfused pair.
func (l *BatchNorm) backwardChannelsReLU(c0, c1 int) {
	z, dz := l.z, l.dz
	n, c, hw := spatial(dz)
	m := float64(n * hw)
	for ch := c0; ch < c1; ch++ {
		mf, invf := l.mean[ch], float32(l.invStd[ch])
		var sdy, sdyx float64
		for i := 0; i < n; i++ {
			off := (i*c + ch) * hw
			a, b := vec.SumDyXhatReLU64(z.Data[off:off+hw], dz.Data[off:off+hw], l.x.Data[off:off+hw], mf, invf)
			sdy += a
			sdyx += b
		}
		l.Gamma.Grad.Data[ch] += float32(sdyx)
		l.Beta.Grad.Data[ch] += float32(sdy)
		if l.dx == nil {
			continue
		}
		g := float64(l.Gamma.Value.Data[ch]) * l.invStd[ch]
		k0, k1 := float32(g), float32(0)
		var k2 float32
		if l.usedBatchStats {
			k1 = float32(g * sdy / m)
			k2 = float32(g * sdyx / m)
		}
		for i := 0; i < n; i++ {
			off := (i*c + ch) * hw
			vec.BNGradReLU(l.dx.Data[off:off+hw], z.Data[off:off+hw], dz.Data[off:off+hw], l.x.Data[off:off+hw],
				k0, k1, k2, mf, invf)
		}
	}
}
