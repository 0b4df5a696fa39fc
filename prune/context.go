package prune

import (
	"fmt"
	"math/rand/v2"
	"sort"

	"github.com/evoprune/evoprune/data"
	"github.com/evoprune/evoprune/nn"
	"github.com/evoprune/evoprune/tensor"
)

// Sample chooses the training images whose feature maps score channels.
type Sample struct {
	// Size is the number of images (default 500).
	Size int `json:"size"`
	// Unbalanced draws images uniformly instead of the same number per class.
	Unbalanced bool `json:"unbalanced,omitempty"`
	// Seed drives the draw.
	Seed uint64 `json:"seed"`
	// Batch is the forward batch size (default 128).
	Batch int `json:"batch,omitempty"`
}

// Indices draws the sample from d: Size images, as many per class as the
// classes allow (the first Size mod classes classes get one more), in the
// order of a seeded shuffle, so the same seed always gives the same images.
func (s Sample) Indices(d *data.Dataset) ([]int, error) {
	size := s.Size
	if size <= 0 {
		size = 500
	}
	if d == nil || d.N == 0 {
		return nil, fmt.Errorf("scoring sample: empty dataset")
	}
	size = min(size, d.N)
	rng := rand.New(rand.NewPCG(s.Seed, 0x5ca1ab1e))
	perm := rng.Perm(d.N)
	if s.Unbalanced {
		idx := append([]int(nil), perm[:size]...)
		sort.Ints(idx)
		return idx, nil
	}
	byClass := make([][]int, d.Classes)
	for _, i := range perm {
		c := d.Labels[i]
		byClass[c] = append(byClass[c], i)
	}
	var idx []int
	// Round-robin over classes until the sample is full, so a class with
	// few images gives what it has and the others make up the rest.
	for round := 0; len(idx) < size; round++ {
		added := false
		for c := range byClass {
			if round < len(byClass[c]) && len(idx) < size {
				idx = append(idx, byClass[c][round])
				added = true
			}
		}
		if !added {
			break
		}
	}
	sort.Ints(idx)
	return idx, nil
}

// Context is what a criterion may use to score one group's channels.
type Context struct {
	Group *Group
	// Features are the tap's feature maps, [N][C][D] row-major (D = H*W,
	// 1 for a fully connected layer); nil when the criterion needs none.
	Features []float32
	N, C, D  int
	Labels   []int
	Classes  int
	// Weights is the bank that describes the channels, in PyTorch layout
	// with the channel axis first: the producer's [C, Cin, kh, kw] (or
	// [C, In]) for an Output group, the reading conv's weights with in and
	// out swapped, [C, Cout, kh, kw], for an Input group.
	Weights []float32
	WShape  []int
	// Gamma and Beta are the BatchNorm scale and shift of an Output group's
	// channels (nil without one).
	Gamma, Beta []float32
	// Grads are the loss gradients of the features, laid out like them;
	// only when the criterion asks.
	Grads []float32
	// Seed is for criteria that draw (random).
	Seed uint64
}

// weights returns a group's descriptive filter bank, channel axis first.
func weights(grp *Group) ([]float32, []int) {
	switch l := grp.Layer.Layer.(type) {
	case *nn.Conv2d:
		w, k := l.Weight.Value.Data, l.Cfg.Kernel
		if grp.Kind == Output {
			return w, []int{l.Cfg.OutC, l.Cfg.InC, k, k}
		}
		t := make([]float32, len(w))
		k2 := k * k
		for o := 0; o < l.Cfg.OutC; o++ {
			for i := 0; i < l.Cfg.InC; i++ {
				copy(t[(i*l.Cfg.OutC+o)*k2:(i*l.Cfg.OutC+o+1)*k2], w[(o*l.Cfg.InC+i)*k2:])
			}
		}
		return t, []int{l.Cfg.InC, l.Cfg.OutC, k, k}
	case *nn.Linear:
		return l.Weight.Value.Data, []int{l.Cfg.Out, l.Cfg.In}
	}
	return nil, nil
}

// newContext fills the parts of a context that need no forward pass.
func newContext(grp *Group, seed uint64) *Context {
	c := &Context{Group: grp, C: grp.Channels, Seed: seed}
	c.Weights, c.WShape = weights(grp)
	if grp.Norm != nil {
		bn := grp.Norm.Layer.(*nn.BatchNorm)
		c.Gamma, c.Beta = bn.Gamma.Value.Data, bn.Beta.Value.Data
	}
	return c
}

// collect runs the sample through g in evaluation mode and fills the
// features (and, with grads, the loss gradients) of every context's tap.
// Taps of several groups are collected in one pass.
func collect(g *nn.Graph, d *data.Dataset, idx []int, batch int, ctxs []*Context, grads bool) error {
	if batch <= 0 {
		batch = 128
	}
	n := len(idx)
	labels := make([]int, n)
	for i, j := range idx {
		labels[i] = int(d.Labels[j])
	}
	for _, c := range ctxs {
		tap := c.Group.Tap
		if tap.Channels() != c.C {
			return fmt.Errorf("group %s: tap %s has %d channels, the group %d", c.Group.Name, tap.Name, tap.Channels(), c.C)
		}
		c.N, c.D = n, tensor.Numel(tap.Shape[1:])
		c.Labels, c.Classes = labels, d.Classes
		c.Features = make([]float32, n*c.C*c.D)
		if grads {
			c.Grads = make([]float32, n*c.C*c.D)
			g.KeepGrad(tap, true)
		}
	}
	defer func() {
		for _, c := range ctxs {
			g.KeepGrad(c.Group.Tap, false)
		}
	}()
	ctx := &nn.Context{}
	x := &tensor.Tensor{}
	dlogits := &tensor.Tensor{}
	for i0 := 0; i0 < n; i0 += batch {
		part := idx[i0:min(i0+batch, n)]
		data.Normalize(d, part, x)
		logits := g.Forward(ctx, x)
		if grads {
			// The loss is the mean cross-entropy over the whole sample, so
			// gradients do not depend on how it is cut into batches.
			dlogits.Resize(logits.Shape...)
			y := make([]int32, len(part))
			for i, j := range part {
				y[i] = d.Labels[j]
			}
			nn.SoftmaxCrossEntropy(logits, y, dlogits)
			scale := float32(len(part)) / float32(n)
			for i := range dlogits.Data {
				dlogits.Data[i] *= scale
			}
			g.Backward(ctx, dlogits, false)
		}
		for _, c := range ctxs {
			per := c.C * c.D
			copy(c.Features[i0*per:(i0+len(part))*per], c.Group.Tap.Output().Data)
			if grads {
				copy(c.Grads[i0*per:(i0+len(part))*per], c.Group.Tap.Grad().Data)
			}
		}
	}
	if grads {
		g.ZeroGrad()
	}
	for _, c := range ctxs {
		if !tensor.AllFinite(c.Features) {
			return fmt.Errorf("group %s: the feature maps at %s are not finite", c.Group.Name, c.Group.Tap.Name)
		}
	}
	return nil
}
