package nn

import (
	"math"
	"math/rand/v2"
	"runtime"
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
		// Eval mode forward (running statistics now differ from 0 and 1).
		evalMatches(t, fused, plain, x)
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

// evalMatches checks that every node output of an eval-mode forward pass
// is the same in graphs a (fused) and b (unfused).
func evalMatches(t *testing.T, a, b *Graph, x *tensor.Tensor) {
	t.Helper()
	a.Forward(&Context{}, x)
	b.Forward(&Context{}, x)
	for i, n := range a.Nodes {
		if !sameBits(n.Output().Data, b.Nodes[i].Output().Data) {
			t.Fatalf("eval forward: %s differs between fused and unfused graphs", n.Name)
		}
	}
}

// TestEvalChainPerImage covers the eval-mode conv+BatchNorm chain on maps
// large enough for image-by-image products (and, with pooling, batched
// ones), on one and two threads, after a training step has moved the
// running statistics.
func TestEvalChainPerImage(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	g := NewGraph("chain", 3, 16, 16)
	conv := func(in, out int) Layer {
		return mustLayer(NewConv2d(ConvConfig{InC: in, OutC: out, Kernel: 3, Stride: 1, Pad: 1, Bias: true}))
	}
	bn := func(c int) Layer { return mustLayer(NewBatchNorm(BatchNormConfig{C: c})) }
	x := g.Add("conv1", conv(3, 8), g.Input())
	x = g.Add("bn1", bn(8), x)
	x = g.Add("relu1", &ReLU{}, x)
	x = g.Add("pool", mustLayer(NewMaxPool2d(PoolConfig{Kernel: 2})), x)
	x = g.Add("conv2", conv(8, 8), x) // 8x8 maps: batched product
	x = g.Add("bn2", bn(8), x)        // no ReLU after it
	x = g.Add("gap", &GlobalAvgPool{}, x)
	g.Add("fc", mustLayer(NewLinear(LinearConfig{In: 8, Out: 3, Bias: true})), x)
	if err := g.Err(); err != nil {
		t.Fatal(err)
	}
	for _, p := range g.Params() {
		if p.Learnable() {
			for i := range p.Value.Data {
				p.Value.Data[i] = float32(rng.NormFloat64() * 0.5)
			}
		}
	}
	if g.fusedReLU(); g.chain[g.Node("conv1").Index] == 0 || g.chain[g.Node("conv2").Index] == 0 {
		t.Fatal("conv1/conv2 are not chained with their BatchNorms")
	}
	in := randTensor(rng, 4, 3, 16, 16)
	runPass(g, in, []int32{0, 1, 2, 0}) // moves the running statistics
	plain := g.Clone()
	plain.SetFusion(false)
	for _, procs := range []int{1, 2} {
		old := runtime.GOMAXPROCS(procs)
		evalMatches(t, g, plain, in)
		runtime.GOMAXPROCS(old)
	}
}
