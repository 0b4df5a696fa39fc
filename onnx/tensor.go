package onnx

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"

	"github.com/evoprune/evoprune/onnx/onnxpb"
)

// maxElements bounds a constant's declared size, so a corrupt dims field
// cannot ask for an absurd allocation before its data is found missing.
const maxElements = 1 << 31

// constant is a tensor known while importing: an initializer, a Constant
// node, or a shape computation. Integer constants may hold the symbolic
// batch size (batch[i] true), as Shape(x)[0] does.
type constant struct {
	dims  []int
	f     []float32 // float data, or nil
	i     []int64   // integer data, or nil
	batch []bool    // per element of i: the value is the batch size
	name  string    // initializer or tensor name, for messages and naming
}

func (c *constant) isInt() bool { return c.f == nil }

func (c *constant) numel() int {
	n := 1
	for _, d := range c.dims {
		n *= d
	}
	return n
}

func (c *constant) hasBatch() bool {
	for _, b := range c.batch {
		if b {
			return true
		}
	}
	return false
}

// ints returns an integer constant's values; the symbolic batch size is an
// error, since callers here need concrete numbers.
func (c *constant) ints(what string) ([]int64, error) {
	if !c.isInt() {
		return nil, fmt.Errorf("%s (%s) must be an integer tensor", what, c.name)
	}
	if c.hasBatch() {
		return nil, fmt.Errorf("%s (%s) depends on the batch size", what, c.name)
	}
	return c.i, nil
}

func shapeString(dims []int) string { return fmt.Sprint(dims) }

// decodeTensor reads a TensorProto's shape and data. Float and double
// tensors become float32, integer tensors int64.
func decodeTensor(t *onnxpb.TensorProto) (*constant, error) {
	name := t.GetName()
	if t.GetDataLocation() == onnxpb.TensorProto_EXTERNAL || len(t.GetExternalData()) > 0 {
		return nil, fmt.Errorf("tensor %q keeps its data in an external file, which is not supported (save the model with its weights inside)", name)
	}
	if t.Segment != nil {
		return nil, fmt.Errorf("tensor %q is segmented, which is not supported", name)
	}
	c := &constant{name: name}
	n := 1
	for _, d := range t.GetDims() {
		if d < 0 || d > maxElements {
			return nil, fmt.Errorf("tensor %q has invalid dimension %d in %v", name, d, t.GetDims())
		}
		c.dims = append(c.dims, int(d))
		if n *= int(d); n > maxElements {
			return nil, fmt.Errorf("tensor %q is too large (dims %v)", name, t.GetDims())
		}
	}
	raw := t.GetRawData()
	width := 0
	dt := onnxpb.TensorProto_DataType(t.GetDataType())
	switch dt {
	case onnxpb.TensorProto_FLOAT, onnxpb.TensorProto_INT32:
		width = 4
	case onnxpb.TensorProto_DOUBLE, onnxpb.TensorProto_INT64:
		width = 8
	default:
		return nil, fmt.Errorf("tensor %q has data type %s; only FLOAT, DOUBLE, INT32 and INT64 are supported", name, dt)
	}
	var stored int
	if raw != nil {
		stored = len(raw) / width
		if len(raw) != n*width {
			return nil, fmt.Errorf("tensor %q: raw_data holds %d bytes, dims %v need %d", name, len(raw), c.dims, n*width)
		}
	} else {
		switch dt {
		case onnxpb.TensorProto_FLOAT:
			stored = len(t.GetFloatData())
		case onnxpb.TensorProto_DOUBLE:
			stored = len(t.GetDoubleData())
		case onnxpb.TensorProto_INT32:
			stored = len(t.GetInt32Data())
		case onnxpb.TensorProto_INT64:
			stored = len(t.GetInt64Data())
		}
		if stored != n {
			return nil, fmt.Errorf("tensor %q holds %d values, dims %v need %d", name, stored, c.dims, n)
		}
	}
	switch dt {
	case onnxpb.TensorProto_FLOAT:
		c.f = make([]float32, n)
		if raw != nil {
			for i := range c.f {
				c.f[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			}
		} else {
			copy(c.f, t.GetFloatData())
		}
	case onnxpb.TensorProto_DOUBLE:
		c.f = make([]float32, n)
		for i := range c.f {
			if raw != nil {
				c.f[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:])))
			} else {
				c.f[i] = float32(t.GetDoubleData()[i])
			}
		}
	case onnxpb.TensorProto_INT32:
		c.i = make([]int64, n)
		for i := range c.i {
			if raw != nil {
				c.i[i] = int64(int32(binary.LittleEndian.Uint32(raw[4*i:])))
			} else {
				c.i[i] = int64(t.GetInt32Data()[i])
			}
		}
	case onnxpb.TensorProto_INT64:
		c.i = make([]int64, n)
		if raw != nil {
			for i := range c.i {
				c.i[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
			}
		} else {
			copy(c.i, t.GetInt64Data())
		}
	}
	if c.i != nil {
		c.batch = make([]bool, n)
	} else if c.f == nil {
		c.f = []float32{} // an empty float tensor is still a float tensor
	}
	return c, nil
}

// decimal32 returns the float64 closest to the shortest decimal that
// reads back as x, so that float32 attributes such as an epsilon of
// 1e-5 come back as 1e-5 rather than 9.99999974738e-06.
func decimal32(x float64) float64 {
	v, err := strconv.ParseFloat(strconv.FormatFloat(x, 'g', -1, 32), 64)
	if err != nil {
		return x
	}
	return v
}
