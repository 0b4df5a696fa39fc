package nn

import (
	"fmt"
	"math"

	"github.com/evoprune/evoprune/internal/parallel"
	"github.com/evoprune/evoprune/internal/vec"
)

// Optimizer updates learnable parameters from their gradients.
type Optimizer interface {
	// Step applies one update with learning rate lr.
	Step(params []NamedParam, lr float64)
	Name() string
}

// SGD is stochastic gradient descent with optional momentum, Nesterov
// momentum and L2 weight decay, with PyTorch's update rule:
// g += wd*p; buf = mu*buf + g; step = nesterov ? g + mu*buf : buf; p -= lr*step.
type SGD struct {
	Momentum, WeightDecay float64
	Nesterov              bool

	vel  map[*Param][]float32
	task sgdTask
}

// sgdTask is the momentum update of one parameter as a parallel.Task.
type sgdTask struct {
	w, g, buf     []float32
	mu, decay, lr float32
}

func (t *sgdTask) Run(lo, hi int) {
	vec.SGDMomentum(t.w[lo:hi], t.g[lo:hi], t.buf[lo:hi], t.mu, t.decay, t.lr)
}

// Name implements Optimizer.
func (o *SGD) Name() string {
	return fmt.Sprintf("sgd(momentum=%g nesterov=%v weight_decay=%g)", o.Momentum, o.Nesterov, o.WeightDecay)
}

// Step implements Optimizer.
func (o *SGD) Step(params []NamedParam, lr float64) {
	if o.vel == nil {
		o.vel = map[*Param][]float32{}
	}
	mu, wd, lr32 := float32(o.Momentum), float32(o.WeightDecay), float32(lr)
	for _, p := range params {
		if !p.Learnable() {
			continue
		}
		w, g := p.Value.Data, p.Grad.Data
		decay := wd
		if p.NoDecay {
			decay = 0
		}
		// The gradient itself is left untouched: the decay term is added on the fly.
		if mu == 0 {
			for i := range w {
				w[i] -= lr32 * (g[i] + decay*w[i])
			}
			continue
		}
		buf, seen := o.vel[p.Param]
		if !seen {
			// PyTorch starts the momentum buffer at the first gradient.
			buf = make([]float32, len(g))
			for i := range buf {
				buf[i] = g[i] + decay*w[i]
			}
			o.vel[p.Param] = buf
		} else if !o.Nesterov {
			// The common case, in one vectorised pass split across
			// threads (element-wise, so the same for any split).
			o.task = sgdTask{w: w, g: g, buf: buf, mu: mu, decay: decay, lr: lr32}
			parallel.Do(len(w), elementGrain, &o.task)
			continue
		} else {
			for i := range buf {
				buf[i] = mu*buf[i] + g[i] + decay*w[i]
			}
		}
		if o.Nesterov {
			for i := range w {
				w[i] -= lr32 * (g[i] + decay*w[i] + mu*buf[i])
			}
		} else {
			for i := range w {
				w[i] -= lr32 * buf[i]
			}
		}
	}
}

// Adam is Kingma & Ba's optimiser with bias correction and coupled L2 weight
// decay, as torch.optim.Adam.
type Adam struct {
	Beta1, Beta2, Eps, WeightDecay float64

	t    int
	m, v map[*Param][]float32
}

// NewAdam returns Adam with the usual betas (0.9, 0.999) and eps 1e-8.
func NewAdam(weightDecay float64) *Adam {
	return &Adam{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: weightDecay}
}

// Name implements Optimizer.
func (o *Adam) Name() string {
	return fmt.Sprintf("adam(betas=%g,%g eps=%g weight_decay=%g)", o.Beta1, o.Beta2, o.Eps, o.WeightDecay)
}

// Step implements Optimizer.
func (o *Adam) Step(params []NamedParam, lr float64) {
	if o.m == nil {
		o.m, o.v = map[*Param][]float32{}, map[*Param][]float32{}
	}
	o.t++
	c1 := 1 - math.Pow(o.Beta1, float64(o.t))
	c2 := 1 - math.Pow(o.Beta2, float64(o.t))
	b1, b2, wd := float32(o.Beta1), float32(o.Beta2), float32(o.WeightDecay)
	stepSize := float32(lr / c1)
	sqrtC2 := float32(math.Sqrt(c2))
	eps := float32(o.Eps)
	for _, p := range params {
		if !p.Learnable() {
			continue
		}
		w, g := p.Value.Data, p.Grad.Data
		m, ok := o.m[p.Param]
		if !ok {
			m = make([]float32, len(w))
			o.m[p.Param] = m
			o.v[p.Param] = make([]float32, len(w))
		}
		v := o.v[p.Param]
		for i := range w {
			gi := g[i]
			if wd != 0 && !p.NoDecay {
				gi += wd * w[i]
			}
			m[i] = b1*m[i] + (1-b1)*gi
			v[i] = b2*v[i] + (1-b2)*gi*gi
			denom := float32(math.Sqrt(float64(v[i])))/sqrtC2 + eps
			w[i] -= stepSize * m[i] / denom
		}
	}
}

// GradNorm returns the global L2 norm of all gradients and the name of the
// first parameter whose gradient is not finite ("" if all are).
func GradNorm(params []NamedParam) (norm float64, nonFinite string) {
	var s float64
	for _, p := range params {
		if !p.Learnable() {
			continue
		}
		ss := 0.0
		for _, g := range p.Grad.Data {
			ss += float64(g) * float64(g)
		}
		if nonFinite == "" && (math.IsNaN(ss) || math.IsInf(ss, 0)) {
			nonFinite = p.Name
		}
		s += ss
	}
	return math.Sqrt(s), nonFinite
}

// ClipGradNorm scales all gradients so their global norm is at most maxNorm
// and returns the norm before clipping.
func ClipGradNorm(params []NamedParam, maxNorm float64) float64 {
	norm, _ := GradNorm(params)
	if norm > maxNorm && norm > 0 {
		k := float32(maxNorm / norm)
		for _, p := range params {
			if p.Learnable() {
				for i := range p.Grad.Data {
					p.Grad.Data[i] *= k
				}
			}
		}
	}
	return norm
}

// State returns the momentum buffers by "momentum.<param>" so a run can be
// resumed exactly.
func (o *SGD) State(params []NamedParam) map[string][]float32 {
	st := map[string][]float32{}
	for _, p := range params {
		if buf, ok := o.vel[p.Param]; ok {
			st["momentum."+p.Name] = buf
		}
	}
	return st
}

// LoadState restores buffers saved by State.
func (o *SGD) LoadState(params []NamedParam, st map[string][]float32) error {
	o.vel = map[*Param][]float32{}
	for _, p := range params {
		if buf, ok := st["momentum."+p.Name]; ok {
			if len(buf) != p.Value.Len() {
				return fmt.Errorf("optimizer state momentum.%s has %d values, parameter has %d", p.Name, len(buf), p.Value.Len())
			}
			o.vel[p.Param] = append([]float32(nil), buf...)
		}
	}
	return nil
}

// State returns Adam's moments by "adam_m.<param>" and "adam_v.<param>"
// and its step count as "adam_t".
func (o *Adam) State(params []NamedParam) map[string][]float32 {
	st := map[string][]float32{"adam_t": {float32(o.t)}}
	for _, p := range params {
		if m, ok := o.m[p.Param]; ok {
			st["adam_m."+p.Name] = m
			st["adam_v."+p.Name] = o.v[p.Param]
		}
	}
	return st
}

// LoadState restores moments saved by State.
func (o *Adam) LoadState(params []NamedParam, st map[string][]float32) error {
	o.m, o.v = map[*Param][]float32{}, map[*Param][]float32{}
	if t, ok := st["adam_t"]; ok && len(t) == 1 {
		o.t = int(t[0])
	}
	for _, p := range params {
		m, okm := st["adam_m."+p.Name]
		v, okv := st["adam_v."+p.Name]
		if !okm || !okv {
			continue
		}
		if len(m) != p.Value.Len() || len(v) != p.Value.Len() {
			return fmt.Errorf("optimizer state for %s has the wrong size", p.Name)
		}
		o.m[p.Param] = append([]float32(nil), m...)
		o.v[p.Param] = append([]float32(nil), v...)
	}
	return nil
}

// Stateful optimisers can save and restore their buffers.
type Stateful interface {
	State(params []NamedParam) map[string][]float32
	LoadState(params []NamedParam, st map[string][]float32) error
}
