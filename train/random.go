package train

import (
	"math/rand/v2"

	"github.com/evoprune/evoprune/nn"
	"github.com/evoprune/evoprune/tensor"
)

// RandomBatch returns a batch of standard-normal inputs shaped for g and
// uniformly random labels, all drawn from seed: the fixed workload of speed
// measurements (benchmarks and evoprune bench speed).
func RandomBatch(g *nn.Graph, batch int, seed uint64) (*tensor.Tensor, []int32) {
	rng := rand.New(rand.NewPCG(seed, 2))
	x := tensor.New(append([]int{batch}, g.Input().Shape...)...)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	y := make([]int32, batch)
	for i := range y {
		y[i] = int32(rng.IntN(g.Output().Channels()))
	}
	return x, y
}
