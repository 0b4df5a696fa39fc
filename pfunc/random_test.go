package pfunc

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

// randTree grows a random tree of height at most depth over the paper's operands, like
// DEAP's genGrow: below the root each node is a leaf with probability 1/3.
func randTree(r *rand.Rand, depth int) *Node { return randTreeFrom(r, depth, Operands) }

// randTreeFrom is randTree drawing leaves from ops (OperandSet(true) for the extended
// space).
func randTreeFrom(r *rand.Rand, depth int, ops []Op) *Node {
	if depth == 0 || r.IntN(3) == 0 {
		return Leaf(ops[r.IntN(len(ops))])
	}
	op := Operators[r.IntN(len(Operators))]
	args := make([]*Node, op.Arity())
	for i := range args {
		args[i] = randTreeFrom(r, depth-1, ops)
	}
	return Call(op, args...)
}

// spaceLayer is test data whose sizes are generic for the space: no size is 1 unless the
// space fixes it, and the sizes differ from each other (Kh != Kw, Nc != Nq, D != Cin ...).
func spaceLayer(r *rand.Rand, s Space) layer {
	counts := []int{8, 10, 13} // N = 31; Nq = 23, 21, 18
	switch s.Name {
	case SpaceConv.Name:
		return randLayer(r, counts, 6, []int{5, 4, 3, 2}, 1) // D 6, Cout 5, Cin 4, Kh 3, Kw 2
	case SpaceConvUnitKernel.Name:
		return randLayer(r, counts, 6, []int{5, 4, 1, 1}, 1)
	case SpaceConvUnitMaps.Name:
		return randLayer(r, counts, 1, []int{5, 4, 3, 2}, 1)
	}
	return randLayer(r, counts, 1, []int{5, 7}, 1) // fc: Cout 5, FanIn 7
}

// spaceSizes are spaceLayer's sizes for the cost model.
func spaceSizes(s Space) Sizes {
	z := Sizes{N: 31, Classes: 3, D: 6, Cin: 4, Kh: 3, Kw: 2, Cout: 5}
	switch s.Name {
	case SpaceConvUnitKernel.Name:
		z.Kh, z.Kw = 1, 1
	case SpaceConvUnitMaps.Name:
		z.D = 1
	case SpaceFC.Name:
		z = Sizes{N: 31, Classes: 3, D: 1, FC: true, FanIn: 7, Cout: 5}
	}
	return z
}

// concrete evaluates a static type at the data's sizes for one class.
func concrete(t Type, vals [numSyms]int) []int {
	out := make([]int, len(t.Dims))
	for i, d := range t.Dims {
		out[i] = int(d.eval(vals))
	}
	return out
}

// TestRandomTreesAgreeWithTypes is the type checker's soundness test: every random
// tree the checker accepts in a space evaluates on that space's data without a shape
// error, to exactly the kind and shape the checker predicted, for every class; nothing
// panics on any tree, accepted or not.
func TestRandomTreesAgreeWithTypes(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	accepted := checkRandomTypes(t, r, Operands, 4000, false)
	if accepted < 1000 {
		t.Errorf("only %d accepted trees: the generator or checker is too strict", accepted)
	}
}

// TestRandomExtendedTreesAgreeWithTypes is the same over the extended operand set, with
// gamma, beta and G supplied; the default generator never draws them.
func TestRandomExtendedTreesAgreeWithTypes(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	for i := 0; i < 2000; i++ {
		if n := randTree(r, 1+r.IntN(5)); n.UsesExtended() {
			t.Fatalf("the paper-space generator drew %s", n)
		}
	}
	ops := OperandSet(true)
	if len(ops) != len(Operands)+len(ExtendedOperands) {
		t.Fatalf("OperandSet(true) = %v", ops)
	}
	if accepted := checkRandomTypes(t, r, ops, 2000, true); accepted < 500 {
		t.Errorf("only %d accepted trees", accepted)
	}
}

// checkRandomTypes draws trees per standard space from ops and checks them as
// TestRandomTreesAgreeWithTypes describes; ext supplies the extended operands to the
// evaluator. It returns how many accepted trees were evaluated.
func checkRandomTypes(t *testing.T, r *rand.Rand, ops []Op, trees int, ext bool) int {
	t.Helper()
	accepted, rejectedButRan, extended := 0, 0, 0
	for _, sp := range Spaces() {
		l := spaceLayer(r, sp)
		if ext {
			l = withExtended(r, l)
		}
		envs := l.envs(t)
		sizes := spaceSizes(sp)
		for i := 0; i < trees; i++ {
			n := randTreeFrom(r, 1+r.IntN(5), ops)
			_ = Infix(n)
			_ = LaTeX(n)
			_ = Canonical(n)
			ty, err := CheckIn(n, sp)
			if err != nil {
				var te *TypeError
				if !errors.As(err, &te) || te.Reason == "" {
					t.Fatalf("%s: error without reason: %v", n, err)
				}
				// Evaluate rejected trees too (if cheap): they must fail cleanly.
				if _, terr := TypeOf(n, sp); terr != nil {
					if _, cerr := Cost(n, sizes); cerr == nil {
						t.Fatalf("%s: Cost typed a tree TypeOf rejects: %v", n, terr)
					}
				}
				if _, serr := ScoreEnvs(n, envs); serr == nil {
					rejectedButRan++
				}
				continue
			}
			rep, cerr := Cost(n, sizes)
			if cerr != nil {
				t.Fatalf("%s: cost: %v", n, cerr)
			}
			if rep.Ops > 2e6 {
				continue
			}
			accepted++
			if n.UsesExtended() {
				extended++
			}
			for ci := range envs {
				v, err := Eval(n, &envs[ci])
				if err != nil && !errors.Is(err, ErrNumeric) {
					t.Fatalf("%s space, %s: accepted as %v but eval failed: %v", sp.Name, n, ty, err)
				}
				if err != nil {
					continue
				}
				var vals [numSyms]int
				vals[SymN], vals[SymNc], vals[SymNq] = len(l.x), envs[ci].P.Shape[0], envs[ci].Q.Shape[0]
				vals[SymD] = len(l.x[0])
				if len(l.wshape) == 4 {
					vals[SymCout], vals[SymCin], vals[SymKh], vals[SymKw] = l.wshape[0], l.wshape[1], l.wshape[2], l.wshape[3]
				} else {
					vals[SymCout], vals[SymFanIn] = l.wshape[0], l.wshape[1]
				}
				if want := concrete(ty, vals); v.Kind != ty.Kind || !sameShape(v.Shape, want) {
					t.Fatalf("%s space, %s: type %v = %v %v, eval gave %v %v", sp.Name, n, ty, ty.Kind, want, v.Kind, v.Shape)
				}
			}
			if _, err := ScoreEnvs(n, envs); err != nil && !errors.Is(err, ErrNonFinite) && !errors.Is(err, ErrNumeric) {
				t.Fatalf("%s space, %s: accepted but Score failed: %v", sp.Name, n, err)
			}
		}
	}
	t.Logf("%d accepted trees evaluated (%d with extended operands); %d rejected trees happened to evaluate at the test sizes", accepted, extended, rejectedButRan)
	if ext && extended < accepted/4 {
		t.Errorf("only %d of %d accepted trees use extended operands", extended, accepted)
	}
	return accepted
}

// TestSimplifyAndCanonicalPreserveScores: rewriting never changes a valid tree's type or
// (finite) score.
func TestSimplifyAndCanonicalPreserveScores(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	l := spaceLayer(r, SpaceConv)
	envs := l.envs(t)
	checked := 0
	for i := 0; i < 6000 && checked < 800; i++ {
		n := randTree(r, 1+r.IntN(5))
		ty, err := Check(n)
		if err != nil {
			continue
		}
		if rep, err := Cost(n, spaceSizes(SpaceConv)); err != nil || rep.Ops > 1e6 {
			continue
		}
		want, err := ScoreEnvs(n, envs)
		if err != nil {
			continue
		}
		checked++
		for name, m := range map[string]*Node{"simplified": Simplify(n), "canonical": Canonical(n)} {
			ty2, err := Check(m)
			if err != nil || !ty2.Equal(ty) {
				t.Fatalf("%s %s of %s: type %v (%v), want %v", name, m, n, ty2, err, ty)
			}
			got, err := ScoreEnvs(m, envs)
			if err != nil || relDiff(got, want) > 1e-9 && math.Abs(got-want) > 1e-9 {
				t.Fatalf("%s %s of %s: score %v (%v), want %v", name, m, n, got, err, want)
			}
			back, err := ParseWithConstants(Prefix(m))
			if err != nil || !back.Equal(m) {
				t.Fatalf("%s %s does not round-trip: %v", name, m, err)
			}
		}
		c := Canonical(n)
		if cc := Canonical(c); !cc.Equal(c) {
			t.Fatalf("Canonical not idempotent: %s -> %s -> %s", n, c, cc)
		}
	}
	if checked < 300 {
		t.Errorf("only %d trees checked", checked)
	}
}
