package train

import (
	"testing"

	"github.com/evoprune/evoprune/models"
	"github.com/evoprune/evoprune/nn"
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
			x, y := RandomBatch(g, batch, 1)
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
			x, _ := RandomBatch(g, batch, 1)
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

// BenchmarkFusion compares ResNet-20 training steps with the graph's
// BatchNorm/Add+ReLU fusion on and off (batch 64); run with -count to
// interleave the two on a busy machine.
func BenchmarkFusion(b *testing.B) {
	for _, on := range []bool{true, false} {
		b.Run(map[bool]string{true: "on", false: "off"}[on], func(b *testing.B) {
			g, err := models.Build("resnet20", models.Options{Seed: 1})
			if err != nil {
				b.Fatal(err)
			}
			g.SetFusion(on)
			const batch = 64
			x, y := RandomBatch(g, batch, 1)
			s := &Stepper{Graph: g, Opt: &nn.SGD{Momentum: 0.9}}
			s.Step(x, y, 0.01)
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
