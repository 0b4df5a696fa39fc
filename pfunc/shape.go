package pfunc

import (
	"errors"
	"fmt"
	"strings"
)

// The shape rules of every operator are written once, generically over the size type,
// and used twice: with symbolic sizes (Dim) by the type checker and with concrete sizes
// (cdim) by the direct evaluator. The two can therefore not drift apart.

type dimLike[D any] interface {
	eq(D) bool
	isOne() bool
	min(D) D
	mul(D) (D, bool)
	unit() D
	String() string
}

// shapeOf is a value's kind and its sizes.
type shapeOf[D dimLike[D]] struct {
	kind Kind
	dims []D
}

func (s shapeOf[D]) rank() int { return len(s.dims) }

func (s shapeOf[D]) String() string {
	if len(s.dims) == 0 {
		if s.kind == Array {
			return "0-d array"
		}
		return s.kind.String()
	}
	parts := make([]string, len(s.dims))
	for i, d := range s.dims {
		parts[i] = d.String()
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// cdim is a concrete size.
type cdim int

// maxCdim caps concrete sizes computed by products so they cannot overflow.
const maxCdim = 1 << 40

func (c cdim) eq(o cdim) bool { return c == o }
func (c cdim) isOne() bool    { return c == 1 }
func (c cdim) unit() cdim     { return 1 }
func (c cdim) String() string { return fmt.Sprint(int(c)) }
func (c cdim) min(o cdim) cdim {
	if o < c {
		return o
	}
	return c
}
func (c cdim) mul(o cdim) (cdim, bool) {
	if c > 0 && o > maxCdim/c {
		return 0, false
	}
	return c * o, true
}

func (d Dim) unit() Dim { return oneDim() }

var errTooLarge = errors.New("array size beyond any feasible size")

func replaceLast[D dimLike[D]](dims []D, d D) []D {
	out := append([]D(nil), dims...)
	out[len(out)-1] = d
	return out
}

func replaceFirst[D dimLike[D]](dims []D, d D) []D {
	out := append([]D(nil), dims...)
	out[0] = d
	return out
}

// broadcast applies NumPy's rule: align trailing axes; equal sizes or a size of 1.
func broadcast[D dimLike[D]](a, b []D) ([]D, error) {
	n := max(len(a), len(b))
	out := make([]D, n)
	for i := 1; i <= n; i++ {
		switch {
		case i > len(a):
			out[n-i] = b[len(b)-i]
		case i > len(b):
			out[n-i] = a[len(a)-i]
		default:
			x, y := a[len(a)-i], b[len(b)-i]
			switch {
			case x.eq(y) || y.isOne():
				out[n-i] = x
			case x.isOne():
				out[n-i] = y
			default:
				return nil, fmt.Errorf("operands could not be broadcast together: %v and %v (axis %d from the end: %v vs %v)",
					shapeOf[D]{Array, a}, shapeOf[D]{Array, b}, i, x, y)
			}
		}
	}
	return out, nil
}

// ufunc is the result of an elementwise NumPy function: 0-d results come back as scalars.
func ufunc[D dimLike[D]](a, b shapeOf[D]) (shapeOf[D], error) {
	dims, err := broadcast(a.dims, b.dims)
	if err != nil {
		return shapeOf[D]{}, err
	}
	if len(dims) == 0 {
		return shapeOf[D]{kind: Scalar}, nil
	}
	return shapeOf[D]{kind: Array, dims: dims}, nil
}

// matmulShape is np.matmul's result shape.
func matmulShape[D dimLike[D]](a, b []D) (shapeOf[D], error) {
	var one D
	one = one.unit()
	a2, b2 := a, b
	if len(a) == 1 {
		a2 = []D{one, a[0]}
	}
	if len(b) == 1 {
		b2 = []D{b[0], one}
	}
	if k1, k2 := a2[len(a2)-1], b2[len(b2)-2]; !k1.eq(k2) {
		return shapeOf[D]{}, fmt.Errorf("matmul core dimensions differ: %v vs %v", k1, k2)
	}
	out, err := broadcast(a2[:len(a2)-2], b2[:len(b2)-2])
	if err != nil {
		return shapeOf[D]{}, err
	}
	if len(a) >= 2 {
		out = append(out, a2[len(a2)-2])
	}
	if len(b) >= 2 {
		out = append(out, b2[len(b2)-1])
	}
	if len(out) == 0 {
		return shapeOf[D]{kind: Scalar}, nil
	}
	return shapeOf[D]{kind: Array, dims: out}, nil
}

func minAll[D dimLike[D]](dims []D) D {
	m := dims[0]
	for _, d := range dims[1:] {
		m = m.min(d)
	}
	return m
}

func sizeOf[D dimLike[D]](s shapeOf[D]) (D, bool) {
	var n D
	n = n.unit()
	for _, d := range s.dims {
		var ok bool
		if n, ok = n.mul(d); !ok {
			return n, false
		}
	}
	return n, true
}

// truncation is what the truncating operators do to their operands before the NumPy
// call: sub slices both last axes, mul and mmul slice a's last and b's first axis, all to
// the common minimum d.
func truncation[D dimLike[D]](op Op, a, b shapeOf[D]) (a2, b2 []D, d D) {
	if op == OpSub {
		d = a.dims[len(a.dims)-1].min(b.dims[len(b.dims)-1])
		return replaceLast(a.dims, d), replaceLast(b.dims, d), d
	}
	d = a.dims[len(a.dims)-1].min(b.dims[0])
	return replaceLast(a.dims, d), replaceFirst(b.dims, d), d
}

// binaryShape is the result shape of a binary operator.
func binaryShape[D dimLike[D]](op Op, a, b shapeOf[D]) (shapeOf[D], error) {
	switch op {
	case OpAdd, OpDiv:
		return ufunc(a, b)
	case OpSub, OpMul, OpMmul:
		if a.kind.isScalar() || b.kind.isScalar() {
			return ufunc(a, b)
		}
		if a.rank() == 0 || b.rank() == 0 {
			return shapeOf[D]{}, errors.New("a 0-d array operand has no axis to truncate (shape[-1] out of range)")
		}
		a2, b2, _ := truncation(op, a, b)
		if op == OpMmul {
			return matmulShape(a2, b2)
		}
		return ufunc(shapeOf[D]{Array, a2}, shapeOf[D]{Array, b2})
	case OpOutDot:
		sa, ok1 := sizeOf(a)
		sb, ok2 := sizeOf(b)
		if !ok1 || !ok2 {
			return shapeOf[D]{}, errTooLarge
		}
		return shapeOf[D]{kind: Array, dims: []D{sa, sb}}, nil
	}
	return shapeOf[D]{}, fmt.Errorf("%s is not a binary operator", op)
}

// unaryShape is the result shape of a unary operator.
func unaryShape[D dimLike[D]](op Op, a shapeOf[D]) (shapeOf[D], error) {
	r := a.rank()
	switch op {
	case OpTran:
		switch a.kind {
		case Scalar:
			return a, nil
		case PyNumber:
			return shapeOf[D]{kind: Array}, nil
		}
		out := make([]D, r)
		for i, d := range a.dims {
			out[r-1-i] = d
		}
		return shapeOf[D]{kind: Array, dims: out}, nil
	case OpTrace, OpInv:
		if a.kind.isScalar() {
			return a, nil
		}
		switch r {
		case 0:
			return shapeOf[D]{}, fmt.Errorf("%s of a 0-d array: np.min of its empty shape fails", op)
		case 1:
			return shapeOf[D]{kind: Scalar}, nil
		}
		d := minAll(a.dims)
		if op == OpTrace {
			if r == 2 {
				return shapeOf[D]{kind: Scalar}, nil
			}
			return shapeOf[D]{kind: Array, dims: append([]D(nil), a.dims[2:]...)}, nil
		}
		block := append([]D{d, d}, a.dims[2:]...)
		b, err := broadcast(block, []D{d, d})
		if err != nil {
			return shapeOf[D]{}, fmt.Errorf("adding the ridge identity: %w", err)
		}
		out := append(append([]D(nil), b[:len(b)-2]...), b[len(b)-1], b[len(b)-2])
		return shapeOf[D]{kind: Array, dims: out}, nil
	case OpGMean, OpSum, OpStd, OpVar:
		return shapeOf[D]{kind: Scalar}, nil
	case OpMean:
		if a.kind != Array || r < 2 {
			return shapeOf[D]{}, fmt.Errorf("mean needs an array of rank >= 2 (it reads shape[1]), got %v", a)
		}
		if a.dims[1].isOne() {
			return shapeOf[D]{kind: Scalar}, nil
		}
		return shapeOf[D]{kind: Array, dims: append([]D(nil), a.dims[1:]...)}, nil
	case OpAbs, OpPow2, OpSqrt, OpRho1, OpRho5:
		if r == 0 {
			return shapeOf[D]{kind: Scalar}, nil
		}
		return shapeOf[D]{kind: Array, dims: a.dims}, nil
	case OpNum:
		if a.kind != Array || r == 0 {
			return shapeOf[D]{}, fmt.Errorf("num (len) of a %v: it has no length", a)
		}
		return shapeOf[D]{kind: PyNumber}, nil
	case OpGeoMedian:
		if a.kind != Array || r == 0 {
			return shapeOf[D]{}, fmt.Errorf("geo_median of a %v: it has no last axis of filters", a)
		}
		return shapeOf[D]{kind: Array, dims: append([]D(nil), a.dims[:r-1]...)}, nil
	}
	return shapeOf[D]{}, fmt.Errorf("%s is not a unary operator", op)
}
