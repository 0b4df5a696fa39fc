package train

import (
	"math/rand/v2"
	"testing"

	"github.com/evoprune/evoprune/models"
	"github.com/evoprune/evoprune/nn"
	"github.com/evoprune/evoprune/tensor"
)

// BenchmarkTrainStep measures one SGD step (forward, loss, backward,
// update) per model at batch 64 and reports images/s; allocs/op should be 0.
func BenchmarkTrainStep(b *testing.B) {
	for _, name := range []string{"lenet5", "resnet20", "vgg16"} {
		b.Run(name, func(b *testing.B) {
			g, err := models.Build(name, models.Options{Seed: 1})
			if err != nil {
				b.Fatal(err)
			}
			const batch = 64
			x, y := randomBatch(g, batch)
			s := &Stepper{Graph: g, Opt: &nn.SGD{Momentum: 0.9}}
			s.Step(x, y, 0.01) // warm up: buffers are sized on the first step
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, _, err := s.Step(x, y, 0.01); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "img/s")
		})
	}
}

// BenchmarkInference measures eval-mode forward passes at batch 64.
func BenchmarkInference(b *testing.B) {
	for _, name := range []string{"lenet5", "resnet20", "vgg16"} {
		b.Run(name, func(b *testing.B) {
			g, _ := models.Build(name, models.Options{Seed: 1})
			const batch = 64
			x, _ := randomBatch(g, batch)
			ctx := &nn.Context{}
			g.Forward(ctx, x)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				g.Forward(ctx, x)
			}
			b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "img/s")
		})
	}
}

func randomBatch(g *nn.Graph, batch int) (*tensor.Tensor, []int32) {
	rng := rand.New(rand.NewPCG(1, 2))
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
