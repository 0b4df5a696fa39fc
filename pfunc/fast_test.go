package pfunc

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

// multiLayer is random test data for a whole layer: features [N][C][D] (flat), labels,
// and the layer's weights in PyTorch layout (wshape[0] == C).
type multiLayer struct {
	feat   []float64
	n, c   int
	d      int
	labels []int
	w      []float64
	wshape []int
	// extended operands, if set (withExtended): per-channel BN parameters and the loss
	// gradients laid out like feat
	gamma, beta, grads []float64
}

// withExtended gives l random BN parameters and gradients, drawn from r; if f32, the
// gradients are rounded to float32 (as the features of a float32 layer are).
func (l multiLayer) withExtended(r *rand.Rand, f32 bool) multiLayer {
	l.gamma, l.beta = make([]float64, l.c), make([]float64, l.c)
	for k := range l.gamma {
		l.gamma[k], l.beta[k] = r.NormFloat64(), r.NormFloat64()
	}
	l.grads = make([]float64, len(l.feat))
	for i := range l.grads {
		l.grads[i] = 0.01 * r.NormFloat64()
		if f32 {
			l.grads[i] = float64(float32(l.grads[i]))
		}
	}
	return l
}

// gradRows returns channel k's gradients as rows, like channel.
func (l multiLayer) gradRows(k int) [][]float64 {
	g := make([][]float64, l.n)
	for i := range g {
		g[i] = l.grads[(i*l.c+k)*l.d : (i*l.c+k+1)*l.d]
	}
	return g
}

// randMultiLayer draws counts[g] samples of label 10+g (shuffled); channel k of class g
// has its own mean and spread, and some channels a large offset so that sums of squares
// would cancel without shifting. If f32, values are rounded to float32.
func randMultiLayer(r *rand.Rand, counts []int, c, d int, wshape []int, f32 bool) multiLayer {
	l := multiLayer{c: c, d: d, wshape: wshape}
	type cls struct{ mean, sd float64 }
	params := make([][]cls, len(counts))
	for g := range counts {
		params[g] = make([]cls, c)
		for k := range params[g] {
			off := 0.0
			if k%3 == 1 {
				off = 50
			}
			params[g][k] = cls{off + r.NormFloat64(), 0.5 + r.Float64()}
		}
	}
	var order []int
	for g, n := range counts {
		for i := 0; i < n; i++ {
			order = append(order, g)
		}
	}
	r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	l.n = len(order)
	for _, g := range order {
		l.labels = append(l.labels, 10+g)
		for k := 0; k < c; k++ {
			for j := 0; j < d; j++ {
				v := params[g][k].mean + params[g][k].sd*r.NormFloat64()
				if k%4 == 3 {
					v = max(0, v) // ReLU-like: many exact zeros
				}
				if f32 {
					v = float64(float32(v))
				}
				l.feat = append(l.feat, v)
			}
		}
	}
	size := 1
	for _, s := range wshape {
		size *= s
	}
	l.w = make([]float64, size)
	for i := range l.w {
		l.w[i] = r.NormFloat64()
	}
	return l
}

// channel returns channel k's feature maps as rows.
func (l multiLayer) channel(k int) [][]float64 {
	x := make([][]float64, l.n)
	for i := range x {
		x[i] = l.feat[(i*l.c+k)*l.d : (i*l.c+k+1)*l.d]
	}
	return x
}

func (l multiLayer) stats(t testing.TB, f32 bool) *LayerStats {
	t.Helper()
	var s *LayerStats
	var err error
	if f32 {
		f := make([]float32, len(l.feat))
		for i, v := range l.feat {
			f[i] = float32(v)
		}
		s, err = NewLayerStats32(f, l.n, l.c, l.d, l.labels, nil)
		if err == nil && l.grads != nil {
			g := make([]float32, len(l.grads))
			for i, v := range l.grads {
				g[i] = float32(v)
			}
			err = s.SetExtended32(l.gamma, l.beta, g)
		}
	} else {
		s, err = NewLayerStats(l.feat, l.n, l.c, l.d, l.labels, nil)
		if err == nil && l.grads != nil {
			err = s.SetExtended(l.gamma, l.beta, l.grads)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// directAll scores every channel with the direct evaluator.
func (l multiLayer) directAll(t testing.TB, n *Node) ([]float64, []error) {
	t.Helper()
	scores := make([]float64, l.c)
	errs := make([]error, l.c)
	for k := 0; k < l.c; k++ {
		wi, w, err := FilterOperands(l.w, l.wshape, k)
		if err != nil {
			t.Fatal(err)
		}
		if l.grads == nil {
			scores[k], errs[k] = Score(n, l.channel(k), l.labels, nil, wi, w)
			continue
		}
		envs, err := ClassEnvs(l.channel(k), l.labels, nil, wi, w)
		if err != nil {
			t.Fatal(err)
		}
		if err := AddExtended(envs, &BN{Gamma: l.gamma[k], Beta: l.beta[k]}, l.gradRows(k)); err != nil {
			t.Fatal(err)
		}
		scores[k], errs[k] = ScoreEnvs(n, envs)
	}
	return scores, errs
}

func TestFastLibraryMatchesDirect(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	counts := func(classes int) []int {
		c := make([]int, classes)
		for i := range c {
			c[i] = 5 + r.IntN(26)
		}
		return c
	}
	layers := map[string]multiLayer{
		"conv3":  randMultiLayer(r, counts(3), 6, 16, []int{6, 3, 3, 3}, false),
		"conv10": randMultiLayer(r, counts(10), 5, 16, []int{5, 4, 3, 2}, true),
		"conv7":  randMultiLayer(r, counts(7), 4, 16, []int{4, 2, 1, 1}, false),
		"fc":     randMultiLayer(r, counts(4), 6, 1, []int{6, 11}, false),
	}
	r2 := rand.New(rand.NewPCG(23, 24))
	for _, name := range []string{"conv3", "conv10", "conv7", "fc"} {
		layers[name] = layers[name].withExtended(r2, name == "conv10")
	}
	for lname, l := range layers {
		for _, f32 := range []bool{false, true} {
			if f32 && lname != "conv10" {
				continue
			}
			s := l.stats(t, f32)
			for _, f := range Library() {
				want, werrs := l.directAll(t, f.Tree)
				before := s.materialised.Load()
				got, err := s.ScoreAll(f.Tree, l.w, l.wshape)
				if err != nil {
					t.Errorf("%s/%s: %v", lname, f.Name, err)
					continue
				}
				// di needs X (its scatter matrix), once per channel.
				if m := s.materialised.Load() - before; f.Name != "di" && m != 0 {
					t.Errorf("%s/%s: %d matrices materialised, want none", lname, f.Name, m)
				}
				for k := range got {
					if werrs[k] != nil {
						t.Errorf("%s/%s channel %d: direct failed: %v", lname, f.Name, k, werrs[k])
						continue
					}
					if d := relDiff(got[k], want[k]); d > 1e-9 {
						t.Errorf("%s/%s channel %d: fast %.17g, direct %.17g (rel diff %.2g)", lname, f.Name, k, got[k], want[k], d)
					}
					// Score of one channel agrees with ScoreAll.
					wi, w, _ := FilterOperands(l.w, l.wshape, k)
					one, err := s.Score(f.Tree, k, wi, w)
					if err != nil || relDiff(one, got[k]) > 1e-12 {
						t.Errorf("%s/%s channel %d: Score %v (%v), ScoreAll %v", lname, f.Name, k, one, err, got[k])
					}
				}
			}
		}
	}
}

func TestFastRandomTreesMatchDirect(t *testing.T) {
	fastMatchesDirectOnRandomTrees(t, rand.New(rand.NewPCG(31, 32)), Operands, 1500, false)
}

// TestFastRandomExtendedTreesMatchDirect: the same over the extended operand set, with
// gamma, beta and G given to both evaluators.
func TestFastRandomExtendedTreesMatchDirect(t *testing.T) {
	fastMatchesDirectOnRandomTrees(t, rand.New(rand.NewPCG(33, 34)), OperandSet(true), 600, true)
}

// fastMatchesDirectOnRandomTrees scores random trees over ops (mostly valid ones) with
// both evaluators in every standard space: same errors, same finite scores.
func fastMatchesDirectOnRandomTrees(t *testing.T, r *rand.Rand, ops []Op, trees int, ext bool) {
	t.Helper()
	compared, errBoth, finiteDiffer := 0, 0, 0
	for _, sp := range Spaces() {
		src := spaceLayer(r, sp) // for its weight shape and D
		d := len(src.x[0])
		l := randMultiLayer(r, []int{8, 10, 13}, src.wshape[0], d, src.wshape, false)
		if ext {
			l = l.withExtended(r, false)
		}
		s := l.stats(t, false)
		for i := 0; i < trees; i++ {
			n := randTreeFrom(r, 1+r.IntN(5), ops)
			if _, err := CheckIn(n, sp); err != nil && r.IntN(4) != 0 {
				continue // mostly valid trees, some invalid ones
			}
			if rep, err := Cost(n, spaceSizes(sp)); err == nil && rep.Ops > 2e6 {
				continue
			}
			want, werrs := l.directAll(t, n)
			argmin := dataGeoMedian(n)
			for k := 0; k < l.c; k++ {
				wi, w, _ := FilterOperands(l.w, l.wshape, k)
				g, gerr := s.Score(n, k, wi, w)
				werr := werrs[k]
				if (werr != nil && !errors.Is(werr, ErrNonFinite)) != (gerr != nil && !errors.Is(gerr, ErrNonFinite)) {
					t.Fatalf("%s %s channel %d: direct %v (%v), fast %v (%v)", sp.Name, n, k, want[k], werr, g, gerr)
				}
				if werr != nil && !errors.Is(werr, ErrNonFinite) {
					errBoth++
					continue
				}
				w0 := want[k]
				if finite(w0) != finite(g) && !argmin {
					finiteDiffer++
				}
				if !finite(w0) || !finite(g) || argmin {
					continue // non-finite either way: reported, value not compared
				}
				if relDiff(g, w0) > 1e-9 && math.Abs(g-w0) > 1e-9 {
					t.Errorf("%s %s channel %d: fast %.17g, direct %.17g", sp.Name, n, k, g, w0)
				}
				compared++
			}
		}
	}
	t.Logf("%d channel scores compared, %d failed in both, %d finite in one only", compared, errBoth, finiteDiffer)
	if finiteDiffer > compared/1000 {
		t.Errorf("%d scores finite in one evaluator only", finiteDiffer)
	}
	if compared < trees*4/3 {
		t.Errorf("only %d comparisons", compared)
	}
}

func TestFastNonFiniteAndMissingOperands(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	l := randMultiLayer(r, []int{6, 7}, 3, 4, []int{3, 2, 1, 1}, false)
	s := l.stats(t, false)
	bad := mustParse(t, "div(g_mean(P), sub(g_mean(P), g_mean(P)))")
	v, err := s.ScoreAll(bad, nil, nil)
	if !errors.Is(err, ErrNonFinite) || len(v) != 3 {
		t.Errorf("non-finite: %v, %v", v, err)
	}
	l1, _ := Lookup("l1")
	if _, err := s.ScoreAll(l1.Tree, nil, nil); !errors.Is(err, ErrOperand) {
		t.Errorf("missing filters: %v", err)
	}
	if _, err := s.Score(l1.Tree, 3, Value{}, Value{}); err == nil {
		t.Error("channel out of range accepted")
	}
	if _, err := s.ScoreAll(l1.Tree, l.w, []int{4, 2, 1, 1}); err == nil {
		t.Error("filter bank of the wrong channel count accepted")
	}
	// Constructor checks, as ClassEnvs.
	if _, err := NewLayerStats(l.feat, l.n, l.c, l.d, l.labels[1:], nil); err == nil {
		t.Error("label count mismatch accepted")
	}
	if _, err := NewLayerStats(l.feat[1:], l.n, l.c, l.d, l.labels, nil); err == nil {
		t.Error("wrong feature count accepted")
	}
	if _, err := NewLayerStats(l.feat, l.n, l.c, l.d, l.labels, []int{10, 99}); err == nil {
		t.Error("class without samples accepted")
	}
	if _, err := NewLayerStats(l.feat, l.n, l.c, l.d, make([]int, l.n), nil); err == nil {
		t.Error("single class accepted")
	}
	// Explicit classes: a subset sums only those classes, Q still holds all others.
	s2, err := NewLayerStats(l.feat, l.n, l.c, l.d, l.labels, []int{11})
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := Lookup("abs_snr")
	got, err := s2.Score(abs.Tree, 1, Value{}, Value{})
	want, werr := Score(abs.Tree, l.channel(1), l.labels, []int{11}, Value{}, Value{})
	if err != nil || werr != nil || relDiff(got, want) > 1e-12 {
		t.Errorf("class subset: %v (%v), direct %v (%v)", got, err, want, werr)
	}
}

// TestFastMaterialisesOnlyWhenNeeded: reductions of P, Q, X use the statistics; other
// operators on them build the matrix once per channel (X) or class (P, Q).
func TestFastMaterialisesOnlyWhenNeeded(t *testing.T) {
	r := rand.New(rand.NewPCG(51, 52))
	l := randMultiLayer(r, []int{6, 7, 9}, 2, 5, []int{2, 2, 1, 1}, false)
	s := l.stats(t, false)
	for src, want := range map[string]int64{
		"add(add(num(X), mean(Q)), add(sum(P), std(X)))": 0,
		"add(var(X), g_mean(mX))":                        0,
		"sum(abs(X))":                                    2,     // once per channel
		"sum(abs(P))":                                    2 * 3, // per channel and class
		"add(sum(abs(P)), sum(pow2(P)))":                 2 * 3,
	} {
		before := s.materialised.Load()
		if _, err := s.ScoreAll(mustParse(t, src), nil, nil); err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if got := s.materialised.Load() - before; got != want {
			t.Errorf("%s: %d matrices materialised, want %d", src, got, want)
		}
	}
}

// dataGeoMedian reports whether the tree applies geo_median to a value computed from the
// feature maps: its argmin can then pick another slice when two candidates tie up to
// rounding (sums accumulated in another order), so values are not compared.
func dataGeoMedian(n *Node) bool {
	if n == nil {
		return false
	}
	if n.Op == OpGeoMedian {
		for _, op := range []Op{OpP, OpQ, OpN, OpX, OpMX, OpMP, OpMQ, OpGamma, OpBeta, OpG} {
			if n.Uses(op) {
				return true
			}
		}
	}
	for _, a := range n.Args {
		if dataGeoMedian(a) {
			return true
		}
	}
	return false
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// TestFastScatterAndSpecialTrees compares hand-picked trees, including the scatter
// shortcut mmul(tran(B), B) and its fall-backs, with the direct evaluator.
func TestFastScatterAndSpecialTrees(t *testing.T) {
	r := rand.New(rand.NewPCG(81, 82))
	for _, l := range []multiLayer{
		randMultiLayer(r, []int{9, 12, 7}, 3, 5, []int{3, 2, 2, 1}, false),
		randMultiLayer(r, []int{9, 12, 7}, 3, 1, []int{3, 4}, false),
	} {
		s := l.stats(t, false)
		for _, src := range []string{
			"trace(mmul(tran(P), P))",
			"sum(mmul(tran(sub(X, mX)), sub(X, mX)))",
			"sum(mmul(tran(mX), mX))",
			"sum(mmul(tran(N), N))",
			"sum(mmul(tran(WI), WI))",
			"sum(mmul(tran(W), W))",
			"sum(mmul(tran(mean(Q)), mean(Q)))",
			"trace(inv(mmul(tran(Q), Q)))",
			"trace(mmul(P, tran(P)))",
			"trace(mmul(tran(Q), P))",
			"trace(mmul(mP, tran(P)))",
			"trace(mmul(out_dot(mQ, mP), mmul(tran(P), P)))",
			"trace(mmul(P, N))",
			"sum(P)", "mean(X)", "num(Q)", "std(X)", "X",
		} {
			n := mustParse(t, src)
			want, werrs := l.directAll(t, n)
			for k := 0; k < l.c; k++ {
				wi, w, _ := FilterOperands(l.w, l.wshape, k)
				got, err := s.Score(n, k, wi, w)
				if (err == nil) != (werrs[k] == nil) {
					t.Fatalf("d=%d %s channel %d: fast %v (%v), direct %v (%v)", l.d, src, k, got, err, want[k], werrs[k])
				}
				if err == nil && relDiff(got, want[k]) > 1e-9 {
					t.Errorf("d=%d %s channel %d: fast %.17g, direct %.17g", l.d, src, k, got, want[k])
				}
			}
		}
	}
}
