package pfunc

import (
	"fmt"
	"math"
)

// Kind distinguishes the three sorts of value the reference's Python code passes around.
// They differ only at rank 0, and only a few operators tell them apart, but those few
// decide whether a tree is valid: the truncating operators (sub, mul, mmul) call
// np.isscalar, which is true for NumPy and Python scalars but false for 0-d arrays, and
// np.transpose turns a Python number into a 0-d array but keeps a NumPy scalar.
type Kind uint8

const (
	// Array is a NumPy ndarray of any rank, including a 0-d array.
	Array Kind = iota
	// Scalar is a NumPy scalar (np.float64, np.int64): what reductions return.
	Scalar
	// PyNumber is a Python int or float: what num (len) returns.
	PyNumber
)

// String names the kind.
func (k Kind) String() string {
	switch k {
	case Array:
		return "array"
	case Scalar:
		return "scalar"
	case PyNumber:
		return "python number"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// isScalar reports whether np.isscalar holds.
func (k Kind) isScalar() bool { return k == Scalar || k == PyNumber }

// Value is a materialised operand or intermediate result: a row-major float64 array.
// Integers of the reference (counts) are held as float64, exact below 2^53.
type Value struct {
	Kind  Kind
	Shape []int     // empty for rank 0
	Data  []float64 // len(Data) == product of Shape (1 at rank 0)
}

// ScalarValue returns a NumPy scalar.
func ScalarValue(v float64) Value { return Value{Kind: Scalar, Data: []float64{v}} }

// ArrayValue returns an array of the given shape over data (not copied).
func ArrayValue(data []float64, shape ...int) (Value, error) {
	n := 1
	for _, d := range shape {
		if d < 1 {
			return Value{}, fmt.Errorf("pfunc: array shape %v has an empty axis", shape)
		}
		n *= d
	}
	if n != len(data) {
		return Value{}, fmt.Errorf("pfunc: %d values cannot have shape %v", len(data), shape)
	}
	return Value{Kind: Array, Shape: append([]int(nil), shape...), Data: data}, nil
}

// Rank is the number of axes.
func (v Value) Rank() int { return len(v.Shape) }

// Size is the number of entries.
func (v Value) Size() int { return len(v.Data) }

// Sum adds all entries: the reduction the reference applies to a score array.
func (v Value) Sum() float64 {
	s := 0.0
	for _, x := range v.Data {
		s += x
	}
	return s
}

// Float returns the single entry of a rank-0 value.
func (v Value) Float() (float64, bool) {
	if len(v.Shape) != 0 || len(v.Data) != 1 {
		return 0, false
	}
	return v.Data[0], true
}

// Finite reports whether every entry is finite.
func (v Value) Finite() bool {
	for _, x := range v.Data {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

// provided reports whether the value has been set (a zero Value means "not given").
func (v Value) provided() bool { return len(v.Data) > 0 }

// consistent reports whether Data matches Shape.
func (v Value) consistent() bool {
	n := 1
	for _, d := range v.Shape {
		if d < 1 {
			return false
		}
		n *= d
	}
	return n == len(v.Data)
}

// String describes the value's kind and shape.
func (v Value) String() string {
	if !v.consistent() {
		return fmt.Sprintf("inconsistent value (shape %v, %d entries)", v.Shape, len(v.Data))
	}
	if len(v.Shape) == 0 {
		if v.Kind == Array {
			return fmt.Sprintf("0-d array(%g)", v.Data[0])
		}
		return fmt.Sprintf("%s(%g)", v.Kind, v.Data[0])
	}
	return fmt.Sprintf("array%v", v.Shape)
}

func shapeSize(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}
