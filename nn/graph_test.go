package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/evoprune/evoprune/tensor"
)

// smallResNet is a network with every kind of join the models use: BN,
// an identity residual block and a stride-2 block with an option-A shortcut.
func smallResNet(t *testing.T, rng *rand.Rand) *Graph {
	g := NewGraph("small", 2, 6, 6)
	conv := func(in, out, stride int) Layer {
		return mustLayer(NewConv2d(ConvConfig{InC: in, OutC: out, Kernel: 3, Stride: stride, Pad: 1}))
	}
	bn := func(c int) Layer { return mustLayer(NewBatchNorm(BatchNormConfig{C: c})) }
	x := g.Add("conv1", conv(2, 4, 1), g.Input())
	x = g.Add("bn1", bn(4), x)
	a := g.Add("relu1", &ReLU{}, x)
	x = g.Add("b1.conv1", conv(4, 4, 1), a)
	x = g.Add("b1.bn1", bn(4), x)
	x = g.Add("b1.relu1", &ReLU{}, x)
	x = g.Add("b1.conv2", conv(4, 4, 1), x)
	x = g.Add("b1.bn2", bn(4), x)
	x = g.Add("b1.add", &Add{}, x, a)
	a = g.Add("b1.relu2", &ReLU{}, x)
	x = g.Add("b2.conv1", conv(4, 8, 2), a)
	x = g.Add("b2.bn1", bn(8), x)
	s := g.Add("b2.shortcut", mustLayer(NewShortcutA(ShortcutAConfig{In: 4, Out: 8, Stride: 2})), a)
	x = g.Add("b2.add", &Add{}, x, s)
	x = g.Add("b2.relu", &ReLU{}, x)
	x = g.Add("pool", &GlobalAvgPool{}, x)
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
	return g
}

func TestNetworkGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	g := smallResNet(t, rng)
	x := randTensor(rng, 4, 2, 6, 6)
	labels := []int32{0, 2, 1, 2}
	out := g.Forward(&Context{Train: true}, x)
	loss32, _ := SoftmaxCrossEntropy(out, labels, nil)
	dlogits := tensor.New(out.Shape...)
	SoftmaxCrossEntropy(out, labels, dlogits)
	g.ZeroGrad()
	g.Backward(&Context{Train: true}, dlogits, true)

	// The numeric side runs an independent float64 implementation of the
	// same network (ref64, written with plain loops), where central
	// differences with a tiny step are exact to many digits and cross no
	// ReLU kink; float32 rounding would otherwise swamp them.
	ref := newRef64(g, x)
	if l := ref.loss(labels); math.Abs(l-loss32) > 1e-5*math.Abs(l) {
		t.Fatalf("float64 reference loss %.8g, engine %.8g", l, loss32)
	}
	check := func(name string, v []float64, grad []float32) {
		scale := 0.0
		for _, gv := range grad {
			scale = max(scale, math.Abs(float64(gv)))
		}
		worst := 0.0
		for i := range v {
			const h = 1e-6
			o := v[i]
			v[i] = o + h
			lp := ref.loss(labels)
			v[i] = o - h
			lm := ref.loss(labels)
			v[i] = o
			e := relErr(float64(grad[i]), (lp-lm)/(2*h), scale)
			worst = max(worst, e)
			if e > gradTol {
				t.Errorf("%s[%d]: analytic %.6g numeric %.6g rel %.2g", name, i, grad[i], (lp-lm)/(2*h), e)
				return
			}
		}
		t.Logf("%-16s max rel err %.2e", name, worst)
	}
	check("input", ref.x, g.Input().Grad().Data)
	for _, p := range g.Params() {
		if p.Learnable() {
			check(p.Name, ref.p[p.Name], p.Grad.Data)
		}
	}
}

// ref64 evaluates smallResNet in float64 with naive loops, sharing nothing
// with the engine but the weights' values.
type ref64 struct {
	x []float64
	n int
	p map[string][]float64
}

func newRef64(g *Graph, x *tensor.Tensor) *ref64 {
	r := &ref64{x: to64(x.Data), n: x.Shape[0], p: map[string][]float64{}}
	for _, p := range g.Params() {
		r.p[p.Name] = to64(p.Value.Data)
	}
	return r
}

func to64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

type map64 struct {
	c, h, w int
	v       []float64 // [n][c][h][w]
}

func (r *ref64) conv(in map64, name string, oc, stride int) map64 {
	w := r.p[name+".weight"]
	oh, ow := (in.h+2-3)/stride+1, (in.w+2-3)/stride+1
	out := map64{oc, oh, ow, make([]float64, r.n*oc*oh*ow)}
	for n := 0; n < r.n; n++ {
		for o := 0; o < oc; o++ {
			for y := 0; y < oh; y++ {
				for xx := 0; xx < ow; xx++ {
					var s float64
					for c := 0; c < in.c; c++ {
						for ky := 0; ky < 3; ky++ {
							for kx := 0; kx < 3; kx++ {
								iy, ix := y*stride-1+ky, xx*stride-1+kx
								if iy >= 0 && iy < in.h && ix >= 0 && ix < in.w {
									s += w[((o*in.c+c)*3+ky)*3+kx] * in.v[((n*in.c+c)*in.h+iy)*in.w+ix]
								}
							}
						}
					}
					out.v[((n*oc+o)*oh+y)*ow+xx] = s
				}
			}
		}
	}
	return out
}

func (r *ref64) bn(in map64, name string) map64 {
	gamma, beta := r.p[name+".weight"], r.p[name+".bias"]
	out := map64{in.c, in.h, in.w, make([]float64, len(in.v))}
	hw := in.h * in.w
	for c := 0; c < in.c; c++ {
		var m, v float64
		for n := 0; n < r.n; n++ {
			for i := 0; i < hw; i++ {
				m += in.v[(n*in.c+c)*hw+i]
			}
		}
		m /= float64(r.n * hw)
		for n := 0; n < r.n; n++ {
			for i := 0; i < hw; i++ {
				d := in.v[(n*in.c+c)*hw+i] - m
				v += d * d
			}
		}
		v /= float64(r.n * hw)
		for n := 0; n < r.n; n++ {
			for i := 0; i < hw; i++ {
				k := (n*in.c+c)*hw + i
				out.v[k] = (in.v[k]-m)/math.Sqrt(v+1e-5)*gamma[c] + beta[c]
			}
		}
	}
	return out
}

func relu64(in map64) map64 {
	out := map64{in.c, in.h, in.w, make([]float64, len(in.v))}
	for i, v := range in.v {
		out.v[i] = max(v, 0)
	}
	return out
}

func add64(a, b map64) map64 {
	out := map64{a.c, a.h, a.w, make([]float64, len(a.v))}
	for i := range a.v {
		out.v[i] = a.v[i] + b.v[i]
	}
	return out
}

func (r *ref64) loss(labels []int32) float64 {
	x := map64{2, 6, 6, r.x}
	a := relu64(r.bn(r.conv(x, "conv1", 4, 1), "bn1"))
	y := r.bn(r.conv(relu64(r.bn(r.conv(a, "b1.conv1", 4, 1), "b1.bn1")), "b1.conv2", 4, 1), "b1.bn2")
	a = relu64(add64(y, a))
	y = r.bn(r.conv(a, "b2.conv1", 8, 2), "b2.bn1")
	// option-A shortcut: channels 2..5 carry a[:, :, ::2, ::2], the rest 0.
	s := map64{8, 3, 3, make([]float64, r.n*8*9)}
	for n := 0; n < r.n; n++ {
		for c := 0; c < 4; c++ {
			for i := 0; i < 3; i++ {
				for j := 0; j < 3; j++ {
					s.v[((n*8+c+2)*3+i)*3+j] = a.v[((n*4+c)*6+2*i)*6+2*j]
				}
			}
		}
	}
	a = relu64(add64(y, s))
	w, b := r.p["fc.weight"], r.p["fc.bias"]
	var total float64
	for n := 0; n < r.n; n++ {
		var feat [8]float64
		for c := 0; c < 8; c++ {
			for i := 0; i < 9; i++ {
				feat[c] += a.v[(n*8+c)*9+i] / 9
			}
		}
		var logits [3]float64
		for k := 0; k < 3; k++ {
			logits[k] = b[k]
			for c := 0; c < 8; c++ {
				logits[k] += w[k*8+c] * feat[c]
			}
		}
		var z float64
		for _, l := range logits {
			z += math.Exp(l)
		}
		total += math.Log(z) - logits[labels[n]]
	}
	return total / float64(r.n)
}

func TestSoftmaxCrossEntropyGolden(t *testing.T) {
	// Two classes with logits (0, ln 3): p = (1/4, 3/4). Label 1: loss -ln(3/4).
	logits := tensor.FromData([]float32{0, float32(math.Log(3))}, 1, 2)
	d := tensor.New(1, 2)
	loss, correct := SoftmaxCrossEntropy(logits, []int32{1}, d)
	if math.Abs(loss+math.Log(0.75)) > 1e-6 || correct != 1 {
		t.Fatalf("loss %g correct %d", loss, correct)
	}
	if math.Abs(float64(d.Data[0])-0.25) > 1e-6 || math.Abs(float64(d.Data[1])+0.25) > 1e-6 {
		t.Fatalf("grad %v, want [0.25 -0.25]", d.Data)
	}
}

func TestSpecRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	g := smallResNet(t, rng)
	c := g.Clone()
	x := randTensor(rng, 3, 2, 6, 6)
	a := g.Forward(&Context{}, x).Clone()
	b := c.Forward(&Context{}, x)
	for i := range a.Data {
		if a.Data[i] != b.Data[i] {
			t.Fatalf("clone output differs at %d: %g vs %g", i, a.Data[i], b.Data[i])
		}
	}
	if g.NumParams() != c.NumParams() || g.MACs() != c.MACs() {
		t.Fatal("clone counts differ")
	}
}

func TestGraphErrors(t *testing.T) {
	g := NewGraph("bad", 3, 8, 8)
	x := g.Add("c", mustLayer(NewConv2d(ConvConfig{InC: 4, OutC: 4, Kernel: 3})), g.Input())
	g.Add("c2", &ReLU{}, x)
	if g.Err() == nil {
		t.Fatal("channel mismatch accepted")
	}
	g = NewGraph("dup", 3)
	g.Add("a", &ReLU{}, g.Input())
	g.Add("a", &ReLU{}, g.Input())
	if g.Err() == nil {
		t.Fatal("duplicate name accepted")
	}
	if _, err := (Spec{Input: []int{3}, Nodes: []NodeSpec{{Name: "x", Kind: "nope", Inputs: []string{"input"}}}}).Build(); err == nil {
		t.Fatal("unknown kind accepted")
	}
	if _, err := (Spec{Input: []int{3}, Nodes: []NodeSpec{{Name: "x", Kind: "linear", Inputs: []string{"input"}, Config: []byte(`{"in_features":3,"out_features":2,"typo":1}`)}}}).Build(); err == nil {
		t.Fatal("unknown config field accepted")
	}
}
