package onnx

import (
	"encoding/binary"
	"math"
	"strings"
	"testing"

	"github.com/evoprune/evoprune/models"
	"github.com/evoprune/evoprune/nn"
	"github.com/evoprune/evoprune/onnx/onnxpb"
)

func mo(seed uint64) models.Options { return models.Options{Seed: seed} }

// mixedGraph uses every exported layer kind, including those the stock
// models lack: select, padded average pooling, dropout, strided option-A
// shortcuts (plain and with a channel map), and BatchNorm on a vector.
func mixedGraph() (*nn.Graph, error) {
	g := nn.NewGraph("mixed", 3, 16, 16)
	must := func(l nn.Layer, err error) nn.Layer {
		if err != nil {
			panic(err)
		}
		return l
	}
	conv := func(in, out, k, s, p int, bias bool) nn.Layer {
		return must(nn.NewConv2d(nn.ConvConfig{InC: in, OutC: out, Kernel: k, Stride: s, Pad: p, Bias: bias}))
	}
	x := g.Add("conv1", conv(3, 8, 3, 1, 1, true), g.Input())
	x = g.Add("bn1", must(nn.NewBatchNorm(nn.BatchNormConfig{C: 8, Eps: 1e-3, Momentum: 0.05})), x)
	x = g.Add("relu1", &nn.ReLU{}, x)
	a := g.Add("select", must(nn.NewSelect(nn.SelectConfig{In: 8, Index: []int{6, 1, 3, 0, 7}})), x)
	a = g.Add("conv2", conv(5, 8, 1, 1, 0, false), a)
	y := g.Add("add1", &nn.Add{}, a, x)
	y = g.Add("avgpool", must(nn.NewAvgPool2d(nn.PoolConfig{Kernel: 3, Stride: 2, Pad: 1})), y)
	s := g.Add("shortcut", must(nn.NewShortcutA(nn.ShortcutAConfig{In: 8, Out: 12, Stride: 2})), y)
	m := g.Add("maxpool", must(nn.NewMaxPool2d(nn.PoolConfig{Kernel: 3, Stride: 2, Pad: 1})), y)
	m = g.Add("conv3", conv(8, 12, 3, 1, 1, false), m)
	z := g.Add("add2", &nn.Add{}, s, m)
	// A pruned residual stream: input channels land elsewhere or vanish.
	r := g.Add("shortcut2", must(nn.NewShortcutA(nn.ShortcutAConfig{In: 12, Out: 10, Stride: 2,
		Map: []int{3, -1, 0, 9, 1, 2, -1, 8, 4, -1, 6, 5}})), z)
	q := g.Add("conv4", conv(12, 10, 1, 2, 0, false), z)
	z = g.Add("add3", &nn.Add{}, r, q)
	z = g.Add("relu2", &nn.ReLU{}, z)
	z = g.Add("gap", &nn.GlobalAvgPool{}, z)
	z = g.Add("dropout", must(nn.NewDropout(nn.DropoutConfig{P: 0.3})), z)
	z = g.Add("fc", must(nn.NewLinear(nn.LinearConfig{In: 10, Out: 7, Bias: true})), z)
	g.Add("bn_fc", must(nn.NewBatchNorm(nn.BatchNormConfig{C: 7})), z)
	if g.Err() == nil {
		models.Init(g, 4)
		randomizeBN(g, 5)
	}
	return g, g.Err()
}

func TestMixedRoundTrip(t *testing.T) {
	g, err := mixedGraph()
	if err != nil {
		t.Fatal(err)
	}
	for _, fold := range []bool{false, true} {
		b, err := Marshal(g, ExportOptions{FoldBN: fold})
		if err != nil {
			t.Fatal(err)
		}
		h, err := Import(b, ImportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !fold && specJSON(t, h) != specJSON(t, g) {
			t.Fatalf("spec changed:\n%s\n%s", specJSON(t, g), specJSON(t, h))
		}
		x := randomInput(8, 2, 3, 16, 16)
		if e := relErr(forward(h, x), forward(g, x)); e > 1e-6 || (!fold && e != 0) {
			t.Errorf("fold=%v: outputs differ by %g", fold, e)
		}
	}
}

func attr(n *onnxpb.NodeProto, name string) *onnxpb.AttributeProto {
	for _, a := range n.GetAttribute() {
		if a.GetName() == name {
			return a
		}
	}
	return nil
}

func initializer(m *onnxpb.ModelProto, name string) *onnxpb.TensorProto {
	for _, t := range m.GetGraph().GetInitializer() {
		if t.GetName() == name {
			return t
		}
	}
	return nil
}

func int64s(t *testing.T, m *onnxpb.ModelProto, name string) []int64 {
	t.Helper()
	init := initializer(m, name)
	if init == nil || init.GetDataType() != int32(onnxpb.TensorProto_INT64) {
		t.Fatalf("no int64 initializer %q", name)
	}
	raw := init.GetRawData()
	v := make([]int64, len(raw)/8)
	for i := range v {
		v[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
	}
	return v
}

func eqI(a []int64, b ...int64) bool {
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

// Golden checks of the proto structure: the values below are written from
// the ONNX operator specification, not read back from the exporter.
func TestExportStructure(t *testing.T) {
	g, err := mixedGraph()
	if err != nil {
		t.Fatal(err)
	}
	m, err := Export(g, ExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m.GetIrVersion() != 7 || len(m.GetOpsetImport()) != 1 || m.GetOpsetImport()[0].GetVersion() != 13 || m.GetOpsetImport()[0].GetDomain() != "" {
		t.Fatalf("ir %d opsets %v", m.GetIrVersion(), m.GetOpsetImport())
	}
	var ops []string
	nodes := map[string]*onnxpb.NodeProto{}
	for _, n := range m.GetGraph().GetNode() {
		ops = append(ops, n.GetOpType())
		nodes[n.GetName()] = n
	}
	want := "Conv BatchNormalization Relu Gather Conv Add AveragePool Slice Pad MaxPool Conv Add " +
		"Slice Pad Gather Conv Add Relu GlobalAveragePool Flatten Dropout Gemm BatchNormalization"
	if got := strings.Join(ops, " "); got != want {
		t.Fatalf("operators\n %s\nwant\n %s", got, want)
	}
	in := m.GetGraph().GetInput()[0]
	dims := in.GetType().GetTensorType().GetShape().GetDim()
	if in.GetName() != "input" || len(dims) != 4 || dims[0].GetDimParam() != "batch" || dims[1].GetDimValue() != 3 || dims[3].GetDimValue() != 16 {
		t.Errorf("input %v", in)
	}
	out := m.GetGraph().GetOutput()[0]
	if out.GetName() != "output" || nodes["bn_fc"].GetOutput()[0] != "output" {
		t.Errorf("output %v, last node writes %v", out.GetName(), nodes["bn_fc"].GetOutput())
	}
	conv := nodes["conv1"]
	if !eqI(attr(conv, "pads").GetInts(), 1, 1, 1, 1) || !eqI(attr(conv, "strides").GetInts(), 1, 1) ||
		!eqI(attr(conv, "kernel_shape").GetInts(), 3, 3) || len(conv.GetInput()) != 3 || conv.GetInput()[2] != "conv1.bias" {
		t.Errorf("conv1 %v", conv)
	}
	w := initializer(m, "conv1.weight")
	lc := g.Node("conv1").Layer.(*nn.Conv2d)
	if !eqI(w.GetDims(), 8, 3, 3, 3) || len(w.GetRawData()) != 4*8*27 ||
		math.Float32frombits(binary.LittleEndian.Uint32(w.GetRawData()[4*5:])) != lc.Weight.Value.Data[5] {
		t.Errorf("conv1.weight dims %v, %d bytes", w.GetDims(), len(w.GetRawData()))
	}
	if len(nodes["conv2"].GetInput()) != 2 {
		t.Errorf("conv2 has no bias, yet inputs %v", nodes["conv2"].GetInput())
	}
	bn := nodes["bn1"]
	// PyTorch momentum 0.05 is ONNX momentum 0.95 (the running value's weight).
	if attr(bn, "epsilon").GetF() != float32(1e-3) || attr(bn, "momentum").GetF() != float32(0.95) ||
		strings.Join(bn.GetInput(), ",") != "conv1,bn1.weight,bn1.bias,bn1.running_mean,bn1.running_var" {
		t.Errorf("bn1 %v", bn)
	}
	gather := nodes["select"]
	if attr(gather, "axis").GetI() != 1 || !eqI(int64s(t, m, gather.GetInput()[1]), 6, 1, 3, 0, 7) {
		t.Errorf("select %v", gather)
	}
	avg := nodes["avgpool"]
	if attr(avg, "count_include_pad").GetI() != 1 || !eqI(attr(avg, "pads").GetInts(), 1, 1, 1, 1) || !eqI(attr(avg, "strides").GetInts(), 2, 2) {
		t.Errorf("avgpool %v", avg)
	}
	slice := nodes["shortcut/subsample"]
	if !eqI(int64s(t, m, slice.GetInput()[1]), 0, 0) || !eqI(int64s(t, m, slice.GetInput()[3]), 2, 3) ||
		!eqI(int64s(t, m, slice.GetInput()[4]), 2, 2) || int64s(t, m, slice.GetInput()[2])[0] != math.MaxInt64 {
		t.Errorf("shortcut slice %v", slice)
	}
	// 8 -> 12 channels: 2 zero channels before, 2 after, on axis 1 only.
	pad := nodes["shortcut"]
	if pad.GetOpType() != "Pad" || !eqI(int64s(t, m, pad.GetInput()[1]), 0, 2, 0, 0, 0, 2, 0, 0) || string(attr(pad, "mode").GetS()) != "constant" {
		t.Errorf("shortcut pad %v", pad)
	}
	// The mapped shortcut: one zero channel after the 12 inputs (index 12),
	// then output o takes the input c with map[c] = o.
	if z := nodes["shortcut2/zero"]; !eqI(int64s(t, m, z.GetInput()[1]), 0, 0, 0, 0, 0, 1, 0, 0) {
		t.Errorf("mapped shortcut pad %v", z)
	}
	if gm := nodes["shortcut2"]; gm.GetOpType() != "Gather" || attr(gm, "axis").GetI() != 1 ||
		!eqI(int64s(t, m, gm.GetInput()[1]), 2, 4, 5, 0, 8, 11, 10, 12, 7, 3) || gm.GetInput()[0] != nodes["shortcut2/zero"].GetOutput()[0] {
		t.Errorf("mapped shortcut gather %v", gm)
	}
	gemm := nodes["fc"]
	if attr(gemm, "transB").GetI() != 1 || attr(gemm, "transA").GetI() != 0 || !eqI(initializer(m, "fc.weight").GetDims(), 7, 10) {
		t.Errorf("fc %v", gemm)
	}
	if f := nodes["gap/flatten"]; f == nil || attr(f, "axis").GetI() != 1 || f.GetInput()[0] != nodes["gap"].GetOutput()[0] {
		t.Errorf("global pool not followed by Flatten(axis=1)")
	}
	if d := nodes["dropout"]; len(d.GetInput()) != 2 || len(initializer(m, "dropout.ratio").GetDims()) != 0 {
		t.Errorf("dropout %v", d)
	}
	var meta string
	for _, p := range m.GetMetadataProps() {
		if p.GetKey() == MetaArch {
			meta = p.GetValue()
		}
	}
	if meta != "mixed" || m.GetGraph().GetName() != "mixed" {
		t.Errorf("arch metadata %q", meta)
	}
}

// Folding: W' = W*gamma/sqrt(var+eps), b' = (b-mean)*gamma/sqrt(var+eps)+beta,
// checked on one channel by hand.
func TestFoldBNValues(t *testing.T) {
	g := nn.NewGraph("fold", 1, 3, 3)
	cl, _ := nn.NewConv2d(nn.ConvConfig{InC: 1, OutC: 2, Kernel: 1, Bias: true})
	bl, _ := nn.NewBatchNorm(nn.BatchNormConfig{C: 2, Eps: 0.5})
	x := g.Add("conv", cl, g.Input())
	g.Add("bn", bl, x)
	c, b := cl.(*nn.Conv2d), bl.(*nn.BatchNorm)
	copy(c.Weight.Value.Data, []float32{2, -3})
	copy(c.B.Value.Data, []float32{1, 4})
	copy(b.Gamma.Value.Data, []float32{3, 1})
	copy(b.Beta.Value.Data, []float32{0.5, -1})
	copy(b.RunningMean.Value.Data, []float32{1, 2})
	copy(b.RunningVar.Value.Data, []float32{1.5, 3.5})
	m, err := Export(g, ExportOptions{FoldBN: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(m.GetGraph().GetNode()); n != 1 {
		t.Fatalf("%d nodes after folding, want 1", n)
	}
	read := func(name string) []float32 {
		raw := initializer(m, name).GetRawData()
		v := make([]float32, len(raw)/4)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		return v
	}
	// channel 0: s = 3/sqrt(2) ; W' = 6/sqrt(2), b' = 0*s + 0.5
	// channel 1: s = 1/2 ; W' = -1.5, b' = (4-2)/2 - 1 = 0
	w, bias := read("conv.weight"), read("conv.bias")
	if math.Abs(float64(w[0])-6/math.Sqrt2) > 1e-6 || w[1] != -1.5 || bias[0] != 0.5 || bias[1] != 0 {
		t.Errorf("folded weights %v bias %v", w, bias)
	}
	if m.GetGraph().GetNode()[0].GetOutput()[0] != "output" {
		t.Errorf("folded conv does not write the graph output")
	}
}

func TestExportUnknownLayer(t *testing.T) {
	g := nn.NewGraph("odd", 2)
	g.Add("weird", &oddLayer{}, g.Input())
	_, err := Export(g, ExportOptions{})
	wantErrText(t, err, `"weird"`, `"odd_kind" has no ONNX export`)
}

// oddLayer is a layer kind the exporter does not know.
type oddLayer struct{ nn.ReLU }

func (*oddLayer) Kind() string { return "odd_kind" }
