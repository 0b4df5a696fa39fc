package pfunc

import (
	"errors"
	"fmt"
	"strings"
)

// Type is the static shape of a subtree's per-class value in one Space: its kind and
// symbolic sizes, e.g. a NumPy scalar, a vector of D or an Nc x D matrix.
type Type struct {
	Kind Kind
	Dims []Dim
}

func (t Type) shape() shapeOf[Dim] { return shapeOf[Dim]{kind: t.Kind, dims: t.Dims} }

func typeOfShape(s shapeOf[Dim]) Type { return Type{Kind: s.kind, Dims: s.dims} }

// Rank is the number of axes.
func (t Type) Rank() int { return len(t.Dims) }

// IsScalar reports whether the value is a NumPy scalar or a Python number (np.isscalar).
func (t Type) IsScalar() bool { return t.Kind.isScalar() }

// Equal reports whether two types are the same kind and sizes.
func (t Type) Equal(u Type) bool {
	if t.Kind != u.Kind || len(t.Dims) != len(u.Dims) {
		return false
	}
	for i := range t.Dims {
		if !t.Dims[i].eq(u.Dims[i]) {
			return false
		}
	}
	return true
}

// ClassInvariant reports whether the shape is the same for every class, the condition
// for the reference to sum the per-class values (np.sum(np.array(score_list))).
func (t Type) ClassInvariant() bool {
	for _, d := range t.Dims {
		if d.mentions(SymNc) || d.mentions(SymNq) {
			return false
		}
	}
	return true
}

// String names the shape: "scalar", "python number", "0-d array", "vector[D]",
// "matrix[Nc × D]" or "array[Kh × Kw × Cin]".
func (t Type) String() string {
	if len(t.Dims) == 0 {
		if t.Kind == Array {
			return "0-d array"
		}
		return t.Kind.String()
	}
	parts := make([]string, len(t.Dims))
	for i, d := range t.Dims {
		parts[i] = d.String()
	}
	name := "array"
	switch len(t.Dims) {
	case 1:
		name = "vector"
	case 2:
		name = "matrix"
	}
	return name + "[" + strings.Join(parts, " × ") + "]"
}

// Space is a family of layers the operands can come from: it fixes the operands' ranks
// and which sizes are 1. Sizes not fixed to 1 are generic: every other size > 1, no two
// symbols equal. Trees are checked in several spaces because the reference's NumPy
// semantics branch on sizes of 1 (mean, broadcasting) and on the filters' rank.
type Space struct {
	Name string
	FC   bool  // fully connected: WI is [FanIn], W is [FanIn, Cout], D = 1
	Ones []Sym // sizes that are 1 in this space
	// ManySamples assumes every class has at least D samples and D others (Nc, Nq >= D),
	// as in all of the reference's settings (full MNIST and CIFAR-10 training sets,
	// D <= 1024). Under it truncations such as min(Nc, D) resolve to D, and trees such as
	// mul(mX, P) or inv(P) become valid, as the reference found them. Off in the standard
	// spaces: whether such a tree evaluates depends on how many samples are scored.
	ManySamples bool
}

// The standard spaces Check uses.
var (
	// SpaceConv is a convolution with generic sizes (the reference's test input is one).
	SpaceConv = Space{Name: "conv"}
	// SpaceConvUnitKernel is a 1x1 convolution.
	SpaceConvUnitKernel = Space{Name: "conv-1x1-kernel", Ones: []Sym{SymKh, SymKw}}
	// SpaceConvUnitMaps is a convolution whose feature maps are 1x1 (D = 1).
	SpaceConvUnitMaps = Space{Name: "conv-1x1-maps", Ones: []Sym{SymD}}
	// SpaceFC is a fully connected layer: each node is a channel with D = 1.
	SpaceFC = Space{Name: "fc", FC: true, Ones: []Sym{SymD}}
)

// Spaces lists the standard spaces in the order Check tries them.
func Spaces() []Space {
	return []Space{SpaceConv, SpaceConvUnitKernel, SpaceConvUnitMaps, SpaceFC}
}

func (s Space) dim(sym Sym) Dim {
	d := symDim(sym)
	for _, o := range s.Ones {
		if o == sym {
			d = oneDim()
		}
	}
	d.manySamples = s.ManySamples
	return d
}

// OperandType is the type of an operand leaf (or a constant) in the space.
func (s Space) OperandType(op Op) (Type, bool) {
	d := s.dim
	switch op {
	case OpP:
		return Type{Array, []Dim{d(SymNc), d(SymD)}}, true
	case OpQ:
		return Type{Array, []Dim{d(SymNq), d(SymD)}}, true
	case OpX, OpG:
		return Type{Array, []Dim{d(SymN), d(SymD)}}, true
	case OpMX, OpMP, OpMQ:
		return Type{Array, []Dim{d(SymD)}}, true
	case OpN, OpConst, OpGamma, OpBeta:
		return Type{Kind: Scalar}, true
	case OpWI:
		if s.FC {
			return Type{Array, []Dim{d(SymFanIn)}}, true
		}
		return Type{Array, []Dim{d(SymKh), d(SymKw), d(SymCin)}}, true
	case OpW:
		if s.FC {
			return Type{Array, []Dim{d(SymFanIn), d(SymCout)}}, true
		}
		return Type{Array, []Dim{d(SymKh), d(SymKw), d(SymCin), d(SymCout)}}, true
	}
	return Type{}, false
}

// TypeError explains why a tree has no valid type: where, in which space, and what the
// reference's NumPy code would have failed on.
type TypeError struct {
	Space  string
	Path   Path
	Op     Op
	Reason string
}

// Error formats the error with its path and space.
func (e *TypeError) Error() string {
	return fmt.Sprintf("pfunc: type error in %s space at %s (%v): %s", e.Space, e.Op, []int(e.Path), e.Reason)
}

// TypeOf derives the type of the per-class value of tree n in space s, bottom-up. It
// does not apply the root rule (see CheckIn); use it for subtrees.
func TypeOf(n *Node, s Space) (Type, error) {
	return typeAt(n, s, nil, nil)
}

// typeAt types n; memo (optional) caches results per node.
func typeAt(n *Node, s Space, path Path, memo map[*Node]typeResult) (Type, error) {
	if memo != nil {
		if r, ok := memo[n]; ok {
			if r.err != nil {
				return Type{}, r.err
			}
			return r.t, nil
		}
	}
	t, err := typeAtUncached(n, s, path, memo)
	if memo != nil && n != nil {
		memo[n] = typeResult{t, err}
	}
	return t, err
}

type typeResult struct {
	t   Type
	err error
}

func typeAtUncached(n *Node, s Space, path Path, memo map[*Node]typeResult) (Type, error) {
	fail := func(op Op, format string, args ...any) (Type, error) {
		return Type{}, &TypeError{Space: s.Name, Path: append(Path(nil), path...), Op: op, Reason: fmt.Sprintf(format, args...)}
	}
	if n == nil {
		return fail(0, "missing node")
	}
	if !n.Op.Valid() || len(n.Args) != n.Op.Arity() {
		return fail(n.Op, "malformed node (%d arguments, wants %d)", len(n.Args), n.Op.Arity())
	}
	if n.Op.IsLeaf() {
		t, _ := s.OperandType(n.Op)
		return t, nil
	}
	args := make([]shapeOf[Dim], len(n.Args))
	for i, a := range n.Args {
		t, err := typeAt(a, s, append(path[:len(path):len(path)], i), memo)
		if err != nil {
			return Type{}, err
		}
		args[i] = t.shape()
	}
	var out shapeOf[Dim]
	var err error
	if len(args) == 1 {
		out, err = unaryShape(n.Op, args[0])
	} else {
		out, err = binaryShape(n.Op, args[0], args[1])
	}
	if err != nil {
		if len(args) == 1 {
			return fail(n.Op, "%v (argument: %v)", err, typeOfShape(args[0]))
		}
		return fail(n.Op, "%v (arguments: %v, %v)", err, typeOfShape(args[0]), typeOfShape(args[1]))
	}
	return typeOfShape(out), nil
}

// CheckIn types tree n in space s and applies the root rule: the reference sums the
// per-class values with np.sum(np.array(score_list)) and accepts the result if it is a
// finite scalar, which holds for any per-class array whose shape is the same for every
// class. So a tree is valid if it types and its shape does not depend on Nc or Nq; its
// score is the sum of all entries over all classes.
func CheckIn(n *Node, s Space) (Type, error) {
	t, err := TypeOf(n, s)
	if err != nil {
		return t, err
	}
	if !t.ClassInvariant() {
		return t, &TypeError{Space: s.Name, Path: Path{}, Op: n.Op,
			Reason: fmt.Sprintf("the per-class value is a %v whose shape depends on the class (Nc and Nq vary), so the classes' values cannot be summed", t)}
	}
	return t, nil
}

// Check accepts a tree if it is valid (CheckIn) in every standard space: the reference
// scores convolutions and fully connected layers with the same function, and a tree that
// fails on one of them fails its fitness evaluation. It returns the type in SpaceConv.
//
// Accepted trees evaluate on any data of those spaces without a shape error (the direct
// evaluator may still report a non-finite score, or a failed SVD of a NaN matrix).
// Rejected trees fail in the reference for some sizes; some of them evaluate for
// particular sizes (min(D, Cout) = Cout when Cout < D), which the reference's check on
// its single test input could have accepted.
func Check(n *Node) (Type, error) {
	var first Type
	for i, s := range Spaces() {
		t, err := CheckIn(n, s)
		if err != nil {
			var te *TypeError
			rich := s
			rich.ManySamples = true
			if _, err2 := CheckIn(n, rich); err2 == nil && errors.As(err, &te) {
				te.Reason += "; valid if every class has at least D samples and D others (Space.ManySamples)"
			}
			return t, err
		}
		if i == 0 {
			first = t
		}
	}
	return first, nil
}
