package nn

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/evoprune/evoprune/tensor"
)

func TestSelectGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	checkLayer(t, gradCase{name: "select maps", layer: mustLayer(NewSelect(SelectConfig{In: 4, Index: []int{3, 0, 2}})),
		inputs: []*tensor.Tensor{randTensor(rng, 2, 4, 3, 3)}, eps: 1e-1}, rng)
	checkLayer(t, gradCase{name: "select vector", layer: mustLayer(NewSelect(SelectConfig{In: 5, Index: []int{1}})),
		inputs: []*tensor.Tensor{randTensor(rng, 3, 5)}, eps: 1e-1}, rng)
}

func TestSelectForwardPicksChannels(t *testing.T) {
	l := mustLayer(NewSelect(SelectConfig{In: 3, Index: []int{2, 0}}))
	x := tensor.New(2, 3, 1, 2)
	for i := range x.Data {
		x.Data[i] = float32(i)
	}
	out := tensor.New(2, 2, 1, 2)
	l.Forward(&Context{}, []*tensor.Tensor{x}, out)
	want := []float32{4, 5, 0, 1, 10, 11, 6, 7}
	for i, v := range want {
		if out.Data[i] != v {
			t.Fatalf("out = %v, want %v", out.Data, want)
		}
	}
}

func TestSelectRejectsBadIndex(t *testing.T) {
	for _, c := range []SelectConfig{{In: 3}, {In: 3, Index: []int{3}}, {In: 3, Index: []int{1, 1}}, {In: 0, Index: []int{0}}} {
		if _, err := NewSelect(c); err == nil {
			t.Errorf("NewSelect(%+v) accepted", c)
		}
	}
	l := mustLayer(NewSelect(SelectConfig{In: 3, Index: []int{0}}))
	if _, err := l.OutShape([][]int{{4, 2, 2}}); err == nil {
		t.Error("OutShape accepted 4 channels for in_channels 3")
	}
}

func TestShortcutAMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	l := mustLayer(NewShortcutA(ShortcutAConfig{In: 3, Out: 5, Stride: 2, Map: []int{4, 0, 2}}))
	drop := mustLayer(NewShortcutA(ShortcutAConfig{In: 3, Out: 2, Stride: 1, Map: []int{-1, 0, 1}}))
	checkLayer(t, gradCase{name: "shortcut A map dropping", layer: drop, inputs: []*tensor.Tensor{randTensor(rng, 2, 3, 3, 3)}, eps: 1e-1}, rng)
	checkLayer(t, gradCase{name: "shortcut A map", layer: l, inputs: []*tensor.Tensor{randTensor(rng, 2, 3, 4, 4)}, eps: 1e-1}, rng)
	x := tensor.New(1, 3, 1, 1)
	x.Data = []float32{1, 2, 3}
	out := tensor.New(1, 5, 1, 1)
	l.Forward(&Context{}, []*tensor.Tensor{x}, out)
	if want := []float32{2, 0, 3, 0, 1}; !slices.Equal(out.Data, want) {
		t.Fatalf("out = %v, want %v", out.Data, want)
	}
	for _, m := range [][]int{{0, 1}, {0, 0, 1}, {0, 1, 5}, {-2, 0, 1}} {
		if _, err := NewShortcutA(ShortcutAConfig{In: 3, Out: 5, Stride: 1, Map: m}); err == nil {
			t.Errorf("map %v accepted", m)
		}
	}
}
