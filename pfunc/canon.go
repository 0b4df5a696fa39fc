package pfunc

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
)

// Canonical returns the simplified tree in a normal form, so that trees equal up to
// commutativity and associativity print the same:
//
//   - chains of add (including rho1, rho5 and constant additions) are flattened, their
//     constants summed into one final term, the other terms sorted by their prefix text
//     and re-added left to right; np.add broadcasts symmetrically, so any order gives the
//     same shape;
//   - mmul with a scalar operand is np.multiply, so it becomes mul;
//   - chains of mul with at most one non-scalar factor (in every space) are flattened
//     and sorted the same way, constants multiplied into one final factor; a mul of two
//     vectors is sorted too (its truncation is symmetric). Other mul nodes keep their
//     order: mul(P, mX) is valid but mul(mX, P) generally is not.
//
// Reordering changes rounding in the last place only. A tree that fails Validate is
// returned unchanged.
func Canonical(n *Node) *Node {
	if n.Validate() != nil {
		return n
	}
	c := &canonizer{simplifier: simplifier{ty: newTyping()}}
	return c.canon(Simplify(n))
}

// Hash identifies a tree up to the equivalences Canonical applies: the hex SHA-256 of
// its canonical prefix form.
func Hash(n *Node) string {
	sum := sha256.Sum256([]byte(Prefix(Canonical(n))))
	return hex.EncodeToString(sum[:])
}

type canonizer struct {
	simplifier
}

func (c *canonizer) canon(n *Node) *Node {
	if n == nil || n.Op.IsLeaf() || len(n.Args) != n.Op.Arity() {
		return n
	}
	m := &Node{Op: n.Op, Args: make([]*Node, len(n.Args))}
	for i, a := range n.Args {
		m.Args[i] = c.canon(a)
	}
	if m.Op == OpMmul && (c.ty.scalar(m.Args[0]) || c.ty.scalar(m.Args[1])) {
		m.Op = OpMul
	}
	switch {
	case m.Op == OpAdd || m.Op == OpRho1 || m.Op == OpRho5:
		return c.addChain(m)
	case m.Op == OpMul:
		return c.mulChain(m)
	}
	return c.rewrite(m)
}

// addChain flattens, sorts and rebuilds a sum.
func (c *canonizer) addChain(m *Node) *Node {
	var terms []*Node
	constant, hasConst := 0.0, false
	var collect func(n *Node)
	collect = func(n *Node) {
		switch {
		case n.Op == OpAdd:
			collect(n.Args[0])
			collect(n.Args[1])
		case n.Op == OpRho1 || n.Op == OpRho5:
			collect(n.Args[0])
			_, k, _ := constAdd(n)
			constant, hasConst = constant+k, true
		case n.Op == OpConst:
			constant, hasConst = constant+n.Value, true
		default:
			terms = append(terms, n)
		}
	}
	collect(m)
	if len(terms) == 0 {
		return c.rewrite(m)
	}
	sum := c.rebuild(OpAdd, terms)
	if !hasConst {
		return sum
	}
	return c.makeConstAdd(sum, constant)
}

// mulChain flattens and sorts a product when the reordering is exact.
func (c *canonizer) mulChain(m *Node) *Node {
	var factors []*Node
	var collect func(n *Node)
	collect = func(n *Node) {
		if n.Op == OpMul {
			collect(n.Args[0])
			collect(n.Args[1])
			return
		}
		factors = append(factors, n)
	}
	collect(m)
	nonScalar := 0
	for _, f := range factors {
		if !c.ty.scalar(f) {
			nonScalar++
		}
	}
	if nonScalar > 1 {
		x, y := m.Args[0], m.Args[1]
		vector := func(t Type) bool { return t.Kind == Array && t.Rank() == 1 }
		if c.ty.all(x, vector) && c.ty.all(y, vector) && Prefix(y) < Prefix(x) {
			m = Call(OpMul, y, x)
		}
		return c.rewrite(m)
	}
	var rest []*Node
	product, hasConst := 1.0, false
	for _, f := range factors {
		if f.Op == OpConst {
			product, hasConst = product*f.Value, true
		} else {
			rest = append(rest, f)
		}
	}
	if len(rest) == 0 {
		return c.rewrite(m)
	}
	out := c.rebuild(OpMul, rest)
	if hasConst {
		out = c.rewrite(Call(OpMul, out, Const(product)))
	}
	return out
}

// rebuild sorts terms by their prefix text and combines them left to right.
func (c *canonizer) rebuild(op Op, terms []*Node) *Node {
	keys := make([]string, len(terms))
	idx := make([]int, len(terms))
	for i, t := range terms {
		keys[i], idx[i] = Prefix(t), i
	}
	sort.SliceStable(idx, func(a, b int) bool { return keys[idx[a]] < keys[idx[b]] })
	out := terms[idx[0]]
	for _, i := range idx[1:] {
		out = c.rewrite(Call(op, out, terms[i]))
	}
	return out
}
