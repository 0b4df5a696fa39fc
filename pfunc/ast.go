package pfunc

import (
	"fmt"
	"math"
)

// Op is the kind of a tree node: one of the nine operands, one of the three extended
// operands, a numeric constant, or one of the 21 operators. The names (String) are the
// reference's primitive names.
//
// Shapes below are written in the reference layout; "scalar" means a NumPy scalar. Where
// an operator "truncates", it slices an axis to the smaller of the two sizes, as the
// reference's protective wrappers do, instead of failing.
type Op uint8

// Operands: the leaves of a tree. For channel k and class c (one-vs-rest):
const (
	// OpP is P, the rows of X whose label is c: an Nc x D matrix.
	OpP Op = iota + 1
	// OpQ is Q, the rows of X whose label is not c: an Nq x D matrix.
	OpQ
	// OpN is N, the number of class-c samples Nc: a scalar (an integer in the reference).
	OpN
	// OpX is X, all N samples of the channel's feature maps, each flattened: N x D.
	OpX
	// OpMX is mX, the column mean of X: a D-vector.
	OpMX
	// OpMP is mP, the column mean of P: a D-vector.
	OpMP
	// OpMQ is mQ, the column mean of Q: a D-vector.
	OpMQ
	// OpWI is WI, the channel's incoming filter: kh x kw x C_in for a convolution, a
	// fan_in vector for a fully connected node (the reference's TensorFlow layout).
	OpWI
	// OpW is W, the layer's filter bank over its active channels: kh x kw x C_in x C_out,
	// or fan_in x C_out for a fully connected layer (the last axis indexes filters).
	OpW
	// OpConst is a numeric constant. The reference primitive set has no constants; they
	// exist so that the simplifier can fold (Simplify, ParseWithConstants). A constant
	// behaves as a NumPy scalar (np.float64), so tran(c) = c.
	OpConst
)

// Extended operands, beyond the paper's space (see ExtendedOperands): with them
// criteria from outside the paper (network slimming, Taylor expansion) are trees of the
// same language, and evolution may combine them with the paper's operands. They are
// per channel, the same for every class.
const (
	// OpGamma is gamma, the scale of the batch normalisation that follows the channel: a
	// scalar (a NumPy scalar, as indexing a NumPy array gives).
	OpGamma Op = iota + 11
	// OpBeta is beta, the shift of that batch normalisation: a scalar.
	OpBeta
	// OpG is G, the gradient of the training loss with respect to the channel's feature
	// maps, laid out like X: an N x D matrix, row i the gradient of sample i's map.
	OpG
)

// Operators. Binary operators read their operands as (a, b).
const (
	// OpAdd is add(a, b) = a + b elementwise with NumPy broadcasting (the reference uses
	// np.add directly, without truncation). Mismatched non-1 dimensions are an error.
	OpAdd Op = iota + 20
	// OpSub is sub(a, b) = a - b. If either operand is a scalar, plain broadcasting.
	// Otherwise both trailing axes are truncated to their common minimum, then the
	// operands broadcast (reference m_sub). A 0-d array operand is an error.
	OpSub
	// OpMul is mul(a, b) = a * b elementwise. If either operand is a scalar, plain
	// broadcasting. Otherwise a's last axis and b's first axis are truncated to their
	// common minimum, then the operands broadcast (reference m_mul); so mul(P, mX) works
	// but mul(mX, P) generally does not.
	OpMul
	// OpDiv is div(a, b) = a / b elementwise with broadcasting, unprotected: x/0 gives
	// ±Inf or NaN as in NumPy.
	OpDiv
	// OpMmul is mmul(a, b), the matrix product np.matmul(a[..., :d], b[:d]) with d the
	// minimum of a's last and b's first axis; a scalar operand makes it an elementwise
	// product (reference m_matmul). Vectors are promoted as np.matmul does; stacks of
	// matrices broadcast their batch axes, and for b of rank 3 or more the contracted axis
	// of b is its second-to-last, which must then equal d.
	OpMmul
	// OpOutDot is out_dot(a, b), the outer product of the flattened operands
	// (np.outer): a size(a) x size(b) matrix.
	OpOutDot
	// OpTran is tran(a), np.transpose: all axes reversed. A NumPy scalar stays a scalar,
	// but a Python number (the result of num) becomes a 0-d array.
	OpTran
	// OpTrace is trace(a) (reference m_trace): a scalar is returned unchanged, a vector
	// gives its first element, an array of rank >= 2 gives np.trace of a[:d, :d] with d
	// the smallest of all its axes (a scalar for a matrix; for higher ranks the diagonal
	// sums over the first two axes). A 0-d array is an error.
	OpTrace
	// OpInv is inv(a) (reference m_inv): 1/a for a scalar, 1/a[0] for a vector, and for
	// rank >= 2 the pseudo-inverse np.linalg.pinv(a[:d, :d] + 1e-4 I) with d the smallest
	// axis: a ridge keeps singular matrices invertible. The identity broadcasts against
	// the trailing axes and pinv inverts the last two axes of stacks, as in NumPy. A 0-d
	// array is an error.
	OpInv
	// OpGMean is g_mean(a), np.mean over all entries: a scalar. For P or Q this pools all
	// Nc*D entries.
	OpGMean
	// OpSum is sum(a), np.sum over all entries: a scalar.
	OpSum
	// OpStd is std(a), the population standard deviation (ddof 0) over all entries.
	OpStd
	// OpVar is var(a), the population variance (ddof 0) over all entries.
	OpVar
	// OpMean is mean(a) (reference m_mean): the column mean np.mean(a, axis=0) if
	// a.shape[1] > 1, else the global mean (a scalar). Rank below 2 is an error.
	OpMean
	// OpAbs is abs(a), the elementwise absolute value.
	OpAbs
	// OpPow2 is pow2(a), the elementwise square.
	OpPow2
	// OpSqrt is sqrt(a), the elementwise square root; negative entries give NaN.
	OpSqrt
	// OpNum is num(a), Python's len: the number of rows (size of the first axis) as a
	// Python number. Scalars and 0-d arrays are an error.
	OpNum
	// OpRho1 is rho1(a) = a + 1e-4, the small-constant protection of denominators.
	OpRho1
	// OpRho5 is rho5(a) = a + 0.05.
	OpRho5
	// OpGeoMedian is geo_median(a) (reference Get_Kernel_GM): the slice a[..., i] along
	// the last axis whose sum of L2 distances to all other slices is smallest (the first
	// one on ties). For W it is the layer's geometric-median filter, shaped like WI.
	OpGeoMedian
)

type opInfo struct {
	name  string
	arity int
}

var opTable = map[Op]opInfo{
	OpP: {"P", 0}, OpQ: {"Q", 0}, OpN: {"N", 0}, OpX: {"X", 0}, OpMX: {"mX", 0},
	OpMP: {"mP", 0}, OpMQ: {"mQ", 0}, OpWI: {"WI", 0}, OpW: {"W", 0}, OpConst: {"const", 0},
	OpGamma: {"gamma", 0}, OpBeta: {"beta", 0}, OpG: {"G", 0},
	OpAdd: {"add", 2}, OpSub: {"sub", 2}, OpMul: {"mul", 2}, OpDiv: {"div", 2},
	OpMmul: {"mmul", 2}, OpOutDot: {"out_dot", 2}, OpTran: {"tran", 1},
	OpTrace: {"trace", 1}, OpInv: {"inv", 1}, OpGMean: {"g_mean", 1}, OpSum: {"sum", 1},
	OpStd: {"std", 1}, OpVar: {"var", 1}, OpMean: {"mean", 1}, OpAbs: {"abs", 1},
	OpPow2: {"pow2", 1}, OpSqrt: {"sqrt", 1}, OpNum: {"num", 1}, OpRho1: {"rho1", 1},
	OpRho5: {"rho5", 1}, OpGeoMedian: {"geo_median", 1},
}

// Operands lists the nine operand leaves of the paper's space, in the reference's
// argument order. Tree generators draw from it by default (see OperandSet).
var Operands = []Op{OpP, OpQ, OpN, OpX, OpMX, OpMP, OpMQ, OpWI, OpW}

// ExtendedOperands lists the opt-in operands beyond the paper: the channel's BN scale
// and shift (gamma, beta) and the loss gradient of its feature maps (G). They are off by
// default everywhere a space of trees is drawn from, so that the paper's space stays
// exactly reproducible; evaluators need them supplied (AddExtended,
// LayerStats.SetExtended) and fail with ErrOperand otherwise.
var ExtendedOperands = []Op{OpGamma, OpBeta, OpG}

// OperandSet lists the operands a tree generator may draw leaves from: Operands, and
// with extended also ExtendedOperands. It returns a new slice.
func OperandSet(extended bool) []Op {
	ops := append([]Op(nil), Operands...)
	if extended {
		ops = append(ops, ExtendedOperands...)
	}
	return ops
}

// Operators lists the 21 operators in a stable order.
var Operators = []Op{
	OpAdd, OpSub, OpMul, OpDiv, OpMmul, OpOutDot, OpTran, OpTrace, OpInv,
	OpGMean, OpSum, OpStd, OpVar, OpMean, OpAbs, OpPow2, OpSqrt, OpNum,
	OpRho1, OpRho5, OpGeoMedian,
}

// aliases are names the reference's DEAP trees print for primitives registered without
// an explicit name, so that its saved populations parse.
var aliases = map[string]Op{"m_trace": OpTrace, "m_inv": OpInv}

var opByName = func() map[string]Op {
	m := make(map[string]Op, len(opTable))
	for op, info := range opTable {
		if op != OpConst {
			m[info.name] = op
		}
	}
	return m
}()

// String returns the reference name of the op ("add", "mX", ...).
func (o Op) String() string {
	if info, ok := opTable[o]; ok {
		return info.name
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}

// Arity is the number of arguments the op takes (0 for leaves, -1 if o is not an op).
func (o Op) Arity() int {
	if info, ok := opTable[o]; ok {
		return info.arity
	}
	return -1
}

// Valid reports whether o is a defined op.
func (o Op) Valid() bool { _, ok := opTable[o]; return ok }

// IsOperand reports whether o is an operand: one of the nine of the paper or an
// extended one.
func (o Op) IsOperand() bool { return o >= OpP && o <= OpW || o.IsExtended() }

// IsExtended reports whether o is one of the ExtendedOperands.
func (o Op) IsExtended() bool { return o >= OpGamma && o <= OpG }

// IsLeaf reports whether o takes no arguments (an operand or a constant).
func (o Op) IsLeaf() bool { return o.IsOperand() || o == OpConst }

// LookupOp finds an operand or operator by its reference name (also the reference's
// DEAP aliases m_trace and m_inv). Constants have no name.
func LookupOp(name string) (Op, bool) {
	if op, ok := opByName[name]; ok {
		return op, true
	}
	op, ok := aliases[name]
	return op, ok
}

// Node is one node of an expression tree. Trees are values: functions in this package
// never modify a tree they are given, so subtrees may be shared.
type Node struct {
	Op    Op
	Args  []*Node // len(Args) == Op.Arity()
	Value float64 // the constant, for OpConst only
}

// Leaf returns an operand node.
func Leaf(op Op) *Node { return &Node{Op: op} }

// Const returns a constant node.
func Const(v float64) *Node { return &Node{Op: OpConst, Value: v} }

// Call returns the operator node op(args...).
func Call(op Op, args ...*Node) *Node { return &Node{Op: op, Args: args} }

// Validate checks that every node is a defined op with the right number of non-nil
// arguments and that constants are finite, so that callers building trees by hand find
// mistakes before evaluating.
func (n *Node) Validate() error {
	return n.validate(nil)
}

func (n *Node) validate(path Path) error {
	if n == nil {
		return fmt.Errorf("pfunc: nil node at %v", path)
	}
	if !n.Op.Valid() {
		return fmt.Errorf("pfunc: undefined op %d at %v", uint8(n.Op), path)
	}
	if len(n.Args) != n.Op.Arity() {
		return fmt.Errorf("pfunc: %s at %v has %d arguments, wants %d", n.Op, path, len(n.Args), n.Op.Arity())
	}
	if n.Op == OpConst && (math.IsNaN(n.Value) || math.IsInf(n.Value, 0)) {
		return fmt.Errorf("pfunc: non-finite constant at %v", path)
	}
	for i, a := range n.Args {
		if err := a.validate(append(path[:len(path):len(path)], i)); err != nil {
			return err
		}
	}
	return nil
}

// Size is the number of nodes.
func (n *Node) Size() int {
	if n == nil {
		return 0
	}
	s := 1
	for _, a := range n.Args {
		s += a.Size()
	}
	return s
}

// Depth is the height of the tree as DEAP counts it: 0 for a single leaf.
func (n *Node) Depth() int {
	if n == nil {
		return 0
	}
	d := 0
	for _, a := range n.Args {
		if h := a.Depth() + 1; h > d {
			d = h
		}
	}
	return d
}

// Copy returns a deep copy that shares nothing with n.
func (n *Node) Copy() *Node {
	if n == nil {
		return nil
	}
	c := &Node{Op: n.Op, Value: n.Value}
	if len(n.Args) > 0 {
		c.Args = make([]*Node, len(n.Args))
		for i, a := range n.Args {
			c.Args[i] = a.Copy()
		}
	}
	return c
}

// Equal reports whether two trees are identical; constants compare bit for bit so that
// Equal agrees with the printed form.
func (n *Node) Equal(m *Node) bool {
	if n == nil || m == nil {
		return n == m
	}
	if n.Op != m.Op || len(n.Args) != len(m.Args) {
		return false
	}
	if n.Op == OpConst && math.Float64bits(n.Value) != math.Float64bits(m.Value) {
		return false
	}
	for i := range n.Args {
		if !n.Args[i].Equal(m.Args[i]) {
			return false
		}
	}
	return true
}

// Path addresses a subtree: the argument indices taken from the root (empty = root).
type Path []int

// Subtree is one node of a tree together with its path.
type Subtree struct {
	Path Path
	Node *Node
}

// Subtrees lists every subtree in prefix order (the root first), each with its own
// path slice, so that a GP operator can pick a crossover or mutation point uniformly.
func (n *Node) Subtrees() []Subtree {
	var out []Subtree
	var walk func(m *Node, p Path)
	walk = func(m *Node, p Path) {
		if m == nil {
			return
		}
		out = append(out, Subtree{Path: append(Path(nil), p...), Node: m})
		for i, a := range m.Args {
			walk(a, append(p, i))
		}
	}
	walk(n, nil)
	return out
}

// At returns the subtree at path p, or nil if p leaves the tree.
func (n *Node) At(p Path) *Node {
	for _, i := range p {
		if n == nil || i < 0 || i >= len(n.Args) {
			return nil
		}
		n = n.Args[i]
	}
	return n
}

// Replace returns a new tree equal to n with the subtree at p replaced by sub. Only the
// nodes along p are copied; the rest is shared. It returns nil if p leaves the tree.
func (n *Node) Replace(p Path, sub *Node) *Node {
	if len(p) == 0 {
		return sub
	}
	if n == nil || p[0] < 0 || p[0] >= len(n.Args) {
		return nil
	}
	child := n.Args[p[0]].Replace(p[1:], sub)
	if child == nil {
		return nil
	}
	c := &Node{Op: n.Op, Value: n.Value, Args: append([]*Node(nil), n.Args...)}
	c.Args[p[0]] = child
	return c
}

// UsesExtended reports whether the tree contains an extended operand (gamma, beta, G),
// i.e. lies outside the paper's space.
func (n *Node) UsesExtended() bool {
	if n == nil {
		return false
	}
	if n.Op.IsExtended() {
		return true
	}
	for _, a := range n.Args {
		if a.UsesExtended() {
			return true
		}
	}
	return false
}

// Uses reports whether the tree contains the op anywhere.
func (n *Node) Uses(op Op) bool {
	if n == nil {
		return false
	}
	if n.Op == op {
		return true
	}
	for _, a := range n.Args {
		if a.Uses(op) {
			return true
		}
	}
	return false
}
