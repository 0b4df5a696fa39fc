package gp

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"

	"github.com/evoprune/evoprune/pfunc"
)

// Reason classifies why a tree is invalid.
type Reason string

// The reasons Toolbox.Valid reports, in the order it checks them.
const (
	ReasonMalformed Reason = "malformed"  // nil node, wrong arity, unknown op
	ReasonDepth     Reason = "depth"      // deeper than MaxDepth
	ReasonSize      Reason = "size"       // more nodes than MaxSize
	ReasonType      Reason = "type"       // fails pfunc.Check
	ReasonCost      Reason = "cost"       // over CostBudget at some CostSizes
	ReasonNonFinite Reason = "non-finite" // no finite score on TestInput (NaN, ±Inf or an evaluation error)
)

// InvalidError says why a tree may not enter a population.
type InvalidError struct {
	Reason Reason
	Err    error
}

// Error formats the reason with its detail.
func (e *InvalidError) Error() string {
	return fmt.Sprintf("gp: invalid tree (%s): %v", e.Reason, e.Err)
}

// Unwrap exposes the underlying pfunc error.
func (e *InvalidError) Unwrap() error { return e.Err }

// TestLayer is one synthetic layer of TestInput: the per-class operands of one channel.
type TestLayer struct {
	Name string
	Envs []pfunc.Env
}

// The test input's fixed seed: it must not depend on a run's seed, so that validity is
// a property of the tree alone.
const testInputSeed = 0x6770_7465_7374 // "gptest"

var testInput = sync.OnceValue(func() []TestLayer {
	r := rand.New(rand.NewPCG(testInputSeed, 1))
	// Unequal class counts make Nc differ between classes (and from D, Cin, ...), so that
	// shape accidents show; post-ReLU-like values (non-negative, some exact zeros) are
	// what real feature maps look like. Three classes, 35 samples.
	counts := []int{9, 12, 14}
	conv := testLayer(r, "conv", counts, 6, []int{5, 4, 3, 2})
	fc := testLayer(r, "fc", counts, 1, []int{5, 7})
	return []TestLayer{conv, fc}
})

// TestInput is the fixed small synthetic input on which RequireFinite demands a finite
// score, like the reference's check on a slice of MNIST pixels and a random filter bank.
// It holds two layers, so that a tree must score both kinds the fitness tasks score:
// a convolution (D = 6 feature-map values, 5 filters of 4 x 3 x 2) and a fully connected
// layer (D = 1, 5 nodes of fan-in 7), each with 35 samples of 3 classes, and the
// extended operands (BN gamma 0.8, beta 0.1, random loss gradients). The layers are
// built once from a fixed seed; callers must not modify them.
func TestInput() []TestLayer { return testInput() }

func testLayer(r *rand.Rand, name string, counts []int, d int, wshape []int) TestLayer {
	var x [][]float64
	var labels []int
	for c, n := range counts {
		shift := 0.5 + 0.4*float64(c)
		for i := 0; i < n; i++ {
			row := make([]float64, d)
			for j := range row {
				row[j] = math.Max(0, shift+(0.7+0.2*float64(c))*r.NormFloat64())
			}
			x = append(x, row)
			labels = append(labels, c)
		}
	}
	n := 1
	for _, s := range wshape {
		n *= s
	}
	w := make([]float64, n)
	for i := range w {
		w[i] = r.NormFloat64() * 0.3
	}
	wi, bank, err := pfunc.FilterOperands(w, wshape, 1)
	if err != nil {
		panic("gp: test input: " + err.Error()) // fixed shapes: cannot happen
	}
	envs, err := pfunc.ClassEnvs(x, labels, nil, wi, bank)
	if err != nil {
		panic("gp: test input: " + err.Error())
	}
	grads := make([][]float64, len(x))
	for i := range grads {
		grads[i] = make([]float64, d)
		for j := range grads[i] {
			grads[i][j] = 0.01 * r.NormFloat64()
		}
	}
	if err := pfunc.AddExtended(envs, &pfunc.BN{Gamma: 0.8, Beta: 0.1}, grads); err != nil {
		panic("gp: test input: " + err.Error())
	}
	return TestLayer{Name: name, Envs: envs}
}

// Valid reports whether tree may enter a population, or an *InvalidError saying why
// not. Cheap checks come first, so that most invalid trees are rejected before any
// evaluation.
func (tb *Toolbox) Valid(tree *pfunc.Node) error {
	c := &tb.cfg
	if err := tree.Validate(); err != nil {
		return &InvalidError{ReasonMalformed, err}
	}
	if d := tree.Depth(); d > c.MaxDepth {
		return &InvalidError{ReasonDepth, fmt.Errorf("depth %d exceeds max_depth %d", d, c.MaxDepth)}
	}
	if s := tree.Size(); s > c.MaxSize {
		return &InvalidError{ReasonSize, fmt.Errorf("%d nodes exceed max_size %d", s, c.MaxSize)}
	}
	if _, err := pfunc.Check(tree); err != nil {
		return &InvalidError{ReasonType, err}
	}
	for i, s := range c.CostSizes {
		if err := pfunc.CheckCost(tree, s, c.CostBudget); err != nil {
			return &InvalidError{ReasonCost, fmt.Errorf("cost_sizes[%d]: %w", i, err)}
		}
	}
	if c.RequireFinite {
		for _, l := range TestInput() {
			if _, err := pfunc.ScoreEnvs(tree, l.Envs); err != nil {
				return &InvalidError{ReasonNonFinite, fmt.Errorf("test input %s layer: %w", l.Name, err)}
			}
		}
	}
	return nil
}

// reasonOf extracts the Reason of a Valid error.
func reasonOf(err error) Reason {
	var ie *InvalidError
	if errors.As(err, &ie) {
		return ie.Reason
	}
	return ReasonMalformed
}
