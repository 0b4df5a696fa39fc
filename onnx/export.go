// Package onnx converts evoprune models to and from ONNX, the exchange
// format most deployment runtimes read and most frameworks write.
//
// Export writes an nn.Graph as an opset-13 ONNX model whose batch dimension
// is dynamic and whose weights are float32 initializers named like the
// checkpoint's tensors ("layer1.0.conv1.weight"). Import reads ONNX models
// built from the same small set of operators (as PyTorch exports CIFAR and
// MNIST CNNs, BatchNorm folded into Conv or not) back into an nn.Graph that
// trains, prunes and exports again. The operator mapping is listed in
// docs/ONNX.md.
package onnx

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/evoprune/evoprune/nn"
	"github.com/evoprune/evoprune/onnx/onnxpb"
	"google.golang.org/protobuf/proto"
)

// Opset is the ai.onnx operator-set version Export writes.
const Opset = 13

// irVersion is the ONNX IR version of opset 13 (ONNX 1.8).
const irVersion = 7

// InputName and OutputName name the exported graph's input and output
// tensors; BatchDim names their dynamic batch dimension.
const (
	InputName  = "input"
	OutputName = "output"
	BatchDim   = "batch"
)

// MetaArch is the metadata_props key that carries the graph's Arch, so an
// import names the model as the export did.
const MetaArch = "evoprune.arch"

// ExportOptions tune Export.
type ExportOptions struct {
	// FoldBN folds each BatchNorm that directly follows a convolution (and
	// is that convolution's only reader) into the convolution's weights and
	// bias, as PyTorch's exporter does. The model computes the same function
	// in inference; training statistics are lost.
	FoldBN bool
	// Producer fills ModelProto.producer_version (e.g. the evoprune version).
	Producer string
}

// Export converts g into an ONNX model. Every layer kind of package nn
// that has an inference meaning is supported; an unknown kind is an error
// naming the node.
func Export(g *nn.Graph, opts ExportOptions) (*onnxpb.ModelProto, error) {
	e := &exporter{g: g, opts: opts, names: map[*nn.Node]string{}, folded: map[*nn.Node]bool{}}
	if err := e.run(); err != nil {
		return nil, fmt.Errorf("export %s to ONNX: %w", g.Arch, err)
	}
	m := &onnxpb.ModelProto{
		IrVersion:       proto.Int64(irVersion),
		ProducerName:    proto.String("evoprune"),
		ProducerVersion: proto.String(opts.Producer),
		OpsetImport:     []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(Opset)}},
		Graph:           e.graph,
		MetadataProps:   []*onnxpb.StringStringEntryProto{{Key: proto.String(MetaArch), Value: proto.String(g.Arch)}},
	}
	return m, nil
}

// Marshal converts g to ONNX and encodes it.
func Marshal(g *nn.Graph, opts ExportOptions) ([]byte, error) {
	m, err := Export(g, opts)
	if err != nil {
		return nil, err
	}
	b, err := proto.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("export %s to ONNX: encode: %w", g.Arch, err)
	}
	return b, nil
}

// WriteFile encodes model m and writes it to path atomically (temporary
// file and rename), so an interrupted export never leaves half a model.
func WriteFile(path string, m *onnxpb.ModelProto) error {
	b, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("write %s: encode: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), path)
	}
	if werr != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, werr)
	}
	return nil
}

type exporter struct {
	g      *nn.Graph
	opts   ExportOptions
	graph  *onnxpb.GraphProto
	names  map[*nn.Node]string // ONNX tensor holding each node's output
	folded map[*nn.Node]bool   // BatchNorms folded into their convolution
}

func (e *exporter) run() error {
	g := e.g
	if err := g.Err(); err != nil {
		return err
	}
	e.graph = &onnxpb.GraphProto{Name: proto.String(g.Arch)}
	in := g.Input()
	e.names[in] = InputName
	e.graph.Input = append(e.graph.Input, valueInfo(InputName, in.Shape))
	out := g.Output()
	for _, n := range g.Nodes[1:] {
		if e.folded[n] {
			continue
		}
		if err := e.node(n, n == out); err != nil {
			return fmt.Errorf("node %q (%s): %w", n.Name, n.Layer.Kind(), err)
		}
	}
	e.graph.Output = append(e.graph.Output, valueInfo(OutputName, out.Shape))
	return nil
}

// outName is the tensor name of node n's output: the node's own name, or
// the graph output's fixed name for the last node.
func (e *exporter) outName(n *nn.Node, last bool) string {
	name := n.Name
	if last {
		name = OutputName
	}
	e.names[n] = name
	return name
}

func (e *exporter) in(n *nn.Node, i int) string { return e.names[n.Inputs[i]] }

func (e *exporter) add(op, name string, inputs, outputs []string, attrs ...*onnxpb.AttributeProto) {
	e.graph.Node = append(e.graph.Node, &onnxpb.NodeProto{
		OpType: proto.String(op), Name: proto.String(name),
		Input: inputs, Output: outputs, Attribute: attrs})
}

func (e *exporter) initFloat(name string, shape []int, data []float32) string {
	e.graph.Initializer = append(e.graph.Initializer, floatTensor(name, shape, data))
	return name
}

func (e *exporter) initInt64(name string, v []int64) string {
	raw := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(x))
	}
	e.graph.Initializer = append(e.graph.Initializer, &onnxpb.TensorProto{
		Name: proto.String(name), DataType: proto.Int32(int32(onnxpb.TensorProto_INT64)),
		Dims: []int64{int64(len(v))}, RawData: raw})
	return name
}

// foldableBN returns the BatchNorm that reads only conv node n's output,
// when FoldBN is set.
func (e *exporter) foldableBN(n *nn.Node) (*nn.Node, *nn.BatchNorm) {
	if !e.opts.FoldBN {
		return nil, nil
	}
	cs := e.g.Consumers(n)
	if len(cs) != 1 || n == e.g.Output() {
		return nil, nil
	}
	bn, ok := cs[0].Layer.(*nn.BatchNorm)
	if !ok {
		return nil, nil
	}
	return cs[0], bn
}

func (e *exporter) node(n *nn.Node, last bool) error {
	switch l := n.Layer.(type) {
	case *nn.Conv2d:
		return e.conv(n, l, last)
	case *nn.BatchNorm:
		c := l.Cfg.C
		e.add("BatchNormalization", n.Name, []string{e.in(n, 0),
			e.initFloat(n.Name+".weight", []int{c}, l.Gamma.Value.Data),
			e.initFloat(n.Name+".bias", []int{c}, l.Beta.Value.Data),
			e.initFloat(n.Name+".running_mean", []int{c}, l.RunningMean.Value.Data),
			e.initFloat(n.Name+".running_var", []int{c}, l.RunningVar.Value.Data)},
			[]string{e.outName(n, last)},
			attrFloat("epsilon", float32(l.Cfg.Eps)),
			// ONNX's momentum weighs the running value, PyTorch's the batch value.
			attrFloat("momentum", float32(1-l.Cfg.Momentum)))
	case *nn.ReLU:
		e.add("Relu", n.Name, []string{e.in(n, 0)}, []string{e.outName(n, last)})
	case *nn.MaxPool2d:
		e.add("MaxPool", n.Name, []string{e.in(n, 0)}, []string{e.outName(n, last)}, poolAttrs(l.Cfg)...)
	case *nn.AvgPool2d:
		// nn's average pooling divides by the full window, padding included.
		e.add("AveragePool", n.Name, []string{e.in(n, 0)}, []string{e.outName(n, last)},
			append(poolAttrs(l.Cfg), attrInt("count_include_pad", 1))...)
	case *nn.GlobalAvgPool:
		// ONNX keeps the 1x1 spatial axes that nn drops: flatten them away.
		pooled := n.Name + "/pooled"
		e.add("GlobalAveragePool", n.Name, []string{e.in(n, 0)}, []string{pooled})
		e.add("Flatten", n.Name+"/flatten", []string{pooled}, []string{e.outName(n, last)}, attrInt("axis", 1))
	case *nn.Flatten:
		e.add("Flatten", n.Name, []string{e.in(n, 0)}, []string{e.outName(n, last)}, attrInt("axis", 1))
	case *nn.Linear:
		ins := []string{e.in(n, 0), e.initFloat(n.Name+".weight", []int{l.Cfg.Out, l.Cfg.In}, l.Weight.Value.Data)}
		if l.B != nil {
			ins = append(ins, e.initFloat(n.Name+".bias", []int{l.Cfg.Out}, l.B.Value.Data))
		}
		e.add("Gemm", n.Name, ins, []string{e.outName(n, last)},
			attrFloat("alpha", 1), attrFloat("beta", 1), attrInt("transA", 0), attrInt("transB", 1))
	case *nn.Add:
		e.add("Add", n.Name, []string{e.in(n, 0), e.in(n, 1)}, []string{e.outName(n, last)})
	case *nn.ShortcutA:
		e.shortcutA(n, l, last)
	case *nn.Select:
		idx := make([]int64, len(l.Cfg.Index))
		for i, c := range l.Cfg.Index {
			idx[i] = int64(c)
		}
		e.add("Gather", n.Name, []string{e.in(n, 0), e.initInt64(n.Name+".index", idx)},
			[]string{e.outName(n, last)}, attrInt("axis", 1))
	case *nn.Dropout:
		e.add("Dropout", n.Name, []string{e.in(n, 0),
			e.initFloat(n.Name+".ratio", nil, []float32{float32(l.Cfg.P)})}, []string{e.outName(n, last)})
	default:
		return fmt.Errorf("layer kind %q has no ONNX export", n.Layer.Kind())
	}
	return nil
}

func (e *exporter) conv(n *nn.Node, l *nn.Conv2d, last bool) error {
	c := l.Cfg
	out := n
	w := l.Weight.Value.Data
	var b []float32
	if l.B != nil {
		b = l.B.Value.Data
	}
	if bnNode, bn := e.foldableBN(n); bn != nil {
		w, b = foldBN(c.OutC, w, b, bn)
		e.folded[bnNode] = true
		out = bnNode
		last = bnNode == e.g.Output()
	}
	ins := []string{e.in(n, 0), e.initFloat(n.Name+".weight", []int{c.OutC, c.InC, c.Kernel, c.Kernel}, w)}
	if b != nil {
		ins = append(ins, e.initFloat(n.Name+".bias", []int{c.OutC}, b))
	}
	e.add("Conv", n.Name, ins, []string{e.outName(out, last)},
		attrInts("kernel_shape", c.Kernel, c.Kernel), attrInts("strides", c.Stride, c.Stride),
		attrInts("pads", c.Pad, c.Pad, c.Pad, c.Pad), attrInts("dilations", 1, 1), attrInt("group", 1))
	return nil
}

// foldBN returns the weights and bias of a convolution followed by an
// inference-mode BatchNorm: with s = gamma/sqrt(var+eps), W' = s*W and
// b' = s*(b - mean) + beta, computed in float64.
func foldBN(outC int, w, b []float32, bn *nn.BatchNorm) (fw, fb []float32) {
	fw = make([]float32, len(w))
	fb = make([]float32, outC)
	per := len(w) / outC
	for o := 0; o < outC; o++ {
		s := float64(bn.Gamma.Value.Data[o]) / math.Sqrt(float64(bn.RunningVar.Value.Data[o])+bn.Cfg.Eps)
		for i := o * per; i < (o+1)*per; i++ {
			fw[i] = float32(s * float64(w[i]))
		}
		bias := 0.0
		if b != nil {
			bias = float64(b[o])
		}
		fb[o] = float32(s*(bias-float64(bn.RunningMean.Value.Data[o])) + float64(bn.Beta.Value.Data[o]))
	}
	return fw, fb
}

// shortcutA writes the option-A shortcut as Slice (keep every Stride-th
// row and column, from the first) and Pad (zero channels before and
// after). A shortcut with a channel map becomes Slice, Pad (one zero
// channel after the input's) and Gather (each output channel picks its
// input channel, or the zero one).
func (e *exporter) shortcutA(n *nn.Node, l *nn.ShortcutA, last bool) {
	x := e.in(n, 0)
	c := l.Cfg
	if c.Map == nil && c.Stride == 1 && c.Out == c.In {
		e.add("Identity", n.Name, []string{x}, []string{e.outName(n, last)})
		return
	}
	var pads []int64
	if c.Map != nil {
		pads = []int64{0, 0, 0, 0, 0, 1, 0, 0}
	} else if c.Out > c.In {
		front := l.Front()
		pads = []int64{0, int64(front), 0, 0, 0, int64(c.Out - c.In - front), 0, 0}
	}
	if c.Stride > 1 {
		name, out := n.Name, e.outName(n, last)
		if pads != nil {
			name, out = n.Name+"/subsample", n.Name+"/subsampled"
		}
		e.add("Slice", name, []string{x,
			e.initInt64(n.Name+".starts", []int64{0, 0}),
			e.initInt64(n.Name+".ends", []int64{math.MaxInt64, math.MaxInt64}),
			e.initInt64(n.Name+".axes", []int64{2, 3}),
			e.initInt64(n.Name+".steps", []int64{int64(c.Stride), int64(c.Stride)})},
			[]string{out})
		x = out
	}
	if c.Map == nil {
		if pads != nil {
			e.add("Pad", n.Name, []string{x, e.initInt64(n.Name+".pads", pads)},
				[]string{e.outName(n, last)}, attrString("mode", "constant"))
		}
		return
	}
	padded := n.Name + "/padded"
	e.add("Pad", n.Name+"/zero", []string{x, e.initInt64(n.Name+".pads", pads)}, []string{padded}, attrString("mode", "constant"))
	idx := make([]int64, c.Out)
	for o := range idx {
		idx[o] = int64(c.In) // the zero channel
	}
	for in, o := range c.Map {
		if o >= 0 {
			idx[o] = int64(in)
		}
	}
	e.add("Gather", n.Name, []string{padded, e.initInt64(n.Name+".index", idx)},
		[]string{e.outName(n, last)}, attrInt("axis", 1))
}

func poolAttrs(c nn.PoolConfig) []*onnxpb.AttributeProto {
	return []*onnxpb.AttributeProto{attrInts("kernel_shape", c.Kernel, c.Kernel),
		attrInts("strides", c.Stride, c.Stride), attrInts("pads", c.Pad, c.Pad, c.Pad, c.Pad),
		attrInt("ceil_mode", 0)}
}

func floatTensor(name string, shape []int, data []float32) *onnxpb.TensorProto {
	dims := make([]int64, len(shape))
	for i, d := range shape {
		dims[i] = int64(d)
	}
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return &onnxpb.TensorProto{Name: proto.String(name), DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)),
		Dims: dims, RawData: raw}
}

// valueInfo describes a float tensor [batch, shape...] with a dynamic batch.
func valueInfo(name string, shape []int) *onnxpb.ValueInfoProto {
	dims := []*onnxpb.TensorShapeProto_Dimension{{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: BatchDim}}}
	for _, d := range shape {
		dims = append(dims, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(d)}})
	}
	return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{
		Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{
			ElemType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)),
			Shape:    &onnxpb.TensorShapeProto{Dim: dims}}}}}
}

func attrInt(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(v)}
}

func attrInts(name string, v ...int) *onnxpb.AttributeProto {
	is := make([]int64, len(v))
	for i, x := range v {
		is[i] = int64(x)
	}
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: is}
}

func attrFloat(name string, v float32) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_FLOAT.Enum(), F: proto.Float32(v)}
}

func attrString(name, v string) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_STRING.Enum(), S: []byte(v)}
}
