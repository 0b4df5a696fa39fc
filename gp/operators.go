package gp

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"

	"github.com/evoprune/evoprune/pfunc"
)

// ErrNoCrossoverPoint: the two trees have no pair of points to swap (a tree is a single
// leaf, or, typed, no non-root subtrees of equal type). Retrying cannot help.
var ErrNoCrossoverPoint = errors.New("gp: no crossover point")

// CrossoverOnePoint is one attempt of DEAP's one-point subtree crossover: it picks a
// non-root point in each tree uniformly and swaps the subtrees there, returning the two
// offspring (the parents are not modified; unchanged parts are shared). Typed, it first
// picks uniformly a type (signature) that both trees have at some non-root point, as
// DEAP's typed cxOnePoint does, then a point of that type in each tree, so the offspring
// type-check wherever the parents did. The points are returned too. It returns
// ErrNoCrossoverPoint when there is nothing to swap.
func CrossoverOnePoint(rng *rand.Rand, a, b *pfunc.Node, typed bool) (x, y *pfunc.Node, pa, pb pfunc.Path, err error) {
	sa, sb := a.Subtrees()[1:], b.Subtrees()[1:]
	if len(sa) == 0 || len(sb) == 0 {
		return a, b, nil, nil, ErrNoCrossoverPoint
	}
	var ia, ib int
	if !typed {
		ia, ib = rng.IntN(len(sa)), rng.IntN(len(sb))
	} else {
		byA, byB := bySignature(sa), bySignature(sb)
		var common []string
		for sig := range byA {
			if _, ok := byB[sig]; ok {
				common = append(common, sig)
			}
		}
		if len(common) == 0 {
			return a, b, nil, nil, ErrNoCrossoverPoint
		}
		sort.Strings(common) // map order is random; the draw must not be
		sig := common[rng.IntN(len(common))]
		ia = byA[sig][rng.IntN(len(byA[sig]))]
		ib = byB[sig][rng.IntN(len(byB[sig]))]
	}
	pa, pb = sa[ia].Path, sb[ib].Path
	return a.Replace(pa, sb[ib].Node), b.Replace(pb, sa[ia].Node), pa, pb, nil
}

// bySignature groups subtree indices by signature, skipping ill-typed subtrees.
func bySignature(subs []pfunc.Subtree) map[string][]int {
	m := map[string][]int{}
	for i, s := range subs {
		if sig := signature(s.Node); sig != "" {
			m[sig] = append(m[sig], i)
		}
	}
	return m
}

// MutateUniform is one attempt of DEAP's uniform subtree mutation with a full tree: it
// picks a point of the tree uniformly (the root included), draws a height uniformly in
// minHeight..maxHeight and replaces the subtree at the point with a full random tree of
// that height (RandomTypedTree if typed, else RandomTree). It returns the offspring (the
// parent is not modified) and the point, where the inserted tree now is. A nil tree or
// an empty primitive set leaves the tree unchanged (nil point).
func MutateUniform(rng *rand.Rand, ps PrimitiveSet, tree *pfunc.Node, minHeight, maxHeight int, typed bool) (*pfunc.Node, pfunc.Path) {
	subs := tree.Subtrees()
	if len(subs) == 0 || ps.empty() {
		return tree, nil
	}
	minHeight = max(minHeight, 0)
	maxHeight = max(maxHeight, minHeight)
	p := subs[rng.IntN(len(subs))].Path
	h := minHeight + rng.IntN(maxHeight-minHeight+1)
	return tree.Replace(p, grow(rng, ps, h, true, typed)), p
}

// Toolbox binds a checked Config to the operators, DEAP style: the GP loop calls
// tb.Crossover, tb.Mutate and tb.Valid without passing settings around. It is immutable
// and safe for concurrent use.
type Toolbox struct {
	cfg   Config
	prims PrimitiveSet
	seeds []pfunc.Func
}

// NewToolbox checks the configuration (Config.Validate) and that every seed is itself
// valid under it (so that limits too tight for the seeds fail here, not mid-run).
func NewToolbox(cfg Config) (*Toolbox, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ps, err := cfg.primitives()
	if err != nil {
		return nil, err
	}
	cfg.Seeds = append([]string(nil), cfg.Seeds...)
	cfg.CostSizes = append([]pfunc.Sizes(nil), cfg.CostSizes...)
	tb := &Toolbox{cfg: cfg, prims: ps}
	for i, name := range cfg.Seeds {
		f, _ := pfunc.Lookup(name) // Validate checked the names
		if err := tb.Valid(f.Tree); err != nil {
			return nil, fmt.Errorf("gp: config: seeds[%d] (%s) is not valid under the configured limits: %w", i, name, err)
		}
		tb.seeds = append(tb.seeds, f)
	}
	return tb, nil
}

// Config returns a copy of the toolbox's configuration.
func (tb *Toolbox) Config() Config {
	c := tb.cfg
	c.Seeds = append([]string(nil), c.Seeds...)
	c.CostSizes = append([]pfunc.Sizes(nil), c.CostSizes...)
	return c
}

// Primitives returns the primitive set trees are grown from.
func (tb *Toolbox) Primitives() PrimitiveSet {
	return PrimitiveSet{
		Terminals: append([]pfunc.Op(nil), tb.prims.Terminals...),
		Operators: append([]pfunc.Op(nil), tb.prims.Operators...),
	}
}

// Crossover applies one-point crossover to a and b until both offspring are valid, at
// most MaxRetries tries, each from the original parents (the reference's retry rule,
// with a cap). It returns the offspring and the number of tries; if no try succeeds it
// returns the parents unchanged and the last reason as an error (ErrNoCrossoverPoint
// at once if there is nothing to swap).
func (tb *Toolbox) Crossover(rng *rand.Rand, a, b *pfunc.Node) (x, y *pfunc.Node, tries int, err error) {
	return tb.crossover(rng, a, b, nil)
}

func (tb *Toolbox) crossover(rng *rand.Rand, a, b *pfunc.Node, st *Stats) (x, y *pfunc.Node, tries int, err error) {
	for tries < tb.cfg.MaxRetries {
		tries++
		var cerr error
		x, y, _, _, cerr = CrossoverOnePoint(rng, a, b, tb.cfg.Typed)
		if cerr != nil {
			return a, b, tries, cerr
		}
		err = tb.Valid(x)
		if err == nil {
			err = tb.Valid(y)
		}
		if err == nil {
			return x, y, tries, nil
		}
		st.reject(err)
	}
	return a, b, tries, fmt.Errorf("gp: crossover failed %d times, parents kept: %w", tries, err)
}

// Mutate applies uniform subtree mutation (MutateUniform with the configured heights)
// until the offspring is valid, at most MaxRetries tries, each from the original parent.
// It returns the offspring and the number of tries; if no try succeeds it returns the
// parent unchanged and the last reason as an error.
func (tb *Toolbox) Mutate(rng *rand.Rand, tree *pfunc.Node) (*pfunc.Node, int, error) {
	return tb.mutate(rng, tree, nil)
}

func (tb *Toolbox) mutate(rng *rand.Rand, tree *pfunc.Node, st *Stats) (*pfunc.Node, int, error) {
	var err error
	tries := 0
	for tries < tb.cfg.MaxRetries {
		tries++
		child, _ := MutateUniform(rng, tb.prims, tree, tb.cfg.MutMinHeight, tb.cfg.MutMaxHeight, tb.cfg.Typed)
		if err = tb.Valid(child); err == nil {
			return child, tries, nil
		}
		st.reject(err)
	}
	return tree, tries, fmt.Errorf("gp: mutation failed %d times, parent kept: %w", tries, err)
}

// RandomTree grows a random tree with the toolbox's primitives (typed if Config.Typed),
// without the validity check; see RandomValidTree.
func (tb *Toolbox) RandomTree(rng *rand.Rand, height int, full bool) *pfunc.Node {
	return grow(rng, tb.prims, height, full, tb.cfg.Typed)
}

// RandomValidTree grows random trees of the given height and method until one is valid,
// at most 100 * MaxRetries attempts (random trees are valid far less often than the
// offspring of valid parents).
func (tb *Toolbox) RandomValidTree(rng *rand.Rand, height int, full bool) (*pfunc.Node, error) {
	var err error
	attempts := 100 * tb.cfg.MaxRetries
	for i := 0; i < attempts; i++ {
		t := tb.RandomTree(rng, height, full)
		if err = tb.Valid(t); err == nil {
			return t, nil
		}
	}
	return nil, fmt.Errorf("gp: no valid random tree of height %d (full %v) in %d attempts; last: %w", height, full, attempts, err)
}
