package onnx

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/evoprune/evoprune/models"
	"github.com/evoprune/evoprune/nn"
	"github.com/evoprune/evoprune/tensor"
)

// randomizeBN gives every BatchNorm non-trivial statistics and affine
// parameters, so that folding them is actually exercised.
func randomizeBN(g *nn.Graph, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 7))
	for _, n := range g.Nodes[1:] {
		if bn, ok := n.Layer.(*nn.BatchNorm); ok {
			for c := range bn.Gamma.Value.Data {
				bn.Gamma.Value.Data[c] = float32(0.5 + rng.Float64())
				bn.Beta.Value.Data[c] = float32(rng.NormFloat64() * 0.2)
				bn.RunningMean.Value.Data[c] = float32(rng.NormFloat64() * 0.3)
				bn.RunningVar.Value.Data[c] = float32(0.5 + rng.Float64())
			}
		}
	}
}

func randomInput(seed uint64, shape ...int) *tensor.Tensor {
	rng := rand.New(rand.NewPCG(seed, 11))
	x := tensor.New(shape...)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	return x
}

func forward(g *nn.Graph, x *tensor.Tensor) []float32 {
	return append([]float32(nil), g.Forward(&nn.Context{}, x).Data...)
}

// relErr is max|a-b| / max|b|.
func relErr(a, b []float32) float64 {
	var d, m float64
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i])-float64(b[i])))
		m = math.Max(m, math.Abs(float64(b[i])))
	}
	return d / math.Max(m, 1e-30)
}

func specJSON(t *testing.T, g *nn.Graph) string {
	b, err := json.Marshal(g.Spec())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func build(t *testing.T, name string, o models.Options) *nn.Graph {
	t.Helper()
	g, err := models.Build(name, o)
	if err != nil {
		t.Fatal(err)
	}
	randomizeBN(g, o.Seed+1)
	return g
}

// Export then import gives back the same graph structure, names and
// weights: the outputs agree bit for bit.
func TestRoundTripExact(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    models.Options
	}{
		{"lenet5", models.Options{Seed: 1}},
		{"vgg16", models.Options{Width: 0.25, Seed: 2}},
		{"resnet20", models.Options{Seed: 3}},
		{"resnet20", models.Options{Seed: 4, Shortcut: "B"}},
	} {
		g := build(t, tc.name, tc.o)
		b, err := Marshal(g, ExportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		h, err := Import(b, ImportOptions{})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if a, b := specJSON(t, g), specJSON(t, h); a != b {
			t.Fatalf("%s: spec changed in the round trip:\n%s\n%s", tc.name, a, b)
		}
		x := randomInput(5, append([]int{3}, g.Input().Shape...)...)
		want, got := forward(g, x), forward(h, x)
		for i := range want {
			if want[i] != got[i] {
				t.Fatalf("%s: output %d differs: %g vs %g", tc.name, i, got[i], want[i])
			}
		}
	}
}

// With BatchNorm folded into the convolutions, the imported graph has no
// BatchNorm after a conv, and computes the same function to rounding.
func TestRoundTripFolded(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    models.Options
	}{
		{"vgg16", models.Options{Width: 0.25, Seed: 2}},
		{"resnet20", models.Options{Seed: 3}},
		{"resnet20", models.Options{Seed: 4, Shortcut: "B"}},
	} {
		g := build(t, tc.name, tc.o)
		b, err := Marshal(g, ExportOptions{FoldBN: true})
		if err != nil {
			t.Fatal(err)
		}
		h, err := Import(b, ImportOptions{})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		nbn := 0
		for _, n := range h.Nodes[1:] {
			if _, ok := n.Layer.(*nn.BatchNorm); ok {
				nbn++
			}
		}
		if nbn != 0 {
			t.Errorf("%s: %d BatchNorms left after folding", tc.name, nbn)
		}
		if len(h.Nodes) >= len(g.Nodes) {
			t.Errorf("%s: %d nodes after folding, %d before", tc.name, len(h.Nodes), len(g.Nodes))
		}
		x := randomInput(6, append([]int{2}, g.Input().Shape...)...)
		if e := relErr(forward(h, x), forward(g, x)); e > 1e-5 {
			t.Errorf("%s: folded model differs by %.3g relative", tc.name, e)
		}
	}
}
