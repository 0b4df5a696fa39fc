package gp

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/evoprune/evoprune/pfunc"
)

func mustParse(t testing.TB, s string) *pfunc.Node {
	t.Helper()
	n, err := pfunc.ParseWithConstants(s)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return n
}

func mustToolbox(t testing.TB, cfg Config) *Toolbox {
	t.Helper()
	tb, err := NewToolbox(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

// independentlyValid re-derives validity from pfunc directly, not through Toolbox.Valid.
func independentlyValid(t *testing.T, cfg Config, n *pfunc.Node) {
	t.Helper()
	if n.Depth() > cfg.MaxDepth || n.Size() > cfg.MaxSize {
		t.Fatalf("%s: depth %d size %d beyond limits %d, %d", n, n.Depth(), n.Size(), cfg.MaxDepth, cfg.MaxSize)
	}
	if _, err := pfunc.Check(n); err != nil {
		t.Fatalf("%s: does not type-check: %v", n, err)
	}
	for _, s := range cfg.CostSizes {
		rep, err := pfunc.Cost(n, s)
		if err != nil || rep.Ops > cfg.CostBudget {
			t.Fatalf("%s: cost %v (%v) over budget %v", n, rep.Ops, err, cfg.CostBudget)
		}
	}
	for _, l := range TestInput() {
		if _, err := pfunc.ScoreEnvs(n, l.Envs); err != nil {
			t.Fatalf("%s: no finite score on the %s test layer: %v", n, l.Name, err)
		}
	}
}

// TestOperatorsKeepTreesValid: from valid parents, the retrying operators only ever
// return valid trees, never modify the parents, and usually succeed.
func TestOperatorsKeepTreesValid(t *testing.T) {
	for _, typed := range []bool{false, true} {
		cfg := DefaultConfig()
		cfg.Typed = typed
		cfg.MaxDepth, cfg.MaxSize = 10, 40 // tight enough that the limits bind
		tb := mustToolbox(t, cfg)
		rng := rand.New(rand.NewPCG(11, uint64(len(cfg.Seeds))))
		var pool []*pfunc.Node
		for _, name := range cfg.Seeds {
			f, _ := pfunc.Lookup(name)
			pool = append(pool, f.Tree)
		}
		failures, ops := 0, 0
		for trial := 0; trial < 600; trial++ {
			a, b := pool[rng.IntN(len(pool))], pool[rng.IntN(len(pool))]
			pa, pb := a.String(), b.String()
			x, y, tries, err := tb.Crossover(rng, a, b)
			ops++
			if tries < 1 || tries > cfg.MaxRetries {
				t.Fatalf("crossover took %d tries, cap %d", tries, cfg.MaxRetries)
			}
			if err != nil {
				// A single-leaf parent (valid: mQ scores by the class means) has
				// nothing to swap; that is not the retry rule failing.
				if !errors.Is(err, ErrNoCrossoverPoint) {
					failures++
				}
				if x != a || y != b {
					t.Fatalf("failed crossover did not return the parents")
				}
			}
			m, mtries, merr := tb.Mutate(rng, x)
			ops++
			if mtries < 1 || mtries > cfg.MaxRetries {
				t.Fatalf("mutation took %d tries, cap %d", mtries, cfg.MaxRetries)
			}
			if merr != nil {
				failures++
			}
			if a.String() != pa || b.String() != pb {
				t.Fatalf("operators modified their parents: %s -> %s", pa, a)
			}
			for _, n := range []*pfunc.Node{x, y, m} {
				independentlyValid(t, cfg, n)
			}
			// Let the pool drift so that later trials vary evolved trees too.
			pool = append(pool, y, m)
			if len(pool) > 60 {
				pool = pool[len(pool)-60:]
			}
		}
		t.Logf("typed=%v: %d of %d operator calls kept the parents after %d tries", typed, failures, ops, cfg.MaxRetries)
		if failures > ops/50 {
			t.Errorf("typed=%v: %d of %d operator calls failed: the retry rule rarely finds valid offspring", typed, failures, ops)
		}
	}
}

// TestCrossoverGolden: the six possible one-point crossovers of l1 and l2, derived by
// hand, are exactly what CrossoverOnePoint produces; typed, only those swapping
// subtrees of the same type (the filter-shaped ones) occur.
func TestCrossoverGolden(t *testing.T) {
	a := mustParse(t, "sum(abs(WI))")
	b := mustParse(t, "sqrt(sum(pow2(WI)))")
	// Non-root points: a: abs(WI) [0], WI [0 0]; b: sum(pow2(WI)) [0], pow2(WI) [0 0], WI [0 0 0].
	all := map[string]bool{
		"sum(sum(pow2(WI)))|sqrt(abs(WI))": false, // [0] x [0]: scalar for array
		"sum(pow2(WI))|sqrt(sum(abs(WI)))": true,  // [0] x [0 0]
		"sum(WI)|sqrt(sum(pow2(abs(WI))))": true,  // [0] x [0 0 0]
		"sum(abs(sum(pow2(WI))))|sqrt(WI)": false, // [0 0] x [0]: scalar for array
		"sum(abs(pow2(WI)))|sqrt(sum(WI))": true,  // [0 0] x [0 0]
		"sum(abs(WI))|sqrt(sum(pow2(WI)))": true,  // [0 0] x [0 0 0]: WI for WI
	}
	for _, typed := range []bool{false, true} {
		rng := rand.New(rand.NewPCG(3, 4))
		seen := map[string]int{}
		for i := 0; i < 600; i++ {
			x, y, pa, pb, err := CrossoverOnePoint(rng, a, b, typed)
			if err != nil {
				t.Fatal(err)
			}
			key := x.String() + "|" + y.String()
			sameType, ok := all[key]
			if !ok {
				t.Fatalf("typed=%v: unexpected offspring %s", typed, key)
			}
			if typed && !sameType {
				t.Fatalf("typed crossover swapped subtrees of different types: %s", key)
			}
			// The returned points say where the swapped subtrees now are.
			if !x.At(pa).Equal(b.At(pb)) || !y.At(pb).Equal(a.At(pa)) {
				t.Fatalf("points %v %v do not hold the swapped subtrees in %s", pa, pb, key)
			}
			seen[key]++
		}
		for key, sameType := range all {
			if (sameType || !typed) && seen[key] == 0 {
				t.Errorf("typed=%v: offspring %s never produced", typed, key)
			}
		}
		if a.String() != "sum(abs(WI))" || b.String() != "sqrt(sum(pow2(WI)))" {
			t.Fatal("crossover modified its parents")
		}
	}
	if _, _, _, _, err := CrossoverOnePoint(rand.New(rand.NewPCG(1, 1)), pfunc.Leaf(pfunc.OpP), b, false); !errors.Is(err, ErrNoCrossoverPoint) {
		t.Errorf("leaf parent: err %v, want ErrNoCrossoverPoint", err)
	}
	// Typed, g_mean(P) (a scalar) and mX... (vectors only) have no common type.
	if _, _, _, _, err := CrossoverOnePoint(rand.New(rand.NewPCG(1, 1)), mustParse(t, "g_mean(P)"), mustParse(t, "abs(mX)"), true); !errors.Is(err, ErrNoCrossoverPoint) {
		t.Errorf("no common type: err %v, want ErrNoCrossoverPoint", err)
	}
}

// fullHeight returns h if every leaf of n is at depth h, else -1.
func fullHeight(n *pfunc.Node) int {
	if len(n.Args) == 0 {
		return 0
	}
	h := fullHeight(n.Args[0])
	for _, a := range n.Args[1:] {
		if fullHeight(a) != h {
			return -1
		}
	}
	if h < 0 {
		return -1
	}
	return h + 1
}

// TestMutationHeights: the inserted tree is full, of a height within the bounds, and
// every height occurs; the rest of the tree is the parent's.
func TestMutationHeights(t *testing.T) {
	parent := mustParse(t, "div(abs(sub(g_mean(P), g_mean(Q))), rho1(add(std(P), std(Q))))")
	ps := DefaultPrimitives()
	for _, typed := range []bool{false, true} {
		for _, bounds := range [][2]int{{0, 4}, {2, 3}, {1, 1}} {
			rng := rand.New(rand.NewPCG(5, 6))
			heights := map[int]int{}
			for i := 0; i < 500; i++ {
				child, p := MutateUniform(rng, ps, parent, bounds[0], bounds[1], typed)
				ins := child.At(p)
				h := fullHeight(ins)
				if h < bounds[0] || h > bounds[1] {
					t.Fatalf("typed=%v bounds %v: inserted %s has height %d", typed, bounds, ins, h)
				}
				heights[h]++
				if !child.Replace(p, parent.At(p)).Equal(parent) {
					t.Fatalf("mutation at %v changed more than the subtree: %s -> %s", p, parent, child)
				}
			}
			for h := bounds[0]; h <= bounds[1]; h++ {
				if heights[h] == 0 {
					t.Errorf("typed=%v bounds %v: height %d never drawn (%v)", typed, bounds, h, heights)
				}
			}
		}
	}
	if c, p := MutateUniform(rand.New(rand.NewPCG(1, 1)), PrimitiveSet{}, parent, 0, 4, false); c != parent || p != nil {
		t.Errorf("empty primitive set changed the tree")
	}
}

// TestRandomTrees: full trees are full at the asked height, grown ones no higher; typed
// growth gives well-typed trees far more often than untyped growth.
func TestRandomTrees(t *testing.T) {
	ps := DefaultPrimitives()
	rng := rand.New(rand.NewPCG(8, 9))
	typedOK, untypedOK := 0, 0
	const n = 400
	for i := 0; i < n; i++ {
		h := i % 5
		for _, typed := range []bool{false, true} {
			f := grow(rng, ps, h, true, typed)
			if fullHeight(f) != h {
				t.Fatalf("full tree %s of height %d is not full at that height", f, h)
			}
			if g := grow(rng, ps, h, false, typed); g.Depth() > h {
				t.Fatalf("grown tree %s deeper than %d", g, h)
			}
			if wellTyped(f) {
				if typed {
					typedOK++
				} else {
					untypedOK++
				}
			}
		}
	}
	t.Logf("well-typed full trees: typed growth %d/%d, untyped %d/%d", typedOK, n, untypedOK, n)
	if typedOK < 9*n/10 || typedOK <= untypedOK {
		t.Errorf("typed growth: %d/%d well-typed (untyped %d)", typedOK, n, untypedOK)
	}
	if RandomTree(rng, PrimitiveSet{}, 3, true) != nil {
		t.Error("empty primitive set gave a tree")
	}
}

// TestRetryCap: when no offspring can be valid, each operator gives up after exactly
// MaxRetries tries and returns the parents, and the rejections are counted.
func TestRetryCap(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxRetries = 7
	// Two copies of a chain of 21 nodes, one over MaxSize 20: swapping the subtrees at
	// depths i and j gives sizes 21+i-j and 21+j-i, so one offspring is too large.
	cfg.MaxSize, cfg.MaxDepth = 20, 45
	cfg.Seeds = []string{"l1"}
	cfg.SeedCopies = 1
	cfg.Population = 1
	cfg.Elites = 1
	tb := mustToolbox(t, cfg)
	chain := pfunc.Leaf(pfunc.OpWI)
	for i := 0; i < 20; i++ {
		chain = pfunc.Call(pfunc.OpAbs, chain)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var st Stats
	x, y, tries, err := tb.crossover(rng, chain, chain.Copy(), &st)
	if err == nil || tries != cfg.MaxRetries || x != chain || st.Rejected[ReasonSize] != cfg.MaxRetries {
		t.Fatalf("crossover: tries %d (cap %d), err %v, parents kept %v, rejected %v", tries, cfg.MaxRetries, err, x == chain && y != nil, st.Rejected)
	}
	var ie *InvalidError
	if !errors.As(err, &ie) || ie.Reason != ReasonSize {
		t.Errorf("crossover error %v does not carry the size reason", err)
	}
	// Mutation inserting full trees of height 4 can never fit within depth 3.
	cfg.MaxDepth, cfg.MaxSize = 3, 100
	cfg.MutMinHeight, cfg.MutMaxHeight = 4, 4
	tb = mustToolbox(t, cfg)
	l1, _ := pfunc.Lookup("l1")
	st = Stats{}
	m, mtries, merr := tb.mutate(rng, l1.Tree, &st)
	if merr == nil || mtries != cfg.MaxRetries || m != l1.Tree || st.Rejected[ReasonDepth] != cfg.MaxRetries {
		t.Fatalf("mutation: tries %d (cap %d), err %v, rejected %v", mtries, cfg.MaxRetries, merr, st.Rejected)
	}
	if !strings.Contains(merr.Error(), "7 times") {
		t.Errorf("mutation error %q does not say how often it tried", merr)
	}
}

// TestValidReasons: each validity rule rejects what it should, with its reason.
func TestValidReasons(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxDepth = 9
	tb := mustToolbox(t, cfg)
	deep := "WI"
	for i := 0; i < 10; i++ {
		deep = "abs(" + deep + ")"
	}
	cases := []struct {
		expr string
		want Reason
	}{
		{"mul(mX, P)", ReasonType},                                     // truncation needs D <= Nc
		{"sub(P, Q)", ReasonType},                                      // shape depends on the class
		{"sum(out_dot(X, X))", ReasonCost},                             // (N*D)^2 entries
		{"div(g_mean(P), sub(g_mean(Q), g_mean(Q)))", ReasonNonFinite}, // division by zero
		{deep, ReasonDepth},
	}
	for _, c := range cases {
		err := tb.Valid(mustParse(t, c.expr))
		var ie *InvalidError
		if !errors.As(err, &ie) || ie.Reason != c.want {
			t.Errorf("%s: %v, want reason %s", c.expr, err, c.want)
		}
	}
	cfg.MaxSize = 5
	cfg.Seeds, cfg.SeedCopies = []string{"l1"}, 1
	cfg.Population, cfg.Elites = 1, 1
	tb = mustToolbox(t, cfg)
	if err := tb.Valid(mustParse(t, "sqrt(sum(pow2(sub(WI, geo_median(W)))))")); reasonOf(err) != ReasonSize {
		t.Errorf("7 nodes under max_size 5: %v", err)
	}
	// Every library function is valid under the defaults (the cost budget's promise),
	// extended operands included, and the non-finite check can be switched off.
	tb = mustToolbox(t, DefaultConfig())
	for _, f := range pfunc.Library() {
		if err := tb.Valid(f.Tree); err != nil {
			t.Errorf("library function %s invalid under the defaults: %v", f.Name, err)
		}
	}
	cfg = DefaultConfig()
	cfg.RequireFinite = false
	tb = mustToolbox(t, cfg)
	if err := tb.Valid(mustParse(t, "div(g_mean(P), sub(g_mean(Q), g_mean(Q)))")); err != nil {
		t.Errorf("require_finite off still rejects: %v", err)
	}
}

// TestExtendedOperands: off by default, no tree ever uses gamma, beta or G; on, the
// mutations draw them and the offspring stay valid (the test input supplies them).
func TestExtendedOperands(t *testing.T) {
	for _, ext := range []bool{false, true} {
		cfg := DefaultConfig()
		cfg.Extended = ext
		tb := mustToolbox(t, cfg)
		if got := len(tb.Primitives().Terminals); got != map[bool]int{false: 9, true: 12}[ext] {
			t.Fatalf("extended=%v: %d terminals", ext, got)
		}
		rng := rand.New(rand.NewPCG(21, 22))
		used := 0
		for i := 0; i < 300; i++ {
			f, _ := pfunc.Lookup(cfg.Seeds[i%len(cfg.Seeds)])
			m, _, err := tb.Mutate(rng, f.Tree)
			if err != nil {
				continue
			}
			independentlyValid(t, cfg, m)
			if m.UsesExtended() {
				used++
			}
		}
		if ext && used == 0 || !ext && used > 0 {
			t.Errorf("extended=%v: %d of 300 mutants use extended operands", ext, used)
		}
	}
}
