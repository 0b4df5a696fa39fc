package onnx

import (
	"fmt"
	"math"
	"os"
	"sort"
	"strings"

	"github.com/evoprune/evoprune/nn"
	"github.com/evoprune/evoprune/onnx/onnxpb"
	"google.golang.org/protobuf/proto"
)

// ImportOptions tune Import.
type ImportOptions struct {
	// Arch names the model (nn.Graph.Arch). Default: the name an evoprune
	// export recorded, else the ONNX graph's name, else "onnx".
	Arch string
	// InputShape is the per-sample input shape ([C H W] or [F]) to use
	// when the file leaves it symbolic.
	InputShape []int
	// RestoreBN puts a BatchNorm after every convolution that no BatchNorm
	// follows, taking over the convolution's bias: in inference the model
	// computes the same function, and in training the normalisation that
	// an exporter folded away is back (fine-tuning such a model without it
	// needs a much smaller learning rate).
	RestoreBN bool
}

// ReadFile imports the ONNX model stored at path. Every error names the
// file.
func ReadFile(path string, opts ImportOptions) (*nn.Graph, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("import ONNX: %w", err)
	}
	g, err := Import(b, opts)
	if err != nil {
		return nil, fmt.Errorf("import ONNX %s: %w", path, err)
	}
	return g, nil
}

// Import decodes a serialised ONNX model and converts it (see FromModel).
func Import(data []byte, opts ImportOptions) (*nn.Graph, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("empty file, not an ONNX model")
	}
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("not a valid ONNX protobuf (truncated or corrupt?): %w", err)
	}
	return FromModel(&m, opts)
}

// supported lists the operators FromModel maps (ai.onnx domain). Shape
// arithmetic (Shape, Gather, Unsqueeze, Concat, ...) is accepted only where
// it folds to constants, as in PyTorch's x.view(x.size(0), -1).
var supported = map[string]bool{
	"Conv": true, "BatchNormalization": true, "Relu": true, "MaxPool": true, "AveragePool": true,
	"GlobalAveragePool": true, "Flatten": true, "Reshape": true, "Squeeze": true, "Unsqueeze": true,
	"Gemm": true, "MatMul": true, "Add": true, "Slice": true, "Pad": true, "Gather": true,
	"Identity": true, "Dropout": true, "Constant": true, "Shape": true, "Concat": true, "Cast": true,
	"ConstantOfShape": true, "Transpose": true,
}

// SupportedOps lists the ONNX operators that Import understands.
func SupportedOps() []string {
	var ops []string
	for op := range supported {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	return ops
}

// Opset bounds Import accepts: older sets spell several operators
// differently, newer ones are untested.
const (
	MinImportOpset = 9
	MaxImportOpset = 21
)

// FromModel converts an ONNX model into an nn.Graph with its weights.
// Unsupported operators are reported all at once, each with its node name.
func FromModel(m *onnxpb.ModelProto, opts ImportOptions) (*nn.Graph, error) {
	gp := m.GetGraph()
	if gp == nil {
		return nil, fmt.Errorf("the model has no graph (not an ONNX model?)")
	}
	opset := int64(-1)
	for _, o := range m.GetOpsetImport() {
		if d := o.GetDomain(); d == "" || d == "ai.onnx" {
			opset = o.GetVersion()
		}
	}
	if opset < 0 {
		return nil, fmt.Errorf("the model imports no ai.onnx operator set")
	}
	if opset < MinImportOpset || opset > MaxImportOpset {
		return nil, fmt.Errorf("opset %d is outside the supported range %d-%d", opset, MinImportOpset, MaxImportOpset)
	}
	var bad []string
	for i, n := range gp.GetNode() {
		if d := n.GetDomain(); (d != "" && d != "ai.onnx") || !supported[n.GetOpType()] {
			op := n.GetOpType()
			if d := n.GetDomain(); d != "" {
				op = d + "." + op
			}
			bad = append(bad, fmt.Sprintf("%s (node %d %q)", op, i, n.GetName()))
		}
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("%d unsupported operator(s): %s; supported: %s",
			len(bad), strings.Join(bad, ", "), strings.Join(SupportedOps(), ", "))
	}
	im := &importer{values: map[string]*value{}, used: map[string]bool{"input": true}, uses: map[string]int{}}
	if err := im.run(m, gp, opts); err != nil {
		return nil, err
	}
	return im.build(archName(m, gp, opts), opts.RestoreBN)
}

func archName(m *onnxpb.ModelProto, gp *onnxpb.GraphProto, opts ImportOptions) string {
	if opts.Arch != "" {
		return opts.Arch
	}
	for _, p := range m.GetMetadataProps() {
		if p.GetKey() == MetaArch && p.GetValue() != "" {
			return p.GetValue()
		}
	}
	if s := sanitize(gp.GetName()); s != "" {
		return s
	}
	return "onnx"
}

// irNode is a layer waiting to be added to the graph: nodes are collected
// first so that a MatMul can still take the following Add as its bias and
// so that only what the output depends on is kept.
type irNode struct {
	name   string
	layer  nn.Layer // nil for the graph input
	inputs []*irNode
	shape  []int // nn per-sample output shape
	uses   int   // layers reading it so far
	onnx   string
}

// value is what an ONNX tensor name stands for: a constant, or an
// activation produced by an irNode. shape is the ONNX per-sample shape,
// which differs from the node's nn shape after GlobalAveragePool (ONNX
// keeps the 1x1 axes). sub is a spatial subsample (Slice with steps) not
// yet turned into a layer: a following channel Pad joins it into one
// option-A shortcut.
type value struct {
	c       *constant
	n       *irNode
	shape   []int
	sub     [2]int
	subName string
}

func (v *value) pending() bool { return v.sub[0] > 1 || v.sub[1] > 1 }

type importer struct {
	nodes      []*irNode
	values     map[string]*value
	used       map[string]bool // node names taken
	uses       map[string]int  // ONNX readers of each tensor name
	outputs    map[string]bool
	input      *irNode
	fixedBatch int // the input's batch size when the file fixes it
	out        *irNode
}

func (im *importer) run(m *onnxpb.ModelProto, gp *onnxpb.GraphProto, opts ImportOptions) error {
	for _, t := range gp.GetInitializer() {
		c, err := decodeTensor(t)
		if err != nil {
			return fmt.Errorf("initializer: %w", err)
		}
		im.values[t.GetName()] = &value{c: c, shape: c.dims}
	}
	if len(gp.GetSparseInitializer()) > 0 {
		return fmt.Errorf("sparse initializers are not supported")
	}
	if err := im.graphInput(gp, opts); err != nil {
		return err
	}
	for _, n := range gp.GetNode() {
		for _, in := range n.GetInput() {
			im.uses[in]++
		}
	}
	if len(gp.GetOutput()) != 1 {
		return fmt.Errorf("the graph has %d outputs; evoprune models have exactly one", len(gp.GetOutput()))
	}
	im.outputs = map[string]bool{gp.GetOutput()[0].GetName(): true}
	for i, n := range gp.GetNode() {
		if err := im.node(i, n); err != nil {
			return fmt.Errorf("node %d %q (%s): %w", i, n.GetName(), n.GetOpType(), err)
		}
	}
	outName := gp.GetOutput()[0].GetName()
	v := im.values[outName]
	if v == nil {
		return fmt.Errorf("graph output %q is produced by no node", outName)
	}
	if v.c != nil {
		return fmt.Errorf("graph output %q is a constant", outName)
	}
	if err := im.materialize(v); err != nil {
		return fmt.Errorf("graph output %q: %w", outName, err)
	}
	if v.n == im.input {
		return fmt.Errorf("graph output %q is the input: the model has no layers", outName)
	}
	im.out = v.n
	return nil
}

func (im *importer) graphInput(gp *onnxpb.GraphProto, opts ImportOptions) error {
	var ins []*onnxpb.ValueInfoProto
	for _, in := range gp.GetInput() {
		if v := im.values[in.GetName()]; v != nil && v.c != nil {
			continue // IR < 4 lists initializers among the inputs
		}
		ins = append(ins, in)
	}
	if len(ins) != 1 {
		return fmt.Errorf("the graph has %d non-constant inputs; evoprune models have exactly one", len(ins))
	}
	in := ins[0]
	tt := in.GetType().GetTensorType()
	if tt == nil {
		return fmt.Errorf("graph input %q is not a tensor", in.GetName())
	}
	if et := onnxpb.TensorProto_DataType(tt.GetElemType()); et != onnxpb.TensorProto_FLOAT {
		return fmt.Errorf("graph input %q has element type %s; only FLOAT is supported", in.GetName(), et)
	}
	dims := tt.GetShape().GetDim()
	var shape []int
	if len(opts.InputShape) > 0 {
		shape = append(shape, opts.InputShape...)
		if tt.GetShape() != nil && len(dims) != len(shape)+1 {
			return fmt.Errorf("graph input %q has rank %d, but the input shape given, %v, is for rank %d", in.GetName(), len(dims), shape, len(shape)+1)
		}
	} else {
		if len(dims) != 2 && len(dims) != 4 {
			return fmt.Errorf("graph input %q has rank %d; need [N, C, H, W] or [N, F]", in.GetName(), len(dims))
		}
		for i, d := range dims[1:] {
			if _, ok := d.GetValue().(*onnxpb.TensorShapeProto_Dimension_DimValue); !ok || d.GetDimValue() <= 0 {
				return fmt.Errorf("graph input %q: dimension %d is not a fixed positive size (%q); give the input shape", in.GetName(), i+1, d.GetDimParam())
			}
			shape = append(shape, int(d.GetDimValue()))
		}
	}
	if len(shape) != 1 && len(shape) != 3 {
		return fmt.Errorf("input shape %v: need [C H W] or [F]", shape)
	}
	for _, d := range shape {
		if d <= 0 || d > 1<<20 {
			return fmt.Errorf("input shape %v is not positive and reasonable", shape)
		}
	}
	if len(dims) > 0 {
		if _, ok := dims[0].GetValue().(*onnxpb.TensorShapeProto_Dimension_DimValue); ok {
			im.fixedBatch = int(dims[0].GetDimValue())
		}
	}
	im.input = &irNode{name: "input", shape: shape, onnx: in.GetName()}
	im.values[in.GetName()] = &value{n: im.input, shape: shape}
	return nil
}

// sanitize makes an ONNX name usable as an nn node name.
func sanitize(s string) string {
	s = strings.TrimLeft(s, "/")
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\n' || r == '\r' {
			return '_'
		}
		return r
	}, s)
}

// nodeName picks a unique nn node name: the weight's module path when the
// weight is called "<path>.weight" (as PyTorch names them), else the ONNX
// node name, else the operator and position.
func (im *importer) nodeName(i int, n *onnxpb.NodeProto, param string) string {
	base := ""
	if strings.HasSuffix(param, ".weight") {
		base = sanitize(strings.TrimSuffix(param, ".weight"))
	}
	if base == "" {
		base = sanitize(n.GetName())
	}
	if base == "" {
		base = fmt.Sprintf("%s_%d", strings.ToLower(n.GetOpType()), i)
	}
	name := base
	for k := 2; im.used[name]; k++ {
		name = fmt.Sprintf("%s_%d", base, k)
	}
	im.used[name] = true
	return name
}

// maxActivation bounds one sample's output of a layer: far above any CNN
// evoprune trains, far below what a corrupt file could ask for.
const maxActivation = 1 << 26

// addNode records a layer reading the given activations.
func (im *importer) addNode(name, onnxName string, l nn.Layer, ins ...*irNode) (*irNode, error) {
	shapes := make([][]int, len(ins))
	for i, in := range ins {
		shapes[i] = in.shape
		in.uses++
	}
	shape, err := l.OutShape(shapes)
	if err != nil {
		return nil, err
	}
	numel := 1
	for _, d := range shape {
		if numel *= d; d <= 0 || numel > maxActivation {
			return nil, fmt.Errorf("output shape %v is not positive or too large (more than %d values per sample)", shape, maxActivation)
		}
	}
	n := &irNode{name: name, layer: l, inputs: ins, shape: shape, onnx: onnxName}
	im.nodes = append(im.nodes, n)
	return n, nil
}

// materialize turns a pending subsample into an option-A shortcut with
// equal channel counts (a pure strided subsample).
func (im *importer) materialize(v *value) error {
	if !v.pending() {
		return nil
	}
	if v.sub[0] != v.sub[1] {
		return fmt.Errorf("Slice with steps %d and %d on the two spatial axes: only equal steps map to an evoprune layer", v.sub[0], v.sub[1])
	}
	c := v.n.shape[0]
	l, err := nn.NewShortcutA(nn.ShortcutAConfig{In: c, Out: c, Stride: v.sub[0]})
	if err != nil {
		return err
	}
	name := v.subName
	n, err := im.addNode(name, name, l, v.n)
	if err != nil {
		return err
	}
	v.n, v.sub = n, [2]int{}
	return nil
}

// act returns input i of node n as an activation.
func (im *importer) act(n *onnxpb.NodeProto, i int) (*value, error) {
	v, err := im.arg(n, i)
	if err != nil {
		return nil, err
	}
	if v == nil || v.c != nil {
		return nil, fmt.Errorf("input %d must be an activation, not a constant", i)
	}
	return v, nil
}

// arg returns input i of node n, nil when absent (optional inputs).
func (im *importer) arg(n *onnxpb.NodeProto, i int) (*value, error) {
	if i >= len(n.GetInput()) || n.GetInput()[i] == "" {
		return nil, nil
	}
	name := n.GetInput()[i]
	v := im.values[name]
	if v == nil {
		return nil, fmt.Errorf("input %q is not defined before this node (graph not in topological order?)", name)
	}
	return v, nil
}

// konst returns input i of node n as a constant (nil when absent).
func (im *importer) konst(n *onnxpb.NodeProto, i int, what string) (*constant, error) {
	v, err := im.arg(n, i)
	if err != nil || v == nil {
		return nil, err
	}
	if v.c == nil {
		return nil, fmt.Errorf("%s (input %d, %q) must be a constant (an initializer or computed from constants)", what, i, n.GetInput()[i])
	}
	return v.c, nil
}

// chw checks that an activation is an image batch in both ONNX and nn terms.
func chw(v *value) error {
	if len(v.shape) == 3 && len(v.n.shape) == 1 {
		return fmt.Errorf("needs a feature map, but its input is a pooled vector kept as [C, 1, 1] in ONNX, which no evoprune layer turns back into a map")
	}
	if len(v.shape) != 3 || len(v.n.shape) != 3 {
		return fmt.Errorf("needs an [N, C, H, W] input, got per-sample shape %s", shapeString(v.shape))
	}
	return nil
}

func (im *importer) setOut(n *onnxpb.NodeProto, v *value) error {
	if len(n.GetOutput()) == 0 || n.GetOutput()[0] == "" {
		return fmt.Errorf("the node has no output")
	}
	for _, o := range n.GetOutput()[1:] {
		if o != "" && im.uses[o] > 0 {
			return fmt.Errorf("its extra output %q is used, which is not supported", o)
		}
	}
	im.values[n.GetOutput()[0]] = v
	return nil
}

// layerOut records a new layer as the node's output.
func (im *importer) layerOut(i int, n *onnxpb.NodeProto, param string, l nn.Layer, onnxShape []int, ins ...*value) error {
	var nodes []*irNode
	for _, v := range ins {
		if err := im.materialize(v); err != nil {
			return err
		}
		nodes = append(nodes, v.n)
	}
	node, err := im.addNode(im.nodeName(i, n, param), n.GetOutput()[0], l, nodes...)
	if err != nil {
		return err
	}
	if onnxShape == nil {
		onnxShape = node.shape
	}
	return im.setOut(n, &value{n: node, shape: onnxShape})
}

func (im *importer) node(i int, n *onnxpb.NodeProto) error {
	if len(n.GetOutput()) == 0 {
		return fmt.Errorf("the node has no output")
	}
	a := attrsOf(n)
	// Constant folding: shape arithmetic and anything else whose inputs are
	// all known.
	if folded, err := im.fold(n, a); folded || err != nil {
		return err
	}
	switch n.GetOpType() {
	case "Conv":
		return im.conv(i, n, a)
	case "BatchNormalization":
		return im.batchNorm(i, n, a)
	case "Relu":
		x, err := im.act(n, 0)
		if err != nil {
			return err
		}
		return im.layerOut(i, n, "", &nn.ReLU{}, x.shape, x)
	case "MaxPool", "AveragePool":
		return im.pool(i, n, a)
	case "GlobalAveragePool":
		x, err := im.act(n, 0)
		if err != nil {
			return err
		}
		if err := chw(x); err != nil {
			return err
		}
		return im.layerOut(i, n, "", &nn.GlobalAvgPool{}, []int{x.shape[0], 1, 1}, x)
	case "Flatten":
		x, err := im.act(n, 0)
		if err != nil {
			return err
		}
		axis := a.int("axis", 1)
		if axis < 0 {
			axis += int64(len(x.shape) + 1)
		}
		if axis != 1 {
			return fmt.Errorf("Flatten on axis %d: only axis 1 (keep the batch axis) is supported", a.int("axis", 1))
		}
		return im.flatten(i, n, x)
	case "Reshape":
		return im.reshape(i, n, a)
	case "Squeeze":
		return im.squeeze(i, n, a)
	case "Unsqueeze":
		return fmt.Errorf("Unsqueeze of an activation is not supported (evoprune has no reshape layer)")
	case "Gemm", "MatMul":
		return im.linear(i, n, a)
	case "Add":
		return im.add(i, n)
	case "Slice":
		return im.slice(i, n, a)
	case "Pad":
		return im.pad(i, n, a)
	case "Gather":
		return im.gather(i, n, a)
	case "Identity":
		x, err := im.arg(n, 0)
		if err != nil || x == nil {
			return orMissing(err, 0)
		}
		return im.setOut(n, x)
	case "Dropout":
		return im.dropout(i, n, a)
	case "Shape":
		return im.shape(n, a)
	}
	return fmt.Errorf("operator %s cannot take an activation here", n.GetOpType())
}

func orMissing(err error, i int) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("input %d is missing", i)
}

func (im *importer) conv(i int, n *onnxpb.NodeProto, a attrs) error {
	x, err := im.act(n, 0)
	if err != nil {
		return err
	}
	if err := chw(x); err != nil {
		return err
	}
	w, err := im.konst(n, 1, "Conv weight")
	if err != nil || w == nil {
		return orMissing(err, 1)
	}
	if w.isInt() || len(w.dims) != 4 {
		return fmt.Errorf("Conv weight %q must be a float [O, I, kH, kW] tensor, got dims %v", w.name, w.dims)
	}
	b, err := im.konst(n, 2, "Conv bias")
	if err != nil {
		return err
	}
	if g := a.int("group", 1); g != 1 {
		return fmt.Errorf("grouped convolution (group %d) is not supported", g)
	}
	if err := a.noAutoPad(); err != nil {
		return err
	}
	if err := a.allOnes("dilations"); err != nil {
		return err
	}
	k := w.dims[2]
	if w.dims[3] != k {
		return fmt.Errorf("non-square kernel %dx%d is not supported", w.dims[2], w.dims[3])
	}
	if ks := a.ints("kernel_shape", nil); ks != nil && (len(ks) != 2 || ks[0] != int64(k) || ks[1] != int64(k)) {
		return fmt.Errorf("kernel_shape %v does not match the weight's %v", ks, w.dims)
	}
	stride, err := a.square("strides", 1)
	if err != nil {
		return err
	}
	pad, err := a.pads()
	if err != nil {
		return err
	}
	if w.dims[1] != x.shape[0] {
		return fmt.Errorf("weight %q expects %d input channels, the input has %d", w.name, w.dims[1], x.shape[0])
	}
	cfg := nn.ConvConfig{InC: w.dims[1], OutC: w.dims[0], Kernel: k, Stride: stride, Pad: pad, Bias: b != nil}
	l, err := nn.NewConv2d(cfg)
	if err != nil {
		return err
	}
	conv := l.(*nn.Conv2d)
	copy(conv.Weight.Value.Data, w.f)
	if b != nil {
		if b.isInt() || b.numel() != cfg.OutC {
			return fmt.Errorf("Conv bias %q has dims %v, need [%d]", b.name, b.dims, cfg.OutC)
		}
		copy(conv.B.Value.Data, b.f)
	}
	return im.layerOut(i, n, w.name, l, nil, x)
}

func (im *importer) batchNorm(i int, n *onnxpb.NodeProto, a attrs) error {
	x, err := im.act(n, 0)
	if err != nil {
		return err
	}
	if len(x.shape) != 1 && len(x.shape) != 3 {
		return fmt.Errorf("needs an [N, C] or [N, C, H, W] input, got per-sample shape %s", shapeString(x.shape))
	}
	if a.int("training_mode", 0) != 0 {
		return fmt.Errorf("training_mode=1 is not supported (export the model in eval mode)")
	}
	if _, ok := a["spatial"]; ok && a.int("spatial", 1) != 1 {
		return fmt.Errorf("spatial=0 is not supported")
	}
	c := x.shape[0]
	var ps [4]*constant
	for k, what := range []string{"scale", "bias", "mean", "variance"} {
		p, err := im.konst(n, k+1, "BatchNormalization "+what)
		if err != nil || p == nil {
			return orMissing(err, k+1)
		}
		if p.isInt() || p.numel() != c {
			return fmt.Errorf("BatchNormalization %s %q has dims %v, need [%d]", what, p.name, p.dims, c)
		}
		ps[k] = p
	}
	eps := decimal32(float64(a.float("epsilon", 1e-5)))
	if !(eps > 0) {
		return fmt.Errorf("epsilon %g must be positive", eps)
	}
	// ONNX's momentum weighs the running statistic; PyTorch's (and nn's)
	// weighs the batch statistic.
	mom := decimal32(1 - decimal32(float64(a.float("momentum", 0.9))))
	if !(mom > 0 && mom <= 1) {
		mom = 0.1
	}
	l, err := nn.NewBatchNorm(nn.BatchNormConfig{C: c, Eps: eps, Momentum: mom})
	if err != nil {
		return err
	}
	bn := l.(*nn.BatchNorm)
	copy(bn.Gamma.Value.Data, ps[0].f)
	copy(bn.Beta.Value.Data, ps[1].f)
	copy(bn.RunningMean.Value.Data, ps[2].f)
	copy(bn.RunningVar.Value.Data, ps[3].f)
	for k, v := range ps[3].f {
		if !(v >= 0) {
			return fmt.Errorf("BatchNormalization variance %q[%d] = %g is negative", ps[3].name, k, v)
		}
	}
	return im.layerOut(i, n, ps[0].name, l, x.shape, x)
}

func (im *importer) pool(i int, n *onnxpb.NodeProto, a attrs) error {
	x, err := im.act(n, 0)
	if err != nil {
		return err
	}
	if err := chw(x); err != nil {
		return err
	}
	if err := a.noAutoPad(); err != nil {
		return err
	}
	if err := a.allOnes("dilations"); err != nil {
		return err
	}
	if a.int("storage_order", 0) != 0 {
		return fmt.Errorf("storage_order=1 is not supported")
	}
	k, err := a.square("kernel_shape", 0)
	if err != nil {
		return err
	}
	if k <= 0 {
		return fmt.Errorf("kernel_shape is required")
	}
	stride, err := a.square("strides", 1)
	if err != nil {
		return err
	}
	pad, err := a.pads()
	if err != nil {
		return err
	}
	cfg := nn.PoolConfig{Kernel: k, Stride: stride, Pad: pad}
	var l nn.Layer
	if n.GetOpType() == "MaxPool" {
		l, err = nn.NewMaxPool2d(cfg)
	} else {
		if pad > 0 && a.int("count_include_pad", 0) == 0 {
			return fmt.Errorf("AveragePool with padding and count_include_pad=0 is not supported (evoprune counts padded zeros)")
		}
		l, err = nn.NewAvgPool2d(cfg)
	}
	if err != nil {
		return err
	}
	if a.int("ceil_mode", 0) != 0 {
		// Ceil mode only matters when the window does not tile the input.
		for _, d := range x.shape[1:] {
			if (d+2*pad-k)%stride != 0 {
				return fmt.Errorf("ceil_mode=1 with a window that does not tile the %dx%d input is not supported", x.shape[1], x.shape[2])
			}
		}
	}
	return im.layerOut(i, n, "", l, nil, x)
}

// flatten maps a flatten to [N, rest]: no layer when nothing changes in nn
// terms (after GlobalAveragePool, or already flat), else nn's flatten.
func (im *importer) flatten(i int, n *onnxpb.NodeProto, x *value) error {
	if err := im.materialize(x); err != nil {
		return err
	}
	numel := 1
	for _, d := range x.shape {
		numel *= d
	}
	if len(x.n.shape) == 1 {
		return im.setOut(n, &value{n: x.n, shape: []int{numel}})
	}
	return im.layerOut(i, n, "", &nn.Flatten{}, []int{numel}, x)
}

func (im *importer) reshape(i int, n *onnxpb.NodeProto, a attrs) error {
	x, err := im.act(n, 0)
	if err != nil {
		return err
	}
	s, err := im.konst(n, 1, "Reshape shape")
	if err != nil || s == nil {
		return orMissing(err, 1)
	}
	if !s.isInt() || len(s.dims) != 1 || len(s.i) < 1 {
		return fmt.Errorf("shape %q must be a 1-D integer tensor", s.name)
	}
	allowZero := a.int("allowzero", 0) != 0
	numel := 1
	for _, d := range x.shape {
		numel *= d
	}
	// The first target entry must keep the batch axis.
	rest := s.i[1:]
	switch {
	case s.batch[0], s.i[0] == 0 && !allowZero, im.fixedBatch > 0 && s.i[0] == int64(im.fixedBatch):
	case s.i[0] == -1:
		for _, d := range rest {
			if d <= 0 {
				return fmt.Errorf("reshape to %v: with -1 in the batch position the other sizes must be explicit", s.i)
			}
		}
	default:
		return fmt.Errorf("reshape to %v does not keep the batch axis first", s.i)
	}
	out := make([]int, len(rest))
	infer, prod := -1, 1
	for k, d := range rest {
		switch {
		case s.batch[k+1]:
			return fmt.Errorf("reshape to %v moves the batch size off the first axis", s.i)
		case d == -1 && infer < 0:
			infer = k
			continue
		case d == 0 && !allowZero:
			if k+1 > len(x.shape) {
				return fmt.Errorf("reshape to %v copies axis %d, which the input lacks", s.i, k+1)
			}
			d = int64(x.shape[k])
		case d <= 0:
			return fmt.Errorf("reshape to %v: invalid size %d", s.i, d)
		}
		if d > maxElements {
			return fmt.Errorf("reshape to %v: size %d too large", s.i, d)
		}
		out[k] = int(d)
		prod *= int(d)
		if prod > maxElements {
			return fmt.Errorf("reshape to %v: too large", s.i)
		}
	}
	if infer >= 0 {
		if numel%prod != 0 {
			return fmt.Errorf("reshape of %v to %v: sizes do not divide", x.shape, s.i)
		}
		out[infer] = numel / prod
		prod = numel
	}
	if prod != numel {
		return fmt.Errorf("reshape of per-sample shape %v to %v changes the element count", x.shape, s.i)
	}
	if len(out) == 1 {
		return im.flatten(i, n, x)
	}
	if equalInts(out, x.shape) {
		return im.setOut(n, x)
	}
	return fmt.Errorf("reshape of per-sample shape %v to %v is not supported (only flattening is)", x.shape, out)
}

func (im *importer) squeeze(i int, n *onnxpb.NodeProto, a attrs) error {
	x, err := im.act(n, 0)
	if err != nil {
		return err
	}
	axes := a.ints("axes", nil)
	if c, err := im.konst(n, 1, "Squeeze axes"); err != nil {
		return err
	} else if c != nil {
		if axes, err = c.ints("Squeeze axes"); err != nil {
			return err
		}
	}
	rank := int64(len(x.shape) + 1)
	drop := map[int]bool{}
	for _, ax := range axes {
		if ax < 0 {
			ax += rank
		}
		if ax < 1 || ax >= rank || x.shape[ax-1] != 1 {
			return fmt.Errorf("squeeze axes %v: axis %d is not a per-sample axis of size 1 in %v", axes, ax, x.shape)
		}
		drop[int(ax-1)] = true
	}
	if axes == nil {
		for k, d := range x.shape {
			if d == 1 {
				drop[k] = true
			}
		}
	}
	var out []int
	for k, d := range x.shape {
		if !drop[k] {
			out = append(out, d)
		}
	}
	switch {
	case len(out) == len(x.shape):
		return im.setOut(n, x)
	case len(out) == 1:
		return im.flatten(i, n, x)
	}
	return fmt.Errorf("squeeze of %v to %v is not supported (only flattening is)", x.shape, out)
}

// linear maps Gemm (any transB, alpha, beta) and MatMul with a constant
// right operand to a fully connected layer.
func (im *importer) linear(i int, n *onnxpb.NodeProto, a attrs) error {
	x, err := im.act(n, 0)
	if err != nil {
		return err
	}
	if err := im.materialize(x); err != nil {
		return err
	}
	if len(x.shape) != 1 || len(x.n.shape) != 1 {
		return fmt.Errorf("needs a flat [N, F] input, got per-sample shape %s (flatten first)", shapeString(x.shape))
	}
	w, err := im.konst(n, 1, "weight")
	if err != nil || w == nil {
		return orMissing(err, 1)
	}
	if w.isInt() || len(w.dims) != 2 {
		return fmt.Errorf("weight %q must be a 2-D float tensor, got dims %v", w.name, w.dims)
	}
	gemm := n.GetOpType() == "Gemm"
	if gemm && a.int("transA", 0) != 0 {
		return fmt.Errorf("transA=1 is not supported")
	}
	transB := gemm && a.int("transB", 0) != 0
	in, out := w.dims[0], w.dims[1]
	if transB {
		in, out = out, in
	}
	if in != x.shape[0] {
		return fmt.Errorf("weight %q (dims %v) expects %d input features, the input has %d", w.name, w.dims, in, x.shape[0])
	}
	var bias *constant
	alpha, beta := float32(1), float32(1)
	if gemm {
		alpha, beta = a.float("alpha", 1), a.float("beta", 1)
		if bias, err = im.konst(n, 2, "Gemm bias"); err != nil {
			return err
		}
	}
	cfg := nn.LinearConfig{In: in, Out: out, Bias: bias != nil}
	l, err := nn.NewLinear(cfg)
	if err != nil {
		return err
	}
	lin := l.(*nn.Linear)
	wd := lin.Weight.Value.Data
	for o := 0; o < out; o++ {
		for k := 0; k < in; k++ {
			if transB {
				wd[o*in+k] = alpha * w.f[o*in+k]
			} else {
				wd[o*in+k] = alpha * w.f[k*out+o]
			}
		}
	}
	if bias != nil {
		if err := setBias(lin.B.Value.Data, bias, beta); err != nil {
			return err
		}
	}
	return im.layerOut(i, n, w.name, l, nil, x)
}

// setBias fills a bias vector from a constant of out elements, or of one
// (broadcast), scaled by beta.
func setBias(dst []float32, c *constant, beta float32) error {
	if c.isInt() || (c.numel() != len(dst) && c.numel() != 1) {
		return fmt.Errorf("bias %q has dims %v, need %d values", c.name, c.dims, len(dst))
	}
	for k := range dst {
		dst[k] = beta * c.f[min(k, len(c.f)-1)]
	}
	return nil
}

// add maps the sum of two activations to nn's add, and the sum of a
// bias-less Conv or MatMul output with a constant to that layer's bias.
func (im *importer) add(i int, n *onnxpb.NodeProto) error {
	if len(n.GetInput()) != 2 {
		return fmt.Errorf("Add needs 2 inputs, got %d", len(n.GetInput()))
	}
	x, err := im.arg(n, 0)
	if err != nil || x == nil {
		return orMissing(err, 0)
	}
	y, err := im.arg(n, 1)
	if err != nil || y == nil {
		return orMissing(err, 1)
	}
	if x.c == nil && y.c == nil {
		if !equalInts(x.shape, y.shape) {
			return fmt.Errorf("Add of shapes %v and %v: broadcasting is not supported", x.shape, y.shape)
		}
		return im.layerOut(i, n, "", &nn.Add{}, x.shape, x, y)
	}
	direct := n.GetInput()[0]
	if x.c != nil {
		x, y, direct = y, x, n.GetInput()[1]
	}
	if x.c != nil {
		return fmt.Errorf("both inputs are constants, yet the node did not fold")
	}
	src := x.n
	name := x.n.onnx
	if x.pending() || direct != name || im.uses[name] != 1 || im.outputs[name] || src.uses != 0 {
		return fmt.Errorf("adding a constant is supported only as the bias of a Conv or MatMul whose output nothing else reads")
	}
	switch l := src.layer.(type) {
	case *nn.Linear:
		if l.B == nil {
			nl, _ := nn.NewLinear(nn.LinearConfig{In: l.Cfg.In, Out: l.Cfg.Out, Bias: true})
			lin := nl.(*nn.Linear)
			copy(lin.Weight.Value.Data, l.Weight.Value.Data)
			if err := setBias(lin.B.Value.Data, y.c, 1); err != nil {
				return err
			}
			src.layer = nl
			return im.setOut(n, x)
		}
	case *nn.Conv2d:
		if l.B == nil {
			cfg := l.Cfg
			cfg.Bias = true
			nl, _ := nn.NewConv2d(cfg)
			conv := nl.(*nn.Conv2d)
			copy(conv.Weight.Value.Data, l.Weight.Value.Data)
			if err := setBias(conv.B.Value.Data, y.c, 1); err != nil {
				return err
			}
			src.layer = nl
			return im.setOut(n, x)
		}
	}
	return fmt.Errorf("adding a constant is supported only as the bias of a Conv or MatMul without one")
}

// slice maps a Slice on the spatial axes (from 0, every step-th) to a
// pending subsample, and one on the channel axis to nn's select.
func (im *importer) slice(i int, n *onnxpb.NodeProto, a attrs) error {
	x, err := im.act(n, 0)
	if err != nil {
		return err
	}
	starts, ends, axes, steps := a.ints("starts", nil), a.ints("ends", nil), a.ints("axes", nil), []int64(nil)
	for k, p := range []*[]int64{&starts, &ends, &axes, &steps} {
		c, err := im.konst(n, k+1, "Slice "+[]string{"starts", "ends", "axes", "steps"}[k])
		if err != nil {
			return err
		}
		if c != nil {
			if *p, err = c.ints("Slice argument"); err != nil {
				return err
			}
		}
	}
	if starts == nil || len(ends) != len(starts) {
		return fmt.Errorf("starts and ends must be given with equal lengths")
	}
	if axes == nil {
		for k := range starts {
			axes = append(axes, int64(k))
		}
	}
	if steps == nil {
		steps = make([]int64, len(starts))
		for k := range steps {
			steps[k] = 1
		}
	}
	if len(axes) != len(starts) || len(steps) != len(starts) {
		return fmt.Errorf("starts, ends, axes and steps differ in length")
	}
	rank := int64(len(x.shape) + 1)
	v := *x
	v.shape = append([]int(nil), x.shape...)
	var channels []int
	for k, ax := range axes {
		if ax < 0 {
			ax += rank
		}
		if ax < 0 || ax >= rank {
			return fmt.Errorf("axis %d out of range for rank %d", axes[k], rank)
		}
		step := steps[k]
		if step <= 0 {
			return fmt.Errorf("step %d on axis %d: only positive steps are supported", step, ax)
		}
		if ax == 0 {
			if starts[k] != 0 || ends[k] < math.MaxInt32 || step != 1 {
				return fmt.Errorf("slicing the batch axis is not supported")
			}
			continue
		}
		d := int64(v.shape[ax-1])
		start, end := clampIndex(starts[k], d), clampIndex(ends[k], d)
		if ax == 1 {
			for c := start; c < end; c += step {
				channels = append(channels, int(c))
			}
			if len(channels) == 0 {
				return fmt.Errorf("the slice keeps no channel")
			}
			v.shape[0] = len(channels)
			continue
		}
		if len(v.shape) != 3 || ax > 3 {
			return fmt.Errorf("slicing axis %d of per-sample shape %v is not supported", ax, x.shape)
		}
		if start != 0 || end != d {
			return fmt.Errorf("spatial slice [%d:%d:%d] of an axis of %d: only strided subsampling from 0 to the end is supported", starts[k], ends[k], step, d)
		}
		sub := max(v.sub[ax-2], 1) * int(step)
		v.sub[ax-2] = sub
		v.shape[ax-1] = int((d + step - 1) / step)
	}
	if v.sub[0] == 0 {
		v.sub[0] = 1
	}
	if v.sub[1] == 0 {
		v.sub[1] = 1
	}
	if v.pending() {
		v.subName = im.nodeName(i, n, "")
	}
	if channels != nil && len(channels) != x.shape[0] {
		if err := im.materialize(&v); err != nil {
			return err
		}
		l, err := nn.NewSelect(nn.SelectConfig{In: x.shape[0], Index: channels})
		if err != nil {
			return err
		}
		return im.layerOut(i, n, "", l, v.shape, &v)
	}
	return im.setOut(n, &v)
}

func clampIndex(i, d int64) int64 {
	if i < 0 {
		i += d
	}
	return max(0, min(i, d))
}

// pad maps a zero Pad of the channel axis, after an optional pending
// subsample, to the option-A shortcut.
func (im *importer) pad(i int, n *onnxpb.NodeProto, a attrs) error {
	x, err := im.act(n, 0)
	if err != nil {
		return err
	}
	if m := a.str("mode", "constant"); m != "constant" {
		return fmt.Errorf("Pad mode %q is not supported", m)
	}
	pads := a.ints("pads", nil)
	if c, err := im.konst(n, 1, "Pad pads"); err != nil {
		return err
	} else if c != nil {
		if pads, err = c.ints("Pad pads"); err != nil {
			return err
		}
	}
	padValue := float64(a.float("value", 0))
	if c, err := im.konst(n, 2, "Pad constant_value"); err != nil {
		return err
	} else if c != nil {
		if c.numel() != 1 {
			return fmt.Errorf("constant_value must be a scalar")
		}
		if c.isInt() {
			padValue = float64(c.i[0])
		} else {
			padValue = float64(c.f[0])
		}
	}
	if len(n.GetInput()) > 3 && n.GetInput()[3] != "" {
		return fmt.Errorf("Pad with an axes input is not supported")
	}
	if padValue != 0 {
		return fmt.Errorf("padding with %g: only zero padding is supported", padValue)
	}
	rank := len(x.shape) + 1
	if len(pads) != 2*rank {
		return fmt.Errorf("pads %v: need %d values for a rank-%d tensor", pads, 2*rank, rank)
	}
	for k, p := range pads {
		if k%rank != 1 && p != 0 {
			return fmt.Errorf("pads %v: only the channel axis may be padded here", pads)
		}
		if p < 0 || p > maxElements {
			return fmt.Errorf("pads %v: invalid padding %d", pads, p)
		}
	}
	front, back := int(pads[1]), int(pads[1+rank])
	if front == 0 && back == 0 {
		return im.setOut(n, x)
	}
	if err := chw(x); err != nil {
		return err
	}
	in := x.shape[0]
	if front != (front+back)/2 {
		return fmt.Errorf("channel pads %d before and %d after: evoprune's shortcut puts (added)/2 zero channels first", front, back)
	}
	if x.sub[0] != x.sub[1] {
		if err := im.materialize(x); err != nil {
			return err
		}
	}
	stride := max(x.sub[0], 1)
	l, err := nn.NewShortcutA(nn.ShortcutAConfig{In: in, Out: in + front + back, Stride: stride})
	if err != nil {
		return err
	}
	src := &value{n: x.n, shape: x.shape}
	shape := append([]int{in + front + back}, x.shape[1:]...)
	return im.layerOut(i, n, "", l, shape, src)
}

// gather maps Gather on the channel axis with constant indices to nn's
// select.
func (im *importer) gather(i int, n *onnxpb.NodeProto, a attrs) error {
	x, err := im.act(n, 0)
	if err != nil {
		return err
	}
	idx, err := im.konst(n, 1, "Gather indices")
	if err != nil || idx == nil {
		return orMissing(err, 1)
	}
	axis := a.int("axis", 0)
	if axis < 0 {
		axis += int64(len(x.shape) + 1)
	}
	if axis != 1 {
		return fmt.Errorf("Gather on axis %d of an activation: only the channel axis (1) is supported", a.int("axis", 0))
	}
	ii, err := idx.ints("Gather indices")
	if err != nil {
		return err
	}
	if len(idx.dims) != 1 {
		return fmt.Errorf("Gather indices %q must be 1-D, got dims %v", idx.name, idx.dims)
	}
	if ok, err := im.gatherShortcut(i, n, x, ii); ok || err != nil {
		return err
	}
	c := x.shape[0]
	index := make([]int, len(ii))
	for k, v := range ii {
		if v < 0 {
			v += int64(c)
		}
		if v < 0 || v >= int64(c) {
			return fmt.Errorf("index %d out of range for %d channels", ii[k], c)
		}
		index[k] = int(v)
	}
	l, err := nn.NewSelect(nn.SelectConfig{In: c, Index: index})
	if err != nil {
		return err
	}
	shape := append([]int{len(index)}, x.shape[1:]...)
	return im.layerOut(i, n, "", l, shape, x)
}

// gatherShortcut folds a channel Gather into the option-A shortcut whose
// output it alone reads, giving the shortcut a channel map: input channel
// c lands on output o where the Gather picks c's channel, and outputs that
// pick a zero channel stay zero. evoprune exports mapped shortcuts so.
func (im *importer) gatherShortcut(i int, n *onnxpb.NodeProto, x *value, idx []int64) (bool, error) {
	if x.pending() || x.n.layer == nil {
		return false, nil
	}
	sc, ok := x.n.layer.(*nn.ShortcutA)
	name := x.n.onnx
	if !ok || n.GetInput()[0] != name || im.uses[name] != 1 || im.outputs[name] || x.n.uses != 0 {
		return false, nil
	}
	cfg := sc.Cfg
	inv := make([]int, cfg.Out) // shortcut output channel -> input channel
	for k := range inv {
		inv[k] = -1
	}
	for c := 0; c < cfg.In; c++ {
		if t := sc.Target(c); t >= 0 {
			inv[t] = c
		}
	}
	m := make([]int, cfg.In)
	for c := range m {
		m[c] = -1
	}
	for o, j := range idx {
		if j < 0 {
			j += int64(cfg.Out)
		}
		if j < 0 || j >= int64(cfg.Out) {
			return true, fmt.Errorf("index %d out of range for %d channels", idx[o], cfg.Out)
		}
		c := inv[j]
		if c < 0 {
			continue // a zero channel
		}
		if m[c] >= 0 {
			return true, fmt.Errorf("Gather copies channel %d twice, which no evoprune layer does", j)
		}
		m[c] = o
	}
	l, err := nn.NewShortcutA(nn.ShortcutAConfig{In: cfg.In, Out: len(idx), Stride: cfg.Stride, Map: m})
	if err != nil {
		return true, err
	}
	shape, err := l.OutShape([][]int{x.n.inputs[0].shape})
	if err != nil {
		return true, err
	}
	x.n.layer, x.n.shape, x.n.name, x.n.onnx = l, shape, im.nodeName(i, n, ""), n.GetOutput()[0]
	return true, im.setOut(n, &value{n: x.n, shape: append([]int{len(idx)}, x.shape[1:]...)})
}

func (im *importer) dropout(i int, n *onnxpb.NodeProto, a attrs) error {
	x, err := im.act(n, 0)
	if err != nil {
		return err
	}
	ratio := float64(a.float("ratio", 0.5))
	if c, err := im.konst(n, 1, "Dropout ratio"); err != nil {
		return err
	} else if c != nil {
		if c.isInt() || c.numel() != 1 {
			return fmt.Errorf("Dropout ratio must be a float scalar")
		}
		ratio = float64(c.f[0])
	}
	if c, err := im.konst(n, 2, "Dropout training_mode"); err != nil {
		return err
	} else if c != nil && c.numel() == 1 && ((c.isInt() && c.i[0] != 0) || (!c.isInt() && c.f[0] != 0)) {
		return fmt.Errorf("Dropout in training mode is not supported")
	}
	if ratio == 0 {
		return im.setOut(n, x)
	}
	l, err := nn.NewDropout(nn.DropoutConfig{P: decimal32(ratio)})
	if err != nil {
		return err
	}
	return im.layerOut(i, n, "", l, x.shape, x)
}

// shape evaluates Shape of an activation: [batch, per-sample dims...].
func (im *importer) shape(n *onnxpb.NodeProto, a attrs) error {
	x, err := im.act(n, 0)
	if err != nil {
		return err
	}
	full := append([]int64{int64(max(im.fixedBatch, 1))}, toInt64(x.shape)...)
	isBatch := make([]bool, len(full))
	isBatch[0] = true
	r := int64(len(full))
	start, end := a.int("start", 0), a.int("end", r)
	start, end = clampIndex(start, r), clampIndex(end, r)
	if _, ok := a["end"]; !ok {
		end = r
	}
	if start > end {
		start = end
	}
	c := &constant{name: n.GetOutput()[0], dims: []int{int(end - start)}, i: full[start:end], batch: isBatch[start:end]}
	return im.setOut(n, &value{c: c, shape: c.dims})
}

func toInt64(v []int) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return out
}

func equalInts(a, b []int) bool {
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

// build assembles the graph from the nodes the output depends on.
func (im *importer) build(arch string, restoreBN bool) (*nn.Graph, error) {
	keep := map[*irNode]bool{im.out: true}
	for k := len(im.nodes) - 1; k >= 0; k-- {
		if n := im.nodes[k]; keep[n] {
			for _, in := range n.inputs {
				keep[in] = true
			}
		}
	}
	restore := map[*irNode]bool{}
	if restoreBN {
		restore = im.convsWithoutBN(keep)
	}
	g := nn.NewGraph(arch, im.input.shape...)
	nodes := map[*irNode]*nn.Node{im.input: g.Input()}
	for _, n := range im.nodes {
		if !keep[n] {
			continue
		}
		ins := make([]*nn.Node, len(n.inputs))
		for k, in := range n.inputs {
			ins[k] = nodes[in]
		}
		if restore[n] {
			conv, bn, err := splitBias(n.layer.(*nn.Conv2d))
			if err != nil {
				return nil, err
			}
			x := g.Add(n.name, conv, ins...)
			name := n.name + "_bn"
			for k := 2; im.used[name]; k++ {
				name = fmt.Sprintf("%s_bn%d", n.name, k)
			}
			im.used[name] = true
			nodes[n] = g.Add(name, bn, x)
		} else {
			nodes[n] = g.Add(n.name, n.layer, ins...)
		}
		if err := g.Err(); err != nil {
			return nil, err
		}
	}
	if g.Output() != nodes[im.out] {
		return nil, fmt.Errorf("internal error: the output node %q is not last", im.out.name)
	}
	return g, nil
}

// convsWithoutBN returns the kept convolutions that no BatchNorm reads.
func (im *importer) convsWithoutBN(keep map[*irNode]bool) map[*irNode]bool {
	hasBN := map[*irNode]bool{}
	for _, n := range im.nodes {
		if _, ok := n.layer.(*nn.BatchNorm); ok && keep[n] {
			hasBN[n.inputs[0]] = true
		}
	}
	out := map[*irNode]bool{}
	for _, n := range im.nodes {
		if _, ok := n.layer.(*nn.Conv2d); ok && keep[n] && !hasBN[n] {
			out[n] = true
		}
	}
	return out
}

// splitBias returns a bias-free copy of c and a BatchNorm that adds c's
// bias: gamma 1, running mean 0 and running variance 1-eps, so that in
// inference it is exactly x -> x + bias (up to rounding).
func splitBias(c *nn.Conv2d) (nn.Layer, nn.Layer, error) {
	cfg := c.Cfg
	cfg.Bias = false
	l, err := nn.NewConv2d(cfg)
	if err != nil {
		return nil, nil, err
	}
	copy(l.(*nn.Conv2d).Weight.Value.Data, c.Weight.Value.Data)
	b, err := nn.NewBatchNorm(nn.BatchNormConfig{C: cfg.OutC})
	if err != nil {
		return nil, nil, err
	}
	bn := b.(*nn.BatchNorm)
	for i := range bn.RunningVar.Value.Data {
		bn.RunningVar.Value.Data[i] = float32(1 - bn.Cfg.Eps)
	}
	if c.B != nil {
		copy(bn.Beta.Value.Data, c.B.Value.Data)
	}
	return l, b, nil
}
