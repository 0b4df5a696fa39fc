package pfunc

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestExtendedOperandsInTheLanguage(t *testing.T) {
	for _, op := range ExtendedOperands {
		if !op.IsOperand() || !op.IsLeaf() || !op.IsExtended() || op.Arity() != 0 {
			t.Errorf("%s: not an extended leaf operand", op)
		}
		if got, ok := LookupOp(op.String()); !ok || got != op {
			t.Errorf("LookupOp(%s) = %v, %v", op, got, ok)
		}
	}
	for _, op := range Operands {
		if op.IsExtended() {
			t.Errorf("paper operand %s reported extended", op)
		}
	}
	if len(Operands) != 9 || len(OperandSet(false)) != 9 {
		t.Error("the paper's operand set changed")
	}
	for _, c := range []struct{ src, typ, infix, latex string }{
		{"gamma", "scalar", "γ", `\gamma`},
		{"beta", "scalar", "β", `\beta`},
		{"G", "matrix[N × D]", "G", "G"},
		{"abs(trace(mmul(tran(X), G)))", "scalar", "|tr(Xᵀ @ G)|", `\left|\operatorname{tr}\left({X}^{\top}\,G\right)\right|`},
		{"div(pow2(gamma), rho1(beta))", "scalar", "γ² / (β + 1e-4)", `\frac{{\gamma}^{2}}{\beta + 10^{-4}}`},
	} {
		n := mustParse(t, c.src)
		if !n.UsesExtended() {
			t.Errorf("%s: UsesExtended false", c.src)
		}
		if got := Prefix(n); got != c.src {
			t.Errorf("prefix round trip %s -> %s", c.src, got)
		}
		ty, err := Check(n)
		if err != nil || ty.String() != c.typ {
			t.Errorf("%s: type %v (%v), want %s", c.src, ty, err, c.typ)
		}
		if got := Infix(n); got != c.infix {
			t.Errorf("%s: infix %q, want %q", c.src, got, c.infix)
		}
		if got := LaTeX(n); got != c.latex {
			t.Errorf("%s: latex %q, want %q", c.src, got, c.latex)
		}
		if _, err := Cost(n, spaceSizes(SpaceConv)); err != nil {
			t.Errorf("%s: cost: %v", c.src, err)
		}
	}
	if mustParse(t, "add(P, mX)").UsesExtended() {
		t.Error("a paper tree reported extended")
	}
	// Canonical form and hash treat the new leaves like the others.
	if Hash(mustParse(t, "add(gamma, beta)")) != Hash(mustParse(t, "add(beta, gamma)")) {
		t.Error("add is not commutative for the hash")
	}
	if Hash(mustParse(t, "add(gamma, beta)")) == Hash(mustParse(t, "add(gamma, gamma)")) {
		t.Error("gamma and beta hash alike")
	}
	if got := Prefix(Simplify(mustParse(t, "add(sub(gamma, gamma), div(beta, beta))"))); got != "1" {
		t.Errorf("simplify: %s", got)
	}
	// G is a matrix: x - x is not folded (it would sum differently).
	if got := Prefix(Simplify(mustParse(t, "sum(sub(G, G))"))); got != "sum(sub(G, G))" {
		t.Errorf("simplify folded a matrix: %s", got)
	}
	_, err := Parse("abs(Gamma)")
	if err == nil || !strings.Contains(err.Error(), "did you mean gamma") {
		t.Errorf("misspelt gamma: %v", err)
	}
	if _, err := Parse("nope"); err == nil || !strings.Contains(err.Error(), "extended: gamma, beta, G") {
		t.Errorf("unknown name: %v", err)
	}
}

// TestExtendedOperandsMissing: a tree that uses an extended operand the caller did not
// give fails with ErrOperand in both evaluators, never panics; the others still score.
func TestExtendedOperandsMissing(t *testing.T) {
	r := rand.New(rand.NewPCG(71, 72))
	l := randMultiLayer(r, []int{6, 7}, 3, 4, []int{3, 2, 1, 1}, false)
	full := l.withExtended(r, false)
	usesBN := []string{"abs(gamma)", "add(beta, g_mean(P))", "sum(mul(P, beta))"}
	usesG := []string{"sum(G)", "abs(trace(mmul(tran(X), G)))", "trace(mmul(tran(G), G))"}
	plain := mustParse(t, "div(g_mean(P), rho1(std(Q)))")

	s := l.stats(t, false)
	wi, w, _ := FilterOperands(l.w, l.wshape, 1)
	envs, err := ClassEnvs(l.channel(1), l.labels, nil, wi, w)
	if err != nil {
		t.Fatal(err)
	}
	expectMissing := func(label, src string, fastOnly bool) {
		t.Helper()
		n := mustParse(t, src)
		if _, err := s.ScoreAll(n, l.w, l.wshape); !errors.Is(err, ErrOperand) {
			t.Errorf("%s: fast %s: %v, want ErrOperand", label, src, err)
		} else if !strings.Contains(err.Error(), "SetExtended") {
			t.Errorf("%s: fast %s: error does not say how to supply it: %v", label, src, err)
		}
		if fastOnly {
			return
		}
		if _, err := ScoreEnvs(n, envs); !errors.Is(err, ErrOperand) {
			t.Errorf("%s: direct %s: %v, want ErrOperand", label, src, err)
		}
	}
	for _, src := range append(append([]string(nil), usesBN...), usesG...) {
		expectMissing("nothing given", src, false)
	}
	if _, err := s.ScoreAll(plain, nil, nil); err != nil {
		t.Errorf("plain tree: %v", err)
	}
	// BN only: G trees still fail, BN trees score.
	if err := s.SetExtended(full.gamma, full.beta, nil); err != nil {
		t.Fatal(err)
	}
	if err := AddExtended(envs, &BN{Gamma: full.gamma[1], Beta: full.beta[1]}, nil); err != nil {
		t.Fatal(err)
	}
	for _, src := range usesG {
		expectMissing("BN only", src, false)
	}
	for _, src := range usesBN {
		if _, err := s.ScoreAll(mustParse(t, src), nil, nil); err != nil {
			t.Errorf("BN only: %s: %v", src, err)
		}
	}
	// Gradients only: BN trees fail, G trees score.
	if err := s.SetExtended(nil, nil, full.grads); err != nil {
		t.Fatal(err)
	}
	for _, src := range usesBN {
		expectMissing("gradients only", src, true)
	}
	for _, src := range usesG {
		if _, err := s.ScoreAll(mustParse(t, src), nil, nil); err != nil {
			t.Errorf("gradients only: %s: %v", src, err)
		}
	}
}

func TestExtendedOperandsBadInput(t *testing.T) {
	r := rand.New(rand.NewPCG(73, 74))
	l := randMultiLayer(r, []int{6, 7}, 3, 4, []int{3, 2, 1, 1}, false).withExtended(r, false)
	s := l.stats(t, false)
	g32 := make([]float32, len(l.grads))
	for _, c := range []struct {
		name string
		err  error
	}{
		{"gamma without beta", s.SetExtended(l.gamma, nil, nil)},
		{"beta without gamma", s.SetExtended(nil, l.beta, nil)},
		{"short gamma", s.SetExtended(l.gamma[:2], l.beta, nil)},
		{"short beta", s.SetExtended(l.gamma, l.beta[:2], nil)},
		{"short gradients", s.SetExtended(nil, nil, l.grads[1:])},
		{"long gradients (float32)", s.SetExtended32(nil, nil, append(g32, 0))},
	} {
		if c.err == nil {
			t.Errorf("SetExtended accepted %s", c.name)
		}
	}
	if err := s.SetExtended32(l.gamma, l.beta, g32); err != nil {
		t.Errorf("valid float32 gradients: %v", err)
	}
	wi, w, _ := FilterOperands(l.w, l.wshape, 0)
	envs, err := ClassEnvs(l.channel(0), l.labels, nil, wi, w)
	if err != nil {
		t.Fatal(err)
	}
	rows := l.gradRows(0)
	short := append([][]float64(nil), rows...)
	short[3] = short[3][1:]
	for name, err := range map[string]error{
		"no envs":          AddExtended(nil, &BN{}, nil),
		"too few rows":     AddExtended(envs, nil, rows[1:]),
		"a row too short":  AddExtended(envs, nil, short),
		"a row of nothing": AddExtended(envs, nil, append(rows[1:], nil)),
	} {
		if err == nil {
			t.Errorf("AddExtended accepted %s", name)
		}
	}
}

// TestFastTaylorStatistic: trace(mmul(tran(X), G)) and its mirror come from the x·g
// sums SetExtended computes, whatever the storage types of features and gradients,
// without materialising a matrix, and give exactly the direct evaluator's value;
// look-alike trees take the normal path.
func TestFastTaylorStatistic(t *testing.T) {
	r := rand.New(rand.NewPCG(75, 76))
	// float32-representable values, so that every storage type holds the same numbers.
	l := randMultiLayer(r, []int{9, 11, 7}, 4, 6, []int{4, 2, 1, 1}, true).withExtended(r, true)
	f32 := make([]float32, len(l.feat))
	g32 := make([]float32, len(l.grads))
	for i := range f32 {
		f32[i], g32[i] = float32(l.feat[i]), float32(l.grads[i])
	}
	build := map[string]func() (*LayerStats, error){
		"f64/g64": func() (*LayerStats, error) {
			s, err := NewLayerStats(l.feat, l.n, l.c, l.d, l.labels, nil)
			if err == nil {
				err = s.SetExtended(l.gamma, l.beta, l.grads)
			}
			return s, err
		},
		"f64/g32": func() (*LayerStats, error) {
			s, err := NewLayerStats(l.feat, l.n, l.c, l.d, l.labels, nil)
			if err == nil {
				err = s.SetExtended32(l.gamma, l.beta, g32)
			}
			return s, err
		},
		"f32/g64": func() (*LayerStats, error) {
			s, err := NewLayerStats32(f32, l.n, l.c, l.d, l.labels, nil)
			if err == nil {
				err = s.SetExtended(l.gamma, l.beta, l.grads)
			}
			return s, err
		},
		"f32/g32": func() (*LayerStats, error) {
			s, err := NewLayerStats32(f32, l.n, l.c, l.d, l.labels, nil)
			if err == nil {
				err = s.SetExtended32(l.gamma, l.beta, g32)
			}
			return s, err
		},
	}
	for name, mk := range build {
		s, err := mk()
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			src             string
			streamed, exact bool
		}{
			{"abs(trace(mmul(tran(X), G)))", true, true},
			{"trace(mmul(tran(G), X))", true, true},
			// std(P) comes from the statistics: equal to rounding only.
			{"add(trace(mmul(tran(X), G)), std(P))", true, false},
			{"trace(mmul(tran(G), G))", false, false},
			{"trace(mmul(tran(X), X))", false, false},
			{"trace(mmul(tran(P), G))", false, false},
			{"trace(mmul(X, tran(G)))", false, false},
		} {
			n := mustParse(t, c.src)
			want, werrs := l.directAll(t, n)
			before := s.materialised.Load()
			got, err := s.ScoreAll(n, nil, nil)
			if err != nil {
				t.Fatalf("%s %s: %v", name, c.src, err)
			}
			if m := s.materialised.Load() - before; (m == 0) != c.streamed {
				t.Errorf("%s %s: %d matrices materialised, streamed %v", name, c.src, m, c.streamed)
			}
			for k := range got {
				if werrs[k] != nil {
					t.Fatalf("%s %s channel %d: direct: %v", name, c.src, k, werrs[k])
				}
				if c.exact && got[k] != want[k] || relDiff(got[k], want[k]) > 1e-12 {
					t.Errorf("%s %s channel %d: fast %.17g, direct %.17g", name, c.src, k, got[k], want[k])
				}
			}
		}
	}
}
