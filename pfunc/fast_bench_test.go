package pfunc

import (
	"math/rand/v2"
	"sync"
	"testing"
)

// The acceptance benchmark's layer: 64 channels of 16x16 maps over 10,000 samples of 10
// classes, float32 features (655 MB), a 64x32x3x3 filter bank, and for the extended
// operands BN parameters and float32 loss gradients shaped like the features (655 MB).
const (
	benchN, benchC, benchD, benchClasses = 10000, 64, 256, 10
)

var benchLayer = sync.OnceValues(func() ([]float32, []int) {
	r := rand.New(rand.NewPCG(61, 62))
	means := make([]float32, benchClasses*benchC)
	for i := range means {
		means[i] = float32(r.NormFloat64())
	}
	feat := make([]float32, benchN*benchC*benchD)
	labels := make([]int, benchN)
	for i := range labels {
		labels[i] = r.IntN(benchClasses)
		for k := 0; k < benchC; k++ {
			m := means[labels[i]*benchC+k]
			row := feat[(i*benchC+k)*benchD : (i*benchC+k+1)*benchD]
			for j := range row {
				row[j] = max(0, m+r.Float32()-0.5) // ReLU-like
			}
		}
	}
	return feat, labels
})

// benchExtended draws the BN parameters and gradients (small, of either sign, as loss
// gradients are).
var benchExtended = sync.OnceValues(func() ([]float64, []float32) {
	r := rand.New(rand.NewPCG(65, 66))
	bn := make([]float64, 2*benchC)
	for i := range bn {
		bn[i] = r.NormFloat64()
	}
	grads := make([]float32, benchN*benchC*benchD)
	for i := range grads {
		grads[i] = float32(1e-3 * r.NormFloat64())
	}
	return bn, grads
})

var benchStats = sync.OnceValue(func() *LayerStats {
	feat, labels := benchLayer()
	s, err := NewLayerStats32(feat, benchN, benchC, benchD, labels, nil)
	if err != nil {
		panic(err)
	}
	bn, grads := benchExtended()
	if err := s.SetExtended32(bn[:benchC], bn[benchC:], grads); err != nil {
		panic(err)
	}
	return s
})

func benchFilters() ([]float64, []int) {
	r := rand.New(rand.NewPCG(63, 64))
	shape := []int{benchC, 32, 3, 3}
	w := make([]float64, benchC*32*9)
	for i := range w {
		w[i] = r.NormFloat64()
	}
	return w, shape
}

// BenchmarkLayerStats: the statistics of the layer, computed once.
func BenchmarkLayerStats(b *testing.B) {
	feat, labels := benchLayer()
	b.ResetTimer()
	for b.Loop() {
		if _, err := NewLayerStats32(feat, benchN, benchC, benchD, labels, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLayerStatsExtended: SetExtended32's pass over the gradients (the x·g sums of
// the Taylor criterion), once.
func BenchmarkLayerStatsExtended(b *testing.B) {
	s := benchStats()
	bn, grads := benchExtended()
	b.ResetTimer()
	for b.Loop() {
		if err := s.SetExtended32(bn[:benchC], bn[benchC:], grads); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFastScore: each library function, the extended ones included, scored on all
// 64 channels from the statistics (one iteration = one function, all channels).
func BenchmarkFastScore(b *testing.B) {
	s := benchStats()
	w, shape := benchFilters()
	for _, f := range Library() {
		b.Run(f.Name, func(b *testing.B) {
			for b.Loop() {
				if _, err := s.ScoreAll(f.Tree, w, shape); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
