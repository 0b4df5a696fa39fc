package pfunc

import (
	"math"
	"math/rand/v2"
	"testing"
)

// layer is random test data for one channel: feature maps, labels and the layer's
// weights in PyTorch layout.
type layer struct {
	x      [][]float64
	labels []int
	w      []float64
	wshape []int // [Cout, Cin, Kh, Kw] or [Cout, FanIn]
	k      int
	// extended operands, if set (withExtended): BN parameters and loss gradients
	bn *BN
	g  [][]float64
}

// withExtended gives l random BN parameters and a random gradient per feature value,
// drawn from r (separately from randLayer, so that layers drawn before stay the same).
func withExtended(r *rand.Rand, l layer) layer {
	l.bn = &BN{Gamma: r.NormFloat64(), Beta: r.NormFloat64()}
	l.g = make([][]float64, len(l.x))
	for i, row := range l.x {
		l.g[i] = make([]float64, len(row))
		for j := range row {
			l.g[i][j] = 0.01 * r.NormFloat64()
		}
	}
	return l
}

// randLayer draws counts[c] samples of class c (shuffled), each D values with a
// class-dependent mean so the class statistics differ, and weights of shape wshape.
func randLayer(r *rand.Rand, counts []int, d int, wshape []int, k int) layer {
	var l layer
	for c, n := range counts {
		shift := r.NormFloat64()
		for i := 0; i < n; i++ {
			row := make([]float64, d)
			for j := range row {
				row[j] = shift + (1+0.3*float64(c))*r.NormFloat64()
			}
			l.x = append(l.x, row)
			l.labels = append(l.labels, 10+c) // labels need not start at 0
		}
	}
	r.Shuffle(len(l.x), func(i, j int) {
		l.x[i], l.x[j] = l.x[j], l.x[i]
		l.labels[i], l.labels[j] = l.labels[j], l.labels[i]
	})
	n := 1
	for _, s := range wshape {
		n *= s
	}
	l.w = make([]float64, n)
	for i := range l.w {
		l.w[i] = r.NormFloat64()
	}
	l.wshape, l.k = wshape, k
	return l
}

func (l layer) filters(t testing.TB) (wi, bank Value) {
	t.Helper()
	wi, bank, err := FilterOperands(l.w, l.wshape, l.k)
	if err != nil {
		t.Fatal(err)
	}
	return wi, bank
}

func (l layer) envs(t testing.TB) []Env {
	t.Helper()
	wi, bank := l.filters(t)
	envs, err := ClassEnvs(l.x, l.labels, nil, wi, bank)
	if err != nil {
		t.Fatal(err)
	}
	if l.bn != nil || l.g != nil {
		if err := AddExtended(envs, l.bn, l.g); err != nil {
			t.Fatal(err)
		}
	}
	return envs
}

func relDiff(a, b float64) float64 {
	if a == b {
		return 0
	}
	return math.Abs(a-b) / math.Max(math.Abs(a), math.Abs(b))
}

func mustParse(t testing.TB, s string) *Node {
	t.Helper()
	n, err := ParseWithConstants(s)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return n
}
