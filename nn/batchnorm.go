package nn

import (
	"fmt"
	"math"

	"github.com/evoprune/evoprune/internal/parallel"
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
				s += sum64(x.Data[(i*c+ch)*hw : (i*c+ch+1)*hw])
			}
			mean = s / float64(m)
			var ss float64
			for i := 0; i < n; i++ {
				ss += sumSqDev64(x.Data[(i*c+ch)*hw:(i*c+ch+1)*hw], mean)
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
		inv := 1 / math.Sqrt(variance+l.Cfg.Eps)
		l.invStd[ch] = inv
		g, b := float64(l.Gamma.Value.Data[ch]), float64(l.Beta.Value.Data[ch])
		mf := float32(mean)
		l.mean[ch] = mf
		// y = gamma*(x-mean)*inv + beta folded into one multiply-add per
		// element, the constants computed in float64.
		scale := float32(g * inv)
		shift := float32(b - mean*g*inv)
		for i := 0; i < n; i++ {
			off := (i*c + ch) * hw
			src := x.Data[off : off+hw]
			dst := out.Data[off : off+hw]
			dst = dst[:len(src)]
			for p, v := range src {
				dst[p] = v*scale + shift
			}
		}
	}
}

// Backward implements Layer. With batch statistics the mean and variance
// depend on the input, giving the familiar
// dx = gamma*invstd/M * (M*dy - sum(dy) - xhat*sum(dy*xhat)).
func (l *BatchNorm) Backward(ctx *Context, in []*tensor.Tensor, out, dout *tensor.Tensor, din []*tensor.Tensor) {
	l.x, l.dy, l.dx = in[0], dout, din[0]
	parallel.Do(dout.Shape[1], 1, (*bnBackward)(l))
}

func (l *BatchNorm) backwardChannels(c0, c1 int) {
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
			a, b := sumDyXhat64(dout.Data[off:off+hw], l.x.Data[off:off+hw], mf, invf)
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
			xs := l.x.Data[off : off+hw]
			dx := l.dx.Data[off : off+hw]
			for p, dy := range dout.Data[off : off+hw] {
				dx[p] += k0*dy - k1 - k2*((xs[p]-mf)*invf)
			}
		}
	}
}

// The reductions below keep four independent float64 accumulators: one
// chain of dependent adds would run at one add per FP-add latency (four
// cycles), four chains overlap. The order of the additions is fixed, so
// results stay deterministic.

// sum64 returns the sum of v in float64.
func sum64(v []float32) float64 {
	var a0, a1, a2, a3 float64
	i := 0
	for ; i+4 <= len(v); i += 4 {
		a0 += float64(v[i])
		a1 += float64(v[i+1])
		a2 += float64(v[i+2])
		a3 += float64(v[i+3])
	}
	for ; i < len(v); i++ {
		a0 += float64(v[i])
	}
	return (a0 + a1) + (a2 + a3)
}

// sumSqDev64 returns sum((v - mean)^2) in float64.
func sumSqDev64(v []float32, mean float64) float64 {
	var a0, a1, a2, a3 float64
	i := 0
	for ; i+4 <= len(v); i += 4 {
		d0, d1, d2, d3 := float64(v[i])-mean, float64(v[i+1])-mean, float64(v[i+2])-mean, float64(v[i+3])-mean
		a0 += d0 * d0
		a1 += d1 * d1
		a2 += d2 * d2
		a3 += d3 * d3
	}
	for ; i < len(v); i++ {
		d := float64(v[i]) - mean
		a0 += d * d
	}
	return (a0 + a1) + (a2 + a3)
}

// sumDyXhat64 returns sum(dy) and sum(dy * xhat) with xhat = (x-mean)*inv
// computed in float32 exactly as the forward pass computes it.
func sumDyXhat64(dy, x []float32, mean, inv float32) (sdy, sdyx float64) {
	x = x[:len(dy)]
	var s0, s1, t0, t1 float64
	i := 0
	for ; i+2 <= len(dy); i += 2 {
		g0, g1 := float64(dy[i]), float64(dy[i+1])
		s0 += g0
		s1 += g1
		t0 += g0 * float64((x[i]-mean)*inv)
		t1 += g1 * float64((x[i+1]-mean)*inv)
	}
	for ; i < len(dy); i++ {
		g := float64(dy[i])
		s0 += g
		t0 += g * float64((x[i]-mean)*inv)
	}
	return s0 + s1, t0 + t1
}
