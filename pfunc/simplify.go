package pfunc

import "math"

// typing caches the types of subtrees in every standard space; rewrites consult it so
// that they never change a value's kind or shape, which would change the score (a D-vector
// sums D entries, a scalar one) or a tree's validity.
type typing struct {
	spaces []Space
	memos  []map[*Node]typeResult
}

func newTyping() *typing {
	t := &typing{spaces: Spaces()}
	for range t.spaces {
		t.memos = append(t.memos, map[*Node]typeResult{})
	}
	return t
}

// all reports whether pred holds for n's type in every space (false if n is ill-typed
// in any).
func (t *typing) all(n *Node, pred func(Type) bool) bool {
	for i, s := range t.spaces {
		ty, err := typeAt(n, s, nil, t.memos[i])
		if err != nil || !pred(ty) {
			return false
		}
	}
	return true
}

// scalar: np.isscalar holds everywhere, so NumPy's plain elementwise functions apply.
func (t *typing) scalar(n *Node) bool { return t.all(n, Type.IsScalar) }

// survivesUfunc: x + 0 (or x * 1) has exactly x's kind and shape everywhere. It fails
// for Python numbers and 0-d arrays, which come back from NumPy as NumPy scalars.
func (t *typing) survivesUfunc(n *Node) bool {
	return t.all(n, func(ty Type) bool { return ty.Kind == Scalar || ty.Kind == Array && ty.Rank() > 0 })
}

// Simplify returns an equivalent, usually smaller tree (n is not modified):
//
//   - constant folding: an operator whose arguments are all constants becomes a constant
//     when the result is a finite scalar (out_dot, mean, num and geo_median of constants
//     are left alone: they are arrays or invalid);
//   - sub(x, x) -> 0 and div(x, x) -> 1 when x is a scalar in every space (for arrays the
//     result would be an array of zeros or ones, which sums differently);
//   - constant additions merge: rho1(rho1(x)) -> add(x, 0.0002), add(rho5(x), 1) ->
//     add(x, 1.05); a merged constant of exactly 1e-4 or 0.05 prints as rho1 or rho5;
//   - identities add(x, 0), sub(x, 0), mul(x, 1), mmul(x, 1), div(x, 1) -> x when x keeps
//     its kind and shape through the NumPy call.
//
// Caveats: the identities are exact for finite values, but where the reference would
// compute NaN the simplified tree may not: x - x is NaN and x / x is NaN when x is ±Inf
// or NaN, and x / x is NaN when x = 0, so such a tree scores NaN (and is rejected) in the
// reference but 0 or 1 here. Merging constants changes rounding in the last place.
// A tree that fails Validate is returned unchanged.
func Simplify(n *Node) *Node {
	if n.Validate() != nil {
		return n
	}
	s := &simplifier{ty: newTyping()}
	return s.simplify(n)
}

type simplifier struct {
	ty *typing
}

func (s *simplifier) simplify(n *Node) *Node {
	if n == nil || n.Op.IsLeaf() || len(n.Args) != n.Op.Arity() {
		return n
	}
	m := &Node{Op: n.Op, Args: make([]*Node, len(n.Args))}
	for i, a := range n.Args {
		m.Args[i] = s.simplify(a)
	}
	return s.rewrite(m)
}

// rewrite applies the local rules to a node whose children are already simplified.
func (s *simplifier) rewrite(m *Node) *Node {
	if v, ok := foldConst(m); ok {
		return Const(v)
	}
	if len(m.Args) == 2 {
		x, y := m.Args[0], m.Args[1]
		switch {
		case m.Op == OpSub && x.Equal(y) && s.ty.scalar(x):
			return Const(0)
		case m.Op == OpDiv && x.Equal(y) && s.ty.scalar(x):
			return Const(1)
		}
		if id, ok := s.identity(m); ok {
			return id
		}
	}
	if base, c, ok := constAdd(m); ok {
		if inner, c2, ok2 := constAdd(base); ok2 {
			total := c
			for ok2 {
				total = c2 + total
				base = inner
				inner, c2, ok2 = constAdd(base)
			}
			return s.makeConstAdd(base, total)
		}
	}
	return m
}

// identity removes a neutral constant operand.
func (s *simplifier) identity(m *Node) (*Node, bool) {
	x, y := m.Args[0], m.Args[1]
	isConst := func(n *Node, v float64) bool { return n.Op == OpConst && n.Value == v }
	var keep *Node
	switch m.Op {
	case OpAdd:
		if isConst(y, 0) {
			keep = x
		} else if isConst(x, 0) {
			keep = y
		}
	case OpSub, OpDiv:
		if isConst(y, map[Op]float64{OpSub: 0, OpDiv: 1}[m.Op]) {
			keep = x
		}
	case OpMul, OpMmul:
		if isConst(y, 1) {
			keep = x
		} else if isConst(x, 1) {
			keep = y
		}
	}
	if keep != nil && s.ty.survivesUfunc(keep) {
		return keep, true
	}
	return nil, false
}

// constAdd splits x + c forms: rho1(x), rho5(x), add(x, c), add(c, x).
func constAdd(n *Node) (base *Node, c float64, ok bool) {
	if n == nil || len(n.Args) != n.Op.Arity() {
		return nil, 0, false
	}
	switch n.Op {
	case OpRho1:
		return n.Args[0], 1e-4, true
	case OpRho5:
		return n.Args[0], 0.05, true
	case OpAdd:
		if n.Args[1].Op == OpConst && n.Args[0].Op != OpConst {
			return n.Args[0], n.Args[1].Value, true
		}
		if n.Args[0].Op == OpConst && n.Args[1].Op != OpConst {
			return n.Args[1], n.Args[0].Value, true
		}
	}
	return nil, 0, false
}

// makeConstAdd builds x + c in its preferred form.
func (s *simplifier) makeConstAdd(x *Node, c float64) *Node {
	switch {
	case x.Op == OpConst && !math.IsInf(x.Value+c, 0):
		return Const(x.Value + c)
	case c == 1e-4:
		return Call(OpRho1, x)
	case c == 0.05:
		return Call(OpRho5, x)
	case c == 0 && s.ty.survivesUfunc(x):
		return x
	}
	return Call(OpAdd, x, Const(c))
}

// foldConst evaluates an operator whose arguments are all constants (NumPy scalars), if
// the result is a finite scalar.
func foldConst(m *Node) (float64, bool) {
	if len(m.Args) == 0 {
		return 0, false
	}
	for _, a := range m.Args {
		if a == nil || a.Op != OpConst {
			return 0, false
		}
	}
	x := m.Args[0].Value
	var y float64
	if len(m.Args) == 2 {
		y = m.Args[1].Value
	}
	var v float64
	switch m.Op {
	case OpAdd:
		v = x + y
	case OpSub:
		v = x - y
	case OpMul, OpMmul:
		v = x * y
	case OpDiv:
		v = x / y
	case OpTrace, OpGMean, OpSum, OpTran:
		v = x
	case OpInv:
		v = 1 / x
	case OpStd, OpVar:
		v = 0
	case OpAbs:
		v = math.Abs(x)
	case OpPow2:
		v = x * x
	case OpSqrt:
		v = math.Sqrt(x)
	case OpRho1:
		v = x + 1e-4
	case OpRho5:
		v = x + 0.05
	default:
		return 0, false
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false
	}
	return v, true
}
