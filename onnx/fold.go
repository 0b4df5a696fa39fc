package onnx

import (
	"fmt"

	"github.com/evoprune/evoprune/onnx/onnxpb"
)

// attrs indexes a node's attributes by name.
type attrs map[string]*onnxpb.AttributeProto

func attrsOf(n *onnxpb.NodeProto) attrs {
	a := attrs{}
	for _, at := range n.GetAttribute() {
		a[at.GetName()] = at
	}
	return a
}

func (a attrs) int(name string, def int64) int64 {
	if at, ok := a[name]; ok {
		return at.GetI()
	}
	return def
}

func (a attrs) float(name string, def float32) float32 {
	if at, ok := a[name]; ok {
		return at.GetF()
	}
	return def
}

func (a attrs) str(name, def string) string {
	if at, ok := a[name]; ok {
		return string(at.GetS())
	}
	return def
}

func (a attrs) ints(name string, def []int64) []int64 {
	if at, ok := a[name]; ok {
		return at.GetInts()
	}
	return def
}

// square reads a two-element attribute with equal elements (kernel sizes,
// strides), as nn's square windows need.
func (a attrs) square(name string, def int) (int, error) {
	v := a.ints(name, nil)
	if v == nil {
		return def, nil
	}
	if len(v) != 2 || v[0] != v[1] || v[0] <= 0 || v[0] > 1<<16 {
		return 0, fmt.Errorf("%s %v: only two equal positive values are supported", name, v)
	}
	return int(v[0]), nil
}

// pads reads [top, left, bottom, right], which must be equal.
func (a attrs) pads() (int, error) {
	v := a.ints("pads", nil)
	if v == nil {
		return 0, nil
	}
	if len(v) != 4 || v[0] != v[1] || v[0] != v[2] || v[0] != v[3] || v[0] < 0 || v[0] > 1<<16 {
		return 0, fmt.Errorf("pads %v: only equal non-negative padding on all four sides is supported", v)
	}
	return int(v[0]), nil
}

func (a attrs) allOnes(name string) error {
	for _, d := range a.ints(name, nil) {
		if d != 1 {
			return fmt.Errorf("%s %v: only 1 is supported", name, a.ints(name, nil))
		}
	}
	return nil
}

func (a attrs) noAutoPad() error {
	if p := a.str("auto_pad", "NOTSET"); p != "NOTSET" && p != "" && p != "VALID" {
		return fmt.Errorf("auto_pad %s is not supported (export with explicit pads)", p)
	}
	if a.str("auto_pad", "NOTSET") == "VALID" {
		for _, p := range a.ints("pads", nil) {
			if p != 0 {
				return fmt.Errorf("auto_pad VALID with non-zero pads")
			}
		}
	}
	return nil
}

// fold evaluates a node whose inputs are all constants (shape arithmetic
// such as Shape -> Gather -> Unsqueeze -> Concat feeding a Reshape, and
// Constant nodes). It reports false when some input is an activation.
func (im *importer) fold(n *onnxpb.NodeProto, a attrs) (bool, error) {
	var cs []*constant
	for k, name := range n.GetInput() {
		if name == "" {
			cs = append(cs, nil)
			continue
		}
		v, err := im.arg(n, k)
		if err != nil {
			return true, err
		}
		if v.c == nil {
			return false, nil
		}
		cs = append(cs, v.c)
	}
	op := n.GetOpType()
	if len(cs) == 0 && op != "Constant" {
		return true, fmt.Errorf("%s has no inputs", op)
	}
	var c *constant
	var err error
	switch op {
	case "Constant":
		c, err = constantNode(a)
	case "Identity":
		c = cs[0]
	case "Cast":
		c, err = castConst(cs[0], onnxpb.TensorProto_DataType(a.int("to", 0)))
	case "Shape":
		c = &constant{dims: []int{len(cs[0].dims)}, i: toInt64(cs[0].dims), batch: make([]bool, len(cs[0].dims))}
	case "Unsqueeze", "Squeeze":
		axes := a.ints("axes", nil)
		if len(cs) > 1 && cs[1] != nil {
			if axes, err = cs[1].ints(op + " axes"); err != nil {
				return true, err
			}
		}
		c, err = reshapeAxes(cs[0], axes, op == "Unsqueeze")
	case "Concat":
		c, err = concatConst(cs, a.int("axis", 0))
	case "Gather":
		c, err = gatherConst(cs, a.int("axis", 0))
	case "Reshape":
		c, err = reshapeConst(cs)
	case "ConstantOfShape":
		c, err = constantOfShape(cs[0], a)
	case "Transpose":
		c, err = transposeConst(cs[0], a.ints("perm", nil))
	case "Slice":
		c, err = sliceConst(cs, a)
	default:
		return true, fmt.Errorf("%s of constants is not supported (only shape arithmetic folds)", op)
	}
	if err != nil {
		return true, err
	}
	if c == nil {
		return true, fmt.Errorf("%s: missing input", op)
	}
	out := *c
	out.name = n.GetOutput()[0]
	return true, im.setOut(n, &value{c: &out, shape: out.dims})
}

func constantNode(a attrs) (*constant, error) {
	if at, ok := a["value"]; ok {
		if at.GetT() == nil {
			return nil, fmt.Errorf("Constant value is not a tensor")
		}
		return decodeTensor(at.GetT())
	}
	if at, ok := a["value_float"]; ok {
		return &constant{f: []float32{at.GetF()}}, nil
	}
	if at, ok := a["value_floats"]; ok {
		return &constant{dims: []int{len(at.GetFloats())}, f: append([]float32{}, at.GetFloats()...)}, nil
	}
	if at, ok := a["value_int"]; ok {
		return &constant{i: []int64{at.GetI()}, batch: []bool{false}}, nil
	}
	if at, ok := a["value_ints"]; ok {
		is := at.GetInts()
		return &constant{dims: []int{len(is)}, i: append([]int64{}, is...), batch: make([]bool, len(is))}, nil
	}
	return nil, fmt.Errorf("Constant without a supported value attribute")
}

func castConst(c *constant, to onnxpb.TensorProto_DataType) (*constant, error) {
	out := &constant{dims: c.dims}
	switch to {
	case onnxpb.TensorProto_INT64, onnxpb.TensorProto_INT32:
		if c.isInt() {
			out.i, out.batch = c.i, c.batch
			return out, nil
		}
		out.i, out.batch = make([]int64, len(c.f)), make([]bool, len(c.f))
		for k, v := range c.f {
			out.i[k] = int64(v)
		}
	case onnxpb.TensorProto_FLOAT, onnxpb.TensorProto_DOUBLE:
		if !c.isInt() {
			out.f = c.f
			return out, nil
		}
		if c.hasBatch() {
			return nil, fmt.Errorf("Cast of the batch size to a float is not supported")
		}
		out.f = make([]float32, len(c.i))
		for k, v := range c.i {
			out.f[k] = float32(v)
		}
	default:
		return nil, fmt.Errorf("Cast to %s is not supported", to)
	}
	return out, nil
}

// reshapeAxes inserts (Unsqueeze) or removes (Squeeze) size-1 axes.
func reshapeAxes(c *constant, axes []int64, insert bool) (*constant, error) {
	out := *c
	if insert {
		r := int64(len(c.dims) + len(axes))
		add := map[int64]bool{}
		for _, ax := range axes {
			if ax < 0 {
				ax += r
			}
			if ax < 0 || ax >= r || add[ax] {
				return nil, fmt.Errorf("Unsqueeze axes %v invalid for rank %d", axes, len(c.dims))
			}
			add[ax] = true
		}
		out.dims = nil
		k := 0
		for ax := int64(0); ax < r; ax++ {
			if add[ax] {
				out.dims = append(out.dims, 1)
			} else {
				out.dims = append(out.dims, c.dims[k])
				k++
			}
		}
		return &out, nil
	}
	r := int64(len(c.dims))
	drop := map[int64]bool{}
	for _, ax := range axes {
		if ax < 0 {
			ax += r
		}
		if ax < 0 || ax >= r || c.dims[ax] != 1 {
			return nil, fmt.Errorf("Squeeze axes %v invalid for dims %v", axes, c.dims)
		}
		drop[ax] = true
	}
	out.dims = nil
	for k, d := range c.dims {
		if !drop[int64(k)] && !(axes == nil && d == 1) {
			out.dims = append(out.dims, d)
		}
	}
	return &out, nil
}

func concatConst(cs []*constant, axis int64) (*constant, error) {
	out := &constant{}
	n := 0
	for _, c := range cs {
		if c == nil || len(c.dims) != 1 || !c.isInt() {
			return nil, fmt.Errorf("Concat of constants: only 1-D integer tensors are supported")
		}
		n += c.dims[0]
		out.i = append(out.i, c.i...)
		out.batch = append(out.batch, c.batch...)
	}
	if axis != 0 && axis != -1 {
		return nil, fmt.Errorf("Concat of 1-D constants on axis %d", axis)
	}
	out.dims = []int{n}
	return out, nil
}

func gatherConst(cs []*constant, axis int64) (*constant, error) {
	if len(cs) != 2 || cs[0] == nil || cs[1] == nil {
		return nil, fmt.Errorf("Gather needs 2 inputs")
	}
	data, idx := cs[0], cs[1]
	if len(data.dims) != 1 || (axis != 0 && axis != -1) {
		return nil, fmt.Errorf("Gather of constants: only 1-D data on axis 0 is supported")
	}
	ii, err := idx.ints("Gather indices")
	if err != nil {
		return nil, err
	}
	out := &constant{dims: idx.dims}
	for _, k := range ii {
		if k < 0 {
			k += int64(data.dims[0])
		}
		if k < 0 || k >= int64(data.dims[0]) {
			return nil, fmt.Errorf("Gather index %d out of range for %d values", k, data.dims[0])
		}
		if data.isInt() {
			out.i = append(out.i, data.i[k])
			out.batch = append(out.batch, data.batch[k])
		} else {
			out.f = append(out.f, data.f[k])
		}
	}
	if !data.isInt() && out.f == nil {
		out.f = []float32{}
	}
	return out, nil
}

func reshapeConst(cs []*constant) (*constant, error) {
	if len(cs) < 2 || cs[0] == nil || cs[1] == nil {
		return nil, fmt.Errorf("Reshape needs 2 inputs")
	}
	shape, err := cs[1].ints("Reshape shape")
	if err != nil {
		return nil, err
	}
	c := cs[0]
	n := c.numel()
	dims := make([]int, len(shape))
	infer, prod := -1, 1
	for k, d := range shape {
		switch {
		case d == -1 && infer < 0:
			infer = k
			continue
		case d == 0 && k < len(c.dims):
			d = int64(c.dims[k])
		case d <= 0 || d > maxElements:
			return nil, fmt.Errorf("Reshape of a constant to %v", shape)
		}
		dims[k] = int(d)
		prod *= int(d)
		if prod > maxElements {
			return nil, fmt.Errorf("Reshape of a constant to %v", shape)
		}
	}
	if infer >= 0 && prod > 0 && n%prod == 0 {
		dims[infer] = n / prod
		prod = n
	}
	if prod != n {
		return nil, fmt.Errorf("Reshape of a constant of dims %v to %v", c.dims, shape)
	}
	out := *c
	out.dims = dims
	return &out, nil
}

// maxFill bounds what ConstantOfShape may create.
const maxFill = 1 << 20

// constantOfShape fills a tensor of the given shape with the value
// attribute's single element (float 0 by default).
func constantOfShape(shape *constant, a attrs) (*constant, error) {
	dims, err := shape.ints("ConstantOfShape shape")
	if err != nil {
		return nil, err
	}
	out := &constant{}
	n := 1
	for _, d := range dims {
		if d < 0 || d > maxElements {
			return nil, fmt.Errorf("ConstantOfShape of %v", dims)
		}
		out.dims = append(out.dims, int(d))
		// Shape arithmetic needs a handful of values; a large fill is a
		// corrupt or unsupported model, not worth gigabytes.
		if n *= int(d); n > maxFill {
			return nil, fmt.Errorf("ConstantOfShape of %v is too large (more than %d values)", dims, maxFill)
		}
	}
	fill := &constant{f: []float32{0}}
	if at, ok := a["value"]; ok && at.GetT() != nil {
		if fill, err = decodeTensor(at.GetT()); err != nil {
			return nil, err
		}
		if fill.numel() != 1 {
			return nil, fmt.Errorf("ConstantOfShape value must have one element")
		}
	}
	if fill.isInt() {
		out.i, out.batch = make([]int64, n), make([]bool, n)
		for k := range out.i {
			out.i[k] = fill.i[0]
		}
	} else {
		out.f = make([]float32, n)
		for k := range out.f {
			out.f[k] = fill.f[0]
		}
	}
	return out, nil
}

// pick builds a constant of the given dims whose element at each output
// position comes from c at the flat index src returns.
func pick(c *constant, dims []int, src func(idx []int) int) *constant {
	out := &constant{dims: dims}
	n := 1
	for _, d := range dims {
		n *= d
	}
	if c.isInt() {
		out.i, out.batch = make([]int64, 0, n), make([]bool, 0, n)
	} else {
		out.f = make([]float32, 0, n)
	}
	idx := make([]int, len(dims))
	for k := 0; k < n; k++ {
		j := src(idx)
		if c.isInt() {
			out.i = append(out.i, c.i[j])
			out.batch = append(out.batch, c.batch[j])
		} else {
			out.f = append(out.f, c.f[j])
		}
		for ax := len(dims) - 1; ax >= 0; ax-- {
			if idx[ax]++; idx[ax] < dims[ax] {
				break
			}
			idx[ax] = 0
		}
	}
	return out
}

func strides(dims []int) []int {
	st := make([]int, len(dims))
	s := 1
	for k := len(dims) - 1; k >= 0; k-- {
		st[k] = s
		s *= dims[k]
	}
	return st
}

func transposeConst(c *constant, perm []int64) (*constant, error) {
	r := len(c.dims)
	if perm == nil {
		for k := r - 1; k >= 0; k-- {
			perm = append(perm, int64(k))
		}
	}
	if len(perm) != r {
		return nil, fmt.Errorf("Transpose perm %v for rank %d", perm, r)
	}
	seen := make([]bool, r)
	dims := make([]int, r)
	for k, p := range perm {
		if p < 0 || p >= int64(r) || seen[p] {
			return nil, fmt.Errorf("Transpose perm %v is not a permutation", perm)
		}
		seen[p] = true
		dims[k] = c.dims[p]
	}
	st := strides(c.dims)
	return pick(c, dims, func(idx []int) int {
		j := 0
		for k, p := range perm {
			j += idx[k] * st[p]
		}
		return j
	}), nil
}

// sliceConst is ONNX Slice (opset 10+ inputs, or the older attributes) on
// a constant, negative steps included.
func sliceConst(cs []*constant, a attrs) (*constant, error) {
	c := cs[0]
	args := [4][]int64{a.ints("starts", nil), a.ints("ends", nil), a.ints("axes", nil), nil}
	for k := 1; k < len(cs) && k <= 4; k++ {
		if cs[k] == nil {
			continue
		}
		v, err := cs[k].ints("Slice argument")
		if err != nil {
			return nil, err
		}
		args[k-1] = v
	}
	starts, ends, axes, steps := args[0], args[1], args[2], args[3]
	r := len(c.dims)
	if len(starts) != len(ends) || (axes != nil && len(axes) != len(starts)) || (steps != nil && len(steps) != len(starts)) {
		return nil, fmt.Errorf("Slice arguments differ in length")
	}
	lists := make([][]int, r)
	for k := range lists {
		lists[k] = make([]int, c.dims[k])
		for j := range lists[k] {
			lists[k][j] = j
		}
	}
	for k := range starts {
		ax := int64(k)
		if axes != nil {
			ax = axes[k]
		}
		if ax < 0 {
			ax += int64(r)
		}
		if ax < 0 || ax >= int64(r) {
			return nil, fmt.Errorf("Slice axis %d out of range for rank %d", ax, r)
		}
		step := int64(1)
		if steps != nil {
			step = steps[k]
		}
		d := int64(c.dims[ax])
		start, end := starts[k], ends[k]
		if start < 0 {
			start += d
		}
		if end < 0 {
			end += d
		}
		var list []int
		switch {
		case step > 0:
			start, end = max(0, min(start, d)), max(0, min(end, d))
			for i := start; i < end; i += step {
				list = append(list, int(i))
			}
		case step < 0:
			start, end = max(0, min(start, d-1)), max(-1, min(end, d-1))
			for i := start; i > end; i += step {
				list = append(list, int(i))
			}
		default:
			return nil, fmt.Errorf("Slice step 0")
		}
		lists[ax] = list
	}
	dims := make([]int, r)
	for k, l := range lists {
		dims[k] = len(l)
	}
	st := strides(c.dims)
	return pick(c, dims, func(idx []int) int {
		j := 0
		for k, i := range idx {
			j += lists[k][i] * st[k]
		}
		return j
	}), nil
}
