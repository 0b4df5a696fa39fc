package pfunc

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/evoprune/evoprune/data"
	"github.com/evoprune/evoprune/models"
	"github.com/evoprune/evoprune/nn"
	"github.com/evoprune/evoprune/tensor"
)

// realLayer is one layer's real feature maps and loss gradients over a batch of
// images, both [n][c][d] float32 as the network computed them, with the layer's weights
// (PyTorch layout, float64) and the images' labels.
type realLayer struct {
	name        string
	feat, grads []float32
	n, c, d     int
	labels      []int
	w           []float64
	wshape      []int
	gamma, beta []float64 // BN scale and shift of each channel, nil if none
}

// channelLayer is channel k as the closed forms of library_test.go take it.
func (r realLayer) channelLayer(k int) layer {
	l := layer{labels: r.labels, w: r.w, wshape: r.wshape, k: k}
	l.x, l.g = make([][]float64, r.n), make([][]float64, r.n)
	for i := 0; i < r.n; i++ {
		off := (i*r.c + k) * r.d
		l.x[i], l.g[i] = make([]float64, r.d), make([]float64, r.d)
		for j := 0; j < r.d; j++ {
			l.x[i][j] = float64(r.feat[off+j])
			l.g[i][j] = float64(r.grads[off+j])
		}
	}
	if r.gamma != nil {
		l.bn = &BN{Gamma: r.gamma[k], Beta: r.beta[k]}
	}
	return l
}

// runReal runs images idx of d through g, computes the mean cross-entropy's gradient
// and returns, for each named node, its output and output gradient, copied.
func runReal(t *testing.T, g *nn.Graph, d *data.Dataset, idx []int, nodes ...string) (out, grad map[string][]float32, labels []int) {
	t.Helper()
	for _, name := range nodes {
		if g.Node(name) == nil {
			t.Fatalf("model has no node %s", name)
		}
		g.KeepGrad(g.Node(name), true)
	}
	x := tensor.New(len(idx), d.C, d.H, d.W)
	data.Normalize(d, idx, x)
	y := make([]int32, len(idx))
	labels = make([]int, len(idx))
	for i, j := range idx {
		y[i], labels[i] = d.Labels[j], int(d.Labels[j])
	}
	ctx := &nn.Context{}
	logits := g.Forward(ctx, x)
	out, grad = map[string][]float32{}, map[string][]float32{}
	for _, name := range nodes {
		out[name] = append([]float32(nil), g.Node(name).Output().Data...)
	}
	dlogits := tensor.New(logits.Shape...)
	_, correct := nn.SoftmaxCrossEntropy(logits, y, dlogits)
	t.Logf("%s: %d of %d images classified correctly", g.Arch, correct, len(idx))
	g.Backward(ctx, dlogits, false)
	for _, name := range nodes {
		gr := g.Node(name).Grad()
		if gr == nil || len(gr.Data) != len(out[name]) {
			t.Fatalf("no gradient kept for %s", name)
		}
		grad[name] = append([]float32(nil), gr.Data...)
	}
	return out, grad, labels
}

func param(t *testing.T, g *nn.Graph, name string) ([]float64, []int) {
	t.Helper()
	for _, p := range g.Params() {
		if p.Name == name {
			v := make([]float64, len(p.Value.Data))
			for i, x := range p.Value.Data {
				v[i] = float64(x)
			}
			return v, append([]int(nil), p.Value.Shape...)
		}
	}
	t.Fatalf("model has no parameter %s", name)
	return nil, nil
}

// checkRealLayer scores every channel of the layer with the fast evaluator (float32
// statistics, float32 gradients) and compares each library function it applies to with
// the closed form of library_test.go: relative difference at most 1e-9. di, whose
// pseudo-inverse of a D x D matrix per channel dominates the test's time, is checked on
// the first diChannels channels only if diChannels > 0.
func checkRealLayer(t *testing.T, r realLayer, skip map[string]string, diChannels int) {
	t.Helper()
	s, err := NewLayerStats32(r.feat, r.n, r.c, r.d, r.labels, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetExtended32(r.gamma, r.beta, r.grads); err != nil {
		t.Fatal(err)
	}
	chans := make([]layer, r.c)
	for k := range chans {
		chans[k] = r.channelLayer(k)
	}
	for _, f := range Library() {
		if why, ok := skip[f.Name]; ok {
			t.Logf("%s/%s: not applicable (%s)", r.name, f.Name, why)
			continue
		}
		start := time.Now()
		var got []float64
		var err error
		if f.Name != "di" || diChannels == 0 {
			got, err = s.ScoreAll(f.Tree, r.w, r.wshape)
		} else {
			got = make([]float64, diChannels)
			for k := range got {
				wi, w, ferr := FilterOperands(r.w, r.wshape, k)
				if ferr != nil {
					t.Fatal(ferr)
				}
				if got[k], err = s.Score(f.Tree, k, wi, w); err != nil {
					break
				}
			}
		}
		if err != nil {
			t.Errorf("%s/%s: %v", r.name, f.Name, err)
			continue
		}
		fast := time.Since(start)
		worst, distinct := 0.0, map[float64]bool{}
		for k := range got {
			want := closedForms[f.Name](chans[k])
			if math.IsNaN(want) || math.IsInf(want, 0) {
				t.Fatalf("%s/%s channel %d: closed form %v", r.name, f.Name, k, want)
			}
			d := relDiff(got[k], want)
			worst = max(worst, d)
			distinct[got[k]] = true
			if d > 1e-9 {
				t.Errorf("%s/%s channel %d: fast %.17g, closed form %.17g (rel diff %.2g)", r.name, f.Name, k, got[k], want, d)
			}
		}
		t.Logf("%s/%s: %d channels, %d distinct scores, worst rel diff %.2g, fast %v", r.name, f.Name, len(got), len(distinct), worst, fast)
		if len(distinct) < 2 {
			t.Errorf("%s/%s: every channel scores the same: the comparison tests nothing", r.name, f.Name)
		}
	}
}

// TestLibraryOnRealLeNet5: the fast evaluator against the closed forms on the real
// feature maps and loss gradients of the pretrained LeNet-5 over 300 MNIST test images:
// pool1 (20 channels of 12x12; di on 6 of them) and every 8th node of relu3 (63 of fc1's 500 nodes, as a
// layer of 63 active nodes; the closed form of geo_median_dist is quadratic in them).
// LeNet-5 has no batch normalisation, so bn_scale does not apply (see
// TestLibraryOnRealResNet20).
func TestLibraryOnRealLeNet5(t *testing.T) {
	g, _, err := models.Load("../pretrained/lenet5-mnist.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	d, err := data.Load("mnist", "test", data.Options{DataDir: "../data"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 300
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	out, grad, labels := runReal(t, g, d, idx, "pool1", "relu3")
	counts := map[int]int{}
	for _, y := range labels {
		counts[y]++
	}
	if len(counts) != 10 {
		t.Fatalf("the %d images cover %d classes", n, len(counts))
	}
	noBN := map[string]string{"bn_scale": "LeNet-5 has no batch normalisation"}

	w1, s1 := param(t, g, "conv1.weight") // [20, 1, 5, 5]
	checkRealLayer(t, realLayer{name: "pool1", feat: out["pool1"], grads: grad["pool1"],
		n: n, c: 20, d: 144, labels: labels, w: w1, wshape: s1}, noBN, 6)

	wf, sf := param(t, g, "fc1.weight") // [500, 800]
	const stride = 8
	c := (sf[0] + stride - 1) / stride
	r := realLayer{name: "relu3/8", n: n, c: c, d: 1, labels: labels, wshape: []int{c, sf[1]}}
	for i := 0; i < n; i++ {
		for k := 0; k < c; k++ {
			r.feat = append(r.feat, out["relu3"][i*sf[0]+k*stride])
			r.grads = append(r.grads, grad["relu3"][i*sf[0]+k*stride])
		}
	}
	for k := 0; k < c; k++ {
		r.w = append(r.w, wf[k*stride*sf[1]:(k*stride+1)*sf[1]]...)
	}
	checkRealLayer(t, r, noBN, 0)
}

// TestLibraryOnRealResNet20 completes TestLibraryOnRealLeNet5 with a layer that has
// batch normalisation, for bn_scale: the base ResNet-20 checkpoint on 128 CIFAR-10 test
// images (the shared data folder, as the data package's tests find it), layer3.0.relu1:
// 64 channels of 8x8 after layer3.0.bn1, whose gamma and beta are the BN operands, with
// layer3.0.conv1's filters. The checkpoint is a training run's (runs/); the test skips
// if no ResNet-20 checkpoint is in the repository.
func TestLibraryOnRealResNet20(t *testing.T) {
	var g *nn.Graph
	for _, p := range []string{"../pretrained/resnet20-cifar10.safetensors", "../runs/resnet20-cifar10.safetensors"} {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		var err error
		if g, _, err = models.Load(p); err != nil {
			t.Fatal(err)
		}
		t.Logf("model %s", p)
		break
	}
	if g == nil {
		t.Skip("no ResNet-20 checkpoint in pretrained/ or runs/")
	}
	root := os.Getenv("EVOPRUNE_SHARED")
	if root == "" {
		root = filepath.Join("..", "..", "shared")
	}
	d, err := data.Load("cifar10", "test", data.Options{DataDir: filepath.Join(root, "data")})
	if err != nil {
		t.Fatalf("the shared CIFAR-10 copy is missing (%v): check out the shared folder beside the repository or set EVOPRUNE_SHARED to it", err)
	}
	const n = 128
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	const node = "layer3.0.relu1"
	out, grad, labels := runReal(t, g, d, idx, node)
	gamma, _ := param(t, g, "layer3.0.bn1.weight")
	beta, _ := param(t, g, "layer3.0.bn1.bias")
	w, ws := param(t, g, "layer3.0.conv1.weight") // [64, 32, 3, 3]
	checkRealLayer(t, realLayer{name: node, feat: out[node], grads: grad[node], n: n, c: 64, d: 64,
		labels: labels, w: w, wshape: ws, gamma: gamma, beta: beta}, nil, 0)
}
