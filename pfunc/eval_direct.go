package pfunc

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// Errors the direct evaluator wraps in an EvalError (use errors.Is).
var (
	// ErrShape: the operands' concrete shapes are invalid for the operator, where the
	// reference's NumPy call would raise.
	ErrShape = errors.New("invalid shapes")
	// ErrNumeric: a numerical routine failed (the SVD of a matrix with NaN or Inf).
	ErrNumeric = errors.New("numerical failure")
	// ErrTooLarge: a result would exceed MaxElements entries.
	ErrTooLarge = errors.New("array too large")
	// ErrOperand: the tree uses an operand the caller did not provide (WI, W, or an
	// extended operand: gamma, beta, G).
	ErrOperand = errors.New("operand not provided")
	// ErrMalformed: the tree itself is malformed (nil node, wrong arity, unknown op).
	ErrMalformed = errors.New("malformed tree")
	// ErrNonFinite: the score is NaN or infinite. The reference rejects such trees.
	ErrNonFinite = errors.New("non-finite score")
)

// MaxElements bounds the entries of any array the direct evaluator materialises (512 MB
// of float64), so that an absurd tree fails with ErrTooLarge instead of exhausting
// memory. Use the cost model to reject slow trees before evaluating them.
const MaxElements = 1 << 26

// EvalError reports where and why evaluation failed.
type EvalError struct {
	Path Path
	Op   Op
	Err  error // one of the Err* sentinels
	Msg  string
}

// Error formats the failure with its path.
func (e *EvalError) Error() string {
	return fmt.Sprintf("pfunc: eval %s at %v: %v: %s", e.Op, []int(e.Path), e.Err, e.Msg)
}

// Unwrap exposes the sentinel.
func (e *EvalError) Unwrap() error { return e.Err }

// Env holds the nine operands of one channel for one class, materialised, in the
// reference layout, and the extended operands if the caller supplied them (AddExtended;
// zero Values otherwise). Values are shared, never modified.
type Env struct {
	Class                         int
	P, Q, N, X, MX, MP, MQ, WI, W Value
	Gamma, Beta, G                Value
}

// BN is a channel's batch-normalisation parameters: y = Gamma·x̂ + Beta.
type BN struct {
	Gamma, Beta float64
}

// AddExtended supplies the extended operands of the channel whose envs ClassEnvs built:
// bn its batch-normalisation scale and shift (gamma, beta; nil if the layer has none) and
// g the loss gradient of its feature maps, one row per sample in the order of ClassEnvs'
// x, D values each (nil if not computed). It modifies envs in place and leaves an
// operand passed as nil as it was; trees that use an operand never given fail with
// ErrOperand.
func AddExtended(envs []Env, bn *BN, g [][]float64) error {
	if len(envs) == 0 {
		return errors.New("pfunc: AddExtended: no envs")
	}
	var gv Value
	if g != nil {
		x := envs[0].X
		if x.Rank() != 2 || len(g) != x.Shape[0] {
			return fmt.Errorf("pfunc: gradient has %d rows for %d samples", len(g), x.Shape[0])
		}
		d := x.Shape[1]
		data := make([]float64, 0, len(g)*d)
		for i, row := range g {
			if len(row) != d {
				return fmt.Errorf("pfunc: gradient row %d has %d values, the feature maps %d", i, len(row), d)
			}
			data = append(data, row...)
		}
		gv = Value{Kind: Array, Shape: []int{len(g), d}, Data: data}
	}
	for i := range envs {
		if bn != nil {
			envs[i].Gamma, envs[i].Beta = ScalarValue(bn.Gamma), ScalarValue(bn.Beta)
		}
		if g != nil {
			envs[i].G = gv
		}
	}
	return nil
}

func (e *Env) operand(op Op) Value {
	switch op {
	case OpP:
		return e.P
	case OpQ:
		return e.Q
	case OpN:
		return e.N
	case OpX:
		return e.X
	case OpMX:
		return e.MX
	case OpMP:
		return e.MP
	case OpMQ:
		return e.MQ
	case OpWI:
		return e.WI
	case OpW:
		return e.W
	case OpGamma:
		return e.Gamma
	case OpBeta:
		return e.Beta
	case OpG:
		return e.G
	}
	return Value{}
}

// missingOperand explains a missing operand, naming the call that supplies it.
func missingOperand(op Op, fast bool) string {
	switch {
	case op == OpGamma || op == OpBeta:
		if fast {
			return fmt.Sprintf("extended operand %s is missing: the layer's batch-normalisation parameters were not given (LayerStats.SetExtended)", op)
		}
		return fmt.Sprintf("extended operand %s is missing: the channel's batch-normalisation parameters were not given (AddExtended)", op)
	case op == OpG:
		if fast {
			return "extended operand G is missing: the loss gradients of the feature maps were not given (LayerStats.SetExtended)"
		}
		return "extended operand G is missing: the loss gradients of the feature maps were not given (AddExtended)"
	}
	return fmt.Sprintf("operand %s is missing", op)
}

// ClassEnvs materialises the operands of every class for one channel, as the reference's
// arg_for_DF and Metric_Score do. x holds the channel's N feature maps, each flattened
// to D values; labels[i] is the label of x[i]. classes lists the classes to sum over, in
// order; nil means the sorted distinct labels (np.unique). Every class needs at least
// one sample and one non-sample. wi and w are the filter operands in the reference
// layout (see FilterOperands); zero Values if the caller has none, in which case trees
// that use them fail with ErrOperand.
func ClassEnvs(x [][]float64, labels []int, classes []int, wi, w Value) ([]Env, error) {
	n := len(x)
	if n == 0 {
		return nil, errors.New("pfunc: no samples")
	}
	if len(labels) != n {
		return nil, fmt.Errorf("pfunc: %d labels for %d samples", len(labels), n)
	}
	d := len(x[0])
	if d == 0 {
		return nil, errors.New("pfunc: empty feature maps")
	}
	xdata := make([]float64, 0, n*d)
	for i, row := range x {
		if len(row) != d {
			return nil, fmt.Errorf("pfunc: sample %d has %d values, sample 0 has %d", i, len(row), d)
		}
		xdata = append(xdata, row...)
	}
	for i, v := range []Value{wi, w} {
		if v.provided() && !v.consistent() {
			return nil, fmt.Errorf("pfunc: %s has %d values for shape %v", []string{"WI", "W"}[i], len(v.Data), v.Shape)
		}
	}
	if classes == nil {
		seen := map[int]bool{}
		for _, l := range labels {
			if !seen[l] {
				seen[l] = true
				classes = append(classes, l)
			}
		}
		sort.Ints(classes)
	}
	X := Value{Kind: Array, Shape: []int{n, d}, Data: xdata}
	mX := Value{Kind: Array, Shape: []int{d}, Data: meanAxis0(X)}
	envs := make([]Env, 0, len(classes))
	for _, c := range classes {
		var p, q []float64
		for i, l := range labels {
			if l == c {
				p = append(p, x[i]...)
			} else {
				q = append(q, x[i]...)
			}
		}
		np, nq := len(p)/d, len(q)/d
		if np == 0 || nq == 0 {
			return nil, fmt.Errorf("pfunc: class %d has %d samples and %d others; both must be positive", c, np, nq)
		}
		P := Value{Kind: Array, Shape: []int{np, d}, Data: p}
		Q := Value{Kind: Array, Shape: []int{nq, d}, Data: q}
		envs = append(envs, Env{
			Class: c, P: P, Q: Q, N: ScalarValue(float64(np)), X: X, MX: mX,
			MP: Value{Kind: Array, Shape: []int{d}, Data: meanAxis0(P)},
			MQ: Value{Kind: Array, Shape: []int{d}, Data: meanAxis0(Q)},
			WI: wi, W: w,
		})
	}
	return envs, nil
}

// Score is the reference's score of one channel: the tree evaluated for every class,
// each value summed over all its entries, and the sums added. See ClassEnvs for the
// arguments. A NaN or infinite score is returned together with an error wrapping
// ErrNonFinite.
func Score(n *Node, x [][]float64, labels []int, classes []int, wi, w Value) (float64, error) {
	envs, err := ClassEnvs(x, labels, classes, wi, w)
	if err != nil {
		return 0, err
	}
	return ScoreEnvs(n, envs)
}

// ScoreEnvs is Score over operands already materialised, so that many trees can score
// the same channel without rebuilding P and Q.
func ScoreEnvs(n *Node, envs []Env) (float64, error) {
	if len(envs) == 0 {
		return 0, errors.New("pfunc: no classes to score")
	}
	total := 0.0
	var first Value
	for i := range envs {
		v, err := Eval(n, &envs[i])
		if err != nil {
			return 0, fmt.Errorf("class %d: %w", envs[i].Class, err)
		}
		if i == 0 {
			first = v
		} else if !sameShape(first.Shape, v.Shape) {
			// np.array(score_list) cannot stack them, and the reference's check rejects
			// whatever np.sum makes of the ragged result.
			return 0, &EvalError{Op: n.Op, Err: ErrShape,
				Msg: fmt.Sprintf("class %d gives shape %v but class %d gives %v: per-class values must stack", envs[0].Class, first.Shape, envs[i].Class, v.Shape)}
		}
		total += v.Sum()
	}
	if math.IsNaN(total) || math.IsInf(total, 0) {
		return total, fmt.Errorf("pfunc: score %v: %w", total, ErrNonFinite)
	}
	return total, nil
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Eval evaluates the tree for one class following the reference semantics (see the Op
// constants). Invalid shapes, missing operands and oversized arrays are returned as an
// *EvalError; non-finite entries are not an error at this level.
func Eval(n *Node, env *Env) (Value, error) {
	return eval(n, env, nil)
}

func shapeOfValue(v Value) shapeOf[cdim] {
	dims := make([]cdim, len(v.Shape))
	for i, d := range v.Shape {
		dims[i] = cdim(d)
	}
	return shapeOf[cdim]{kind: v.Kind, dims: dims}
}

func eval(n *Node, env *Env, path Path) (Value, error) {
	fail := func(op Op, err error, format string, args ...any) (Value, error) {
		return Value{}, &EvalError{Path: append(Path(nil), path...), Op: op, Err: err, Msg: fmt.Sprintf(format, args...)}
	}
	if n == nil {
		return fail(0, ErrMalformed, "missing node")
	}
	if !n.Op.Valid() || len(n.Args) != n.Op.Arity() {
		return fail(n.Op, ErrMalformed, "%d arguments, wants %d", len(n.Args), n.Op.Arity())
	}
	if n.Op == OpConst {
		return ScalarValue(n.Value), nil
	}
	if n.Op.IsOperand() {
		v := env.operand(n.Op)
		if !v.provided() {
			return fail(n.Op, ErrOperand, "%s", missingOperand(n.Op, false))
		}
		if !v.consistent() {
			return fail(n.Op, ErrOperand, "operand %s has %d values for shape %v", n.Op, len(v.Data), v.Shape)
		}
		return v, nil
	}
	args := make([]Value, len(n.Args))
	shapes := make([]shapeOf[cdim], len(n.Args))
	for i, a := range n.Args {
		v, err := eval(a, env, append(path[:len(path):len(path)], i))
		if err != nil {
			return Value{}, err
		}
		args[i], shapes[i] = v, shapeOfValue(v)
	}
	v, err := applyOp(n.Op, args, shapes, binaryData)
	if err != nil {
		return fail(n.Op, err.kind, "%s", err.msg)
	}
	return v, nil
}

// opError is applyOp's failure: which sentinel and what went wrong.
type opError struct {
	kind error
	msg  string
}

// applyOp computes operator op on evaluated arguments: the result's shape
// (and the MaxElements limit), then its data, with binary supplying the
// kernel for two-argument operators. The direct and the fast evaluator
// share it, so they agree on every shape rule and error.
func applyOp(op Op, args []Value, shapes []shapeOf[cdim],
	binary func(Op, Value, Value, shapeOf[cdim], shapeOf[cdim], []int) []float64) (Value, *opError) {
	var out shapeOf[cdim]
	var err error
	if len(args) == 1 {
		out, err = unaryShape(op, shapes[0])
	} else {
		out, err = binaryShape(op, shapes[0], shapes[1])
	}
	if errors.Is(err, errTooLarge) {
		return Value{}, &opError{ErrTooLarge, err.Error()}
	}
	if err != nil {
		return Value{}, &opError{ErrShape, err.Error()}
	}
	oshape := make([]int, len(out.dims))
	size := 1
	for i, d := range out.dims {
		oshape[i] = int(d)
		size *= int(d)
		if size > MaxElements {
			return Value{}, &opError{ErrTooLarge, fmt.Sprintf("result %v exceeds %d entries", out, MaxElements)}
		}
	}
	var data []float64
	if len(args) == 1 {
		var ok bool
		if data, ok = unaryData(op, args[0], out, oshape); !ok {
			return Value{}, &opError{ErrNumeric, "SVD did not converge: the matrix has NaN or Inf entries"}
		}
	} else {
		data = binary(op, args[0], args[1], shapes[0], shapes[1], oshape)
	}
	return Value{Kind: out.kind, Shape: oshape, Data: data}, nil
}

func addF(x, y float64) float64 { return x + y }
func subF(x, y float64) float64 { return x - y }
func mulF(x, y float64) float64 { return x * y }
func divF(x, y float64) float64 { return x / y }

// binaryData computes a binary operator's entries; binaryShape has accepted the shapes.
func binaryData(op Op, a, b Value, sa, sb shapeOf[cdim], out []int) []float64 {
	switch op {
	case OpAdd:
		return bcast(a, b, out, addF)
	case OpDiv:
		return bcast(a, b, out, divF)
	case OpOutDot:
		return outer(a, b)
	}
	f := subF
	if op != OpSub {
		f = mulF
	}
	if a.Kind.isScalar() || b.Kind.isScalar() {
		return bcast(a, b, out, f)
	}
	_, _, d := truncation(op, sa, sb)
	a = truncLast(a, int(d))
	if op == OpSub {
		b = truncLast(b, int(d))
	} else {
		b = truncFirst(b, int(d))
	}
	if op == OpMmul {
		return matmul(a, b)
	}
	return bcast(a, b, out, f)
}

// unaryData computes a unary operator's entries; unaryShape has accepted the shape. It
// reports false only when a pseudo-inverse fails on non-finite input.
func unaryData(op Op, a Value, out shapeOf[cdim], oshape []int) ([]float64, bool) {
	switch op {
	case OpTran:
		if a.Kind != Array {
			return a.Data, true
		}
		return transpose(a).Data, true
	case OpTrace:
		switch {
		case a.Kind.isScalar():
			return a.Data, true
		case a.Rank() == 1:
			return a.Data[:1:1], true
		}
		return traceLeading(a), true
	case OpInv:
		if a.Kind.isScalar() || a.Rank() == 1 {
			return []float64{1 / a.Data[0]}, true
		}
		return invLeading(a, oshape)
	case OpGMean:
		return []float64{meanAll(a.Data)}, true
	case OpSum:
		s := 0.0
		for _, x := range a.Data {
			s += x
		}
		return []float64{s}, true
	case OpStd:
		return []float64{math.Sqrt(varAll(a.Data))}, true
	case OpVar:
		return []float64{varAll(a.Data)}, true
	case OpMean:
		if out.kind == Scalar {
			return []float64{meanAll(a.Data)}, true
		}
		return meanAxis0(a), true
	case OpAbs:
		return mapValue(a, math.Abs), true
	case OpPow2:
		return mapValue(a, func(x float64) float64 { return x * x }), true
	case OpSqrt:
		return mapValue(a, math.Sqrt), true
	case OpRho1:
		return mapValue(a, func(x float64) float64 { return x + 1e-4 }), true
	case OpRho5:
		return mapValue(a, func(x float64) float64 { return x + 0.05 }), true
	case OpNum:
		return []float64{float64(a.Shape[0])}, true
	case OpGeoMedian:
		return geoMedian(a), true
	}
	return nil, false
}
