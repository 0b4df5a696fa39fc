package prune

import (
	"math/rand/v2"

	"github.com/evoprune/evoprune/data"
	"github.com/evoprune/evoprune/nn"
	"github.com/evoprune/evoprune/tensor"
)

// RecalibrateBN re-estimates every BatchNorm's running mean and variance
// as plain averages over the batch statistics of images training images
// (drawn with seed), leaving every learnable parameter alone. After channels
// are removed the statistics the network was trained with no longer match
// what the layers see; fresh ones show what the pruned network can do
// before any fine-tuning.
func RecalibrateBN(g *nn.Graph, d *data.Dataset, images int, seed uint64, batch int) error {
	var bns []*nn.BatchNorm
	for _, n := range g.Nodes[1:] {
		if bn, ok := n.Layer.(*nn.BatchNorm); ok {
			bns = append(bns, bn)
		}
	}
	if len(bns) == 0 {
		return nil
	}
	idx, err := Sample{Size: images, Seed: seed, Unbalanced: true}.Indices(d)
	if err != nil {
		return err
	}
	if batch <= 0 {
		batch = 256
	}
	moms := make([]float64, len(bns))
	for i, bn := range bns {
		moms[i] = bn.Cfg.Momentum
		clear(bn.RunningMean.Value.Data)
		for c := range bn.RunningVar.Value.Data {
			bn.RunningVar.Value.Data[c] = 1
		}
	}
	defer func() {
		for i, bn := range bns {
			bn.Cfg.Momentum = moms[i]
		}
	}()
	ctx := &nn.Context{Train: true, Rand: rand.New(rand.NewPCG(seed, 0xb4))}
	x := &tensor.Tensor{}
	for b, i0 := 0, 0; i0 < len(idx); b, i0 = b+1, i0+batch {
		// Momentum 1/(b+1) makes the running value the mean of the b+1
		// batch statistics seen so far.
		for _, bn := range bns {
			bn.Cfg.Momentum = 1 / float64(b+1)
		}
		data.Normalize(d, idx[i0:min(i0+batch, len(idx))], x)
		g.Forward(ctx, x)
	}
	return nil
}
