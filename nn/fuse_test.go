package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/evoprune/evoprune/tensor"
)

// runPass does a training forward and backward pass of g on x and returns
// every node output, every parameter gradient and the input gradient,
// copied.
func runPass(g *Graph, x *tensor.Tensor, labels []int32) map[string][]float32 {
	res := map[string][]float32{}
	out := g.Forward(&Context{Train: true}, x)
	dl := tensor.New(out.Shape...)
	SoftmaxCrossEntropy(out, labels, dl)
	g.ZeroGrad()
	g.Backward(&Context{Train: true}, dl, true)
	for _, n := range g.Nodes {
		res["out:"+n.Name] = append([]float32(nil), n.Output().Data...)
		if n.Grad().Data != nil {
			res["grad:"+n.Name] = append([]float32(nil), n.Grad().Data...)
		}
	}
	for _, p := range g.Params() {
		res["param:"+p.Name] = append([]float32(nil), p.Value.Data...)
		if p.Learnable() {
			res["pgrad:"+p.Name] = append([]float32(nil), p.Grad.Data...)
		}
	}
	return res
}

func sameBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		// Signed zeros may differ (an unfused gradient is 0 + g).
		if a[i] != b[i] && math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// TestFusionMatchesUnfused checks that the BatchNorm/Add+ReLU fusion changes
// nothing observable: node outputs (including each fused BatchNorm's own
// output, and each fused Add's), kept gradients, parameter gradients, running statistics and the
// input gradient equal those of the unfused graph, and a BatchNorm node's
// gradient is there when KeepGrad asks for it.
func TestFusionMatchesUnfused(t *testing.T) {
	for _, keepBN := range []bool{false, true} {
		rng := rand.New(rand.NewPCG(5, 6))
		fused := smallResNet(t, rng)
		plain := fused.Clone()
		plain.SetFusion(false)
		if n := countFused(fused); n != 4 {
			t.Fatalf("smallResNet has %d fused pairs, want 4 (bn1, b1.bn1, b1.add, b2.add with their ReLUs)", n)
		}
		if n := countFused(plain); n != 0 {
			t.Fatalf("SetFusion(false) left %d fused pairs", n)
		}
		for _, g := range []*Graph{fused, plain} {
			g.KeepGrad(g.Node("relu1"), true)
			g.KeepGrad(g.Node("b1.bn1"), keepBN)
			g.KeepGrad(g.Node("b2.add"), keepBN)
		}
		x := randTensor(rng, 4, 2, 6, 6)
		labels := []int32{0, 2, 1, 2}
		for step := 0; step < 2; step++ { // twice: buffers recycled
			a, b := runPass(fused, x, labels), runPass(plain, x, labels)
			if len(a) != len(b) {
				t.Fatalf("keep %v: fused pass reports %d arrays, unfused %d", keepBN, len(a), len(b))
			}
			for k, v := range b {
				if !sameBits(a[k], v) {
					t.Fatalf("keep %v step %d: %s differs between fused and unfused graphs", keepBN, step, k)
				}
			}
			if keepBN && (a["grad:b1.bn1"] == nil || a["grad:b2.add"] == nil) {
				t.Fatalf("KeepGrad(b1.bn1, b2.add) gave no gradient under fusion")
			}
			if a["out:bn1"] == nil || sameBits(a["out:bn1"], a["out:relu1"]) {
				t.Fatalf("bn1's output should be its own (with negatives), not the ReLU's")
			}
		}
		// Eval mode forward.
		ya := fused.Forward(&Context{}, x)
		yb := plain.Forward(&Context{}, x)
		if !sameBits(ya.Data, yb.Data) {
			t.Fatalf("eval forward differs between fused and unfused graphs")
		}
	}
}

func countFused(g *Graph) int {
	n := 0
	for _, j := range g.fusedReLU() {
		if j > 0 {
			n++
		}
	}
	return n
}
