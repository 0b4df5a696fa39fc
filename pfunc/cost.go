package pfunc

import (
	"errors"
	"fmt"
)

// Sizes are a layer's concrete dimensions, for the cost model.
type Sizes struct {
	N       int // samples
	Classes int // classes summed over (Nc is taken as N/Classes, rounded up)
	D       int // values per feature map (1 for a fully connected layer)
	FC      bool
	Cin     int // convolution: input channels, kernel height and width
	Kh, Kw  int
	FanIn   int // fully connected: inputs per node
	Cout    int // active channels of the layer
}

func (s Sizes) validate() error {
	if s.Classes < 2 || s.N < 2*s.Classes {
		return fmt.Errorf("pfunc: cost sizes need at least 2 classes and 2 samples per class, got N=%d, %d classes", s.N, s.Classes)
	}
	if s.D < 1 && !s.FC || s.Cout < 1 {
		return fmt.Errorf("pfunc: cost sizes need D >= 1 and Cout >= 1, got D=%d, Cout=%d", s.D, s.Cout)
	}
	return nil
}

func (s Sizes) values() [numSyms]int {
	var v [numSyms]int
	c := max(s.Classes, 1)
	nc := (s.N + c - 1) / c
	v[SymN], v[SymNc], v[SymNq] = s.N, nc, max(s.N-nc, 1)
	v[SymD], v[SymCin], v[SymKh], v[SymKw] = s.D, s.Cin, s.Kh, s.Kw
	v[SymCout], v[SymFanIn] = s.Cout, s.FanIn
	if s.FC {
		v[SymD] = 1
	}
	for i := range v {
		v[i] = max(v[i], 1)
	}
	return v
}

// space is the Space whose shape rules hold at these sizes: sizes of 1 are fixed to 1,
// because operators such as mean branch on them.
func (s Sizes) space() Space {
	sp := Space{Name: "sizes", FC: s.FC}
	v := s.values()
	for i, x := range v {
		if x == 1 {
			sp.Ones = append(sp.Ones, Sym(i))
		}
	}
	return sp
}

// CostReport is the cost model's estimate for one channel: arithmetic operations of the
// direct definition, all classes, and the node that dominates.
type CostReport struct {
	Ops          float64 // estimated operations, all classes
	Dominant     Path    // the most expensive node
	DominantOp   Op
	DominantCost float64 // its operations, all classes
}

// Cost estimates the operations needed to score one channel with the direct definition:
// per class, elementwise operators cost one operation per result entry, reductions one
// per input entry (std and var three), mmul m*k*n per matrix product (N x D by D x N is
// N*N*D), out_dot one per entry, inv d^3 per d x d block (the SVD's constant factor is
// left out), geo_median n*n*s for n filters of s entries; then times the classes. Leaves
// cost nothing: the operands are built once per channel. The tree must type-check at the
// sizes (an error says why not).
func Cost(n *Node, s Sizes) (CostReport, error) {
	if err := s.validate(); err != nil {
		return CostReport{}, err
	}
	sp := s.space()
	memo := map[*Node]typeResult{}
	if _, err := typeAt(n, sp, nil, memo); err != nil {
		return CostReport{}, err
	}
	vals := s.values()
	size := func(t Type) float64 {
		p := 1.0
		for _, d := range t.Dims {
			p *= d.eval(vals)
		}
		return p
	}
	classes := float64(max(s.Classes, 1))
	var rep CostReport
	var walk func(m *Node, path Path)
	walk = func(m *Node, path Path) {
		for i, a := range m.Args {
			walk(a, append(path[:len(path):len(path)], i))
		}
		if m.Op.IsLeaf() {
			return
		}
		out := memo[m].t
		args := make([]Type, len(m.Args))
		for i, a := range m.Args {
			args[i] = memo[a].t
		}
		c := nodeCost(m.Op, args, out, size, vals) * classes
		rep.Ops += c
		if c > rep.DominantCost || rep.Dominant == nil {
			rep.Dominant, rep.DominantOp, rep.DominantCost = append(Path{}, path...), m.Op, c
		}
	}
	walk(n, nil)
	return rep, nil
}

func nodeCost(op Op, args []Type, out Type, size func(Type) float64, vals [numSyms]int) float64 {
	in := size(args[0])
	switch op {
	case OpGMean, OpSum, OpMean:
		return in
	case OpStd, OpVar:
		return 3 * in
	case OpNum:
		return 1
	case OpTrace:
		if args[0].Rank() < 2 {
			return 1
		}
		return minDimValue(args[0], vals) * in / (args[0].Dims[0].eval(vals) * args[0].Dims[1].eval(vals))
	case OpInv:
		if args[0].Rank() < 2 || args[0].IsScalar() {
			return 1
		}
		r := out.Rank()
		m, k := out.Dims[r-2].eval(vals), out.Dims[r-1].eval(vals)
		return size(out) * min(m, k)
	case OpGeoMedian:
		nf := args[0].Dims[args[0].Rank()-1].eval(vals)
		return nf * in
	case OpMmul:
		if args[0].IsScalar() || args[1].IsScalar() || args[0].Rank() == 0 || args[1].Rank() == 0 {
			return size(out)
		}
		a := args[0]
		k := a.Dims[a.Rank()-1].min(args[1].Dims[0]).eval(vals)
		return size(out) * k
	}
	return max(size(out), 1)
}

func minDimValue(t Type, vals [numSyms]int) float64 {
	m := t.Dims[0].eval(vals)
	for _, d := range t.Dims[1:] {
		m = min(m, d.eval(vals))
	}
	return m
}

// ErrOverBudget is wrapped by CheckCost's error.
var ErrOverBudget = errors.New("over the cost budget")

// CheckCost rejects a tree whose estimated cost at the sizes exceeds budget operations,
// naming the dominant node, so that callers can skip trees too slow to evaluate.
func CheckCost(n *Node, s Sizes, budget float64) error {
	rep, err := Cost(n, s)
	if err != nil {
		return err
	}
	if rep.Ops > budget {
		return fmt.Errorf("pfunc: estimated %.3g operations, budget %.3g (%s at %v costs %.3g): %w",
			rep.Ops, budget, rep.DominantOp, []int(rep.Dominant), rep.DominantCost, ErrOverBudget)
	}
	return nil
}
