package nn

import "github.com/evoprune/evoprune/tensor"

// Graph-level fusion of BatchNorm or Add followed by ReLU.
//
// A BatchNorm (or residual Add) whose only consumer is a ReLU is run
// together with it: the
// forward pass writes both outputs in one sweep (so each node's Output()
// still holds that node's own activation), and the backward pass reads the
// ReLU's output gradient, masked where the ReLU was inactive, in place of
// the BatchNorm's output gradient, which is never stored. That saves a full
// pass over the activation forward and three passes (clear, write, read)
// backward. The arithmetic is the unfused layers' own, so results are the
// same as without fusion (up to the sign of zeros). When the caller keeps
// the first node's gradient (Graph.KeepGrad) that pair runs unfused in the
// backward pass, so the gradient is there as documented.

// In eval mode a convolution whose only consumer is a BatchNorm also runs
// that BatchNorm (and its fused ReLU) image by image, right after each
// image's product, while the image is still in cache (Conv2d.after).

// reluFuser is a layer that can run the ReLU reading only its output in
// its own passes.
type reluFuser interface {
	// forwardReLU is Forward that also writes relu = max(out, 0).
	forwardReLU(ctx *Context, in []*tensor.Tensor, out, relu *tensor.Tensor)
	// backwardReLU is Backward with the layer's output gradient taken as
	// drelu where relu > 0 (vec.Mask), never stored.
	backwardReLU(ctx *Context, in []*tensor.Tensor, relu, drelu *tensor.Tensor, din []*tensor.Tensor)
}

// fusedReLU returns, for every node, the index of the ReLU node fused into
// it (0 for none), computing it when the graph changed.
func (g *Graph) fusedReLU() []int {
	if len(g.fuse) == len(g.Nodes) {
		return g.fuse
	}
	g.fuse = make([]int, len(g.Nodes))
	g.fusedInto = make([]bool, len(g.Nodes))
	g.chain, g.chained = make([]int, len(g.Nodes)), make([]bool, len(g.Nodes))
	if g.noFusion {
		return g.fuse
	}
	g.chain = make([]int, len(g.Nodes))
	g.chained = make([]bool, len(g.Nodes))
	for _, n := range g.Nodes[1:] {
		// Eval mode: a convolution feeding only a BatchNorm hands it each
		// output image as soon as it is complete.
		if _, ok := n.Layer.(*Conv2d); ok {
			if cons := g.Consumers(n); len(cons) == 1 && len(cons[0].Inputs) == 1 {
				if _, ok := cons[0].Layer.(*BatchNorm); ok {
					g.chain[n.Index] = cons[0].Index
					g.chained[cons[0].Index] = true
				}
			}
		}
		if _, ok := n.Layer.(reluFuser); !ok {
			continue
		}
		cons := g.Consumers(n)
		if len(cons) != 1 || len(cons[0].Inputs) != 1 {
			continue
		}
		if _, ok := cons[0].Layer.(*ReLU); !ok {
			continue
		}
		g.fuse[n.Index] = cons[0].Index
		g.fusedInto[cons[0].Index] = true
	}
	return g.fuse
}

// SetFusion turns the BatchNorm/Add+ReLU fusion on (the default) or off. The
// results are the same either way; off is for tests and measurements.
func (g *Graph) SetFusion(on bool) {
	g.noFusion = !on
	g.fuse, g.fusedInto, g.chain, g.chained = nil, nil, nil, nil
}
