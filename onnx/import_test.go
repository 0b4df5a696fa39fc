package onnx

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/evoprune/evoprune/nn"
	"github.com/evoprune/evoprune/onnx/onnxpb"
	"github.com/evoprune/evoprune/tensor"
	"google.golang.org/protobuf/proto"
)

// gb builds ONNX graphs by hand for the tests, the way other exporters lay
// them out.
type gb struct {
	g *onnxpb.GraphProto
	n int
}

func newGB(input ...int64) *gb {
	b := &gb{g: &onnxpb.GraphProto{Name: proto.String("handmade")}}
	dims := []*onnxpb.TensorShapeProto_Dimension{{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "N"}}}
	for _, d := range input {
		dims = append(dims, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}})
	}
	b.g.Input = []*onnxpb.ValueInfoProto{{Name: proto.String("x"), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
		TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(1), Shape: &onnxpb.TensorShapeProto{Dim: dims}}}}}}
	return b
}

func (b *gb) floats(name string, dims []int, v ...float32) string {
	b.g.Initializer = append(b.g.Initializer, floatTensor(name, dims, v))
	return name
}

// ints adds an int64 constant as a Constant node (as PyTorch emits them),
// using int64_data rather than raw bytes.
func (b *gb) ints(v ...int64) string {
	b.n++
	name := "const" + string(rune('a'+b.n%26)) + strings.Repeat("_", b.n/26)
	b.g.Node = append(b.g.Node, &onnxpb.NodeProto{OpType: proto.String("Constant"), Output: []string{name},
		Attribute: []*onnxpb.AttributeProto{{Name: proto.String("value"), Type: onnxpb.AttributeProto_TENSOR.Enum(),
			T: &onnxpb.TensorProto{DataType: proto.Int32(7), Dims: []int64{int64(len(v))}, Int64Data: v}}}})
	return name
}

// scalar adds a rank-0 int64 Constant.
func (b *gb) scalar(v int64) string {
	name := b.ints(v)
	b.g.Node[len(b.g.Node)-1].Attribute[0].T.Dims = nil
	return name
}

func (b *gb) op(op, name string, ins []string, attrs ...*onnxpb.AttributeProto) string {
	out := name + "_out"
	b.g.Node = append(b.g.Node, &onnxpb.NodeProto{OpType: proto.String(op), Name: proto.String(name), Input: ins,
		Output: []string{out}, Attribute: attrs})
	return out
}

func (b *gb) model(output string) *onnxpb.ModelProto {
	b.g.Output = []*onnxpb.ValueInfoProto{{Name: proto.String(output)}}
	return &onnxpb.ModelProto{IrVersion: proto.Int64(7), Graph: b.g,
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: proto.Int64(13)}}}
}

func (b *gb) bytes(t *testing.T, output string) []byte {
	t.Helper()
	data, err := proto.Marshal(b.model(output))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// torchStyle lays out a small network the way torch.onnx.export writes
// one: Conv with BatchNorm folded into a bias, Relu, an option-A shortcut
// as two single-axis Slices and a Pad whose pads come from PyTorch's
// ConstantOfShape/Concat/Reshape/Slice/Transpose/Cast computation, an
// AveragePool, x.view(x.size(0), -1) as Shape/Gather/Unsqueeze/Concat/
// Reshape, and the classifier as MatMul plus Add.
func torchStyle() *gb {
	b := newGB(1, 4, 4)
	w := b.floats("onnx::Conv_1", []int{2, 1, 3, 3},
		0.1, -0.2, 0.3, 0.4, 0.5, -0.6, 0.7, 0.8, -0.9,
		-0.3, 0.2, 0.1, 0.0, -0.5, 0.6, 0.25, -0.75, 0.5)
	bias := b.floats("onnx::Conv_2", []int{2}, 0.05, -0.1)
	x := b.op("Conv", "/conv1/Conv", []string{"x", w, bias}, attrInts("kernel_shape", 3, 3),
		attrInts("pads", 1, 1, 1, 1), attrInts("strides", 1, 1), attrInts("dilations", 1, 1), attrInt("group", 1))
	x = b.op("Relu", "/Relu", []string{x})
	x = b.op("Slice", "/Slice", []string{x, b.ints(0), b.ints(math.MaxInt64), b.ints(2), b.ints(2)})
	x = b.op("Slice", "/Slice_1", []string{x, b.ints(0), b.ints(math.MaxInt64), b.ints(3), b.ints(2)})
	// pads (0,0,0,0,1,1) in PyTorch's order, turned into ONNX's.
	zeros := b.op("ConstantOfShape", "/ConstantOfShape", []string{b.ints(2)},
		&onnxpb.AttributeProto{Name: proto.String("value"), Type: onnxpb.AttributeProto_TENSOR.Enum(),
			T: &onnxpb.TensorProto{DataType: proto.Int32(7), Dims: []int64{1}, Int64Data: []int64{0}}})
	p := b.op("Concat", "/Concat", []string{b.ints(0, 0, 0, 0, 1, 1), zeros}, attrInt("axis", 0))
	p = b.op("Reshape", "/Reshape", []string{p, b.ints(-1, 2)})
	p = b.op("Slice", "/Slice_2", []string{p, b.ints(-1), b.ints(-math.MaxInt64), b.ints(0), b.ints(-1)})
	p = b.op("Transpose", "/Transpose", []string{p}, attrInts("perm", 1, 0))
	p = b.op("Reshape", "/Reshape_1", []string{p, b.ints(-1)})
	p = b.op("Cast", "/Cast", []string{p}, attrInt("to", 7))
	x = b.op("Pad", "/Pad", []string{x, p, b.op("Constant", "/Constant", nil,
		&onnxpb.AttributeProto{Name: proto.String("value"), Type: onnxpb.AttributeProto_TENSOR.Enum(),
			T: floatTensor("", nil, []float32{0})})}, attrString("mode", "constant"))
	x = b.op("AveragePool", "/AveragePool", []string{x}, attrInts("kernel_shape", 2, 2), attrInts("strides", 2, 2))
	s := b.op("Shape", "/Shape", []string{x})
	s = b.op("Gather", "/Gather", []string{s, b.scalar(0)}, attrInt("axis", 0))
	s = b.op("Unsqueeze", "/Unsqueeze", []string{s, b.ints(0)})
	s = b.op("Concat", "/Concat_1", []string{s, b.ints(-1)}, attrInt("axis", 0))
	x = b.op("Reshape", "/Reshape_2", []string{x, s})
	x = b.op("Identity", "/Identity", []string{x})
	fw := b.floats("fc.weight_t", []int{4, 3}, 1, 2, 3, -1, 0.5, 0, 0.25, -2, 1, 0, 1, -1)
	x = b.op("MatMul", "/fc/MatMul", []string{x, fw})
	return b.withOutput(b.op("Add", "/fc/Add", []string{x, b.floats("fc.bias", []int{3}, 0.1, 0.2, 0.3)}))
}

func (b *gb) withOutput(out string) *gb {
	b.g.Output = []*onnxpb.ValueInfoProto{{Name: proto.String(out)}}
	return b
}

// torchStyleReference computes torchStyle's function with plain loops,
// independently of package nn.
func torchStyleReference(x []float32) []float32 {
	w := []float32{0.1, -0.2, 0.3, 0.4, 0.5, -0.6, 0.7, 0.8, -0.9,
		-0.3, 0.2, 0.1, 0.0, -0.5, 0.6, 0.25, -0.75, 0.5}
	bias := []float32{0.05, -0.1}
	var conv [2][4][4]float64
	for o := 0; o < 2; o++ {
		for i := 0; i < 4; i++ {
			for j := 0; j < 4; j++ {
				s := float64(bias[o])
				for di := -1; di <= 1; di++ {
					for dj := -1; dj <= 1; dj++ {
						if i+di >= 0 && i+di < 4 && j+dj >= 0 && j+dj < 4 {
							s += float64(w[o*9+(di+1)*3+dj+1]) * float64(x[(i+di)*4+j+dj])
						}
					}
				}
				conv[o][i][j] = math.Max(s, 0)
			}
		}
	}
	// Subsample rows and columns 0 and 2, pad one zero channel on each side,
	// average the 2x2 map: channels 0 and 3 are zero.
	feat := make([]float64, 4)
	for o := 0; o < 2; o++ {
		feat[o+1] = (conv[o][0][0] + conv[o][0][2] + conv[o][2][0] + conv[o][2][2]) / 4
	}
	fw := [][]float64{{1, 2, 3}, {-1, 0.5, 0}, {0.25, -2, 1}, {0, 1, -1}}
	fb := []float64{0.1, 0.2, 0.3}
	out := make([]float32, 3)
	for j := range out {
		s := fb[j]
		for k := range feat {
			s += feat[k] * fw[k][j]
		}
		out[j] = float32(s)
	}
	return out
}

func TestImportTorchStyle(t *testing.T) {
	g, err := Import(torchStyle().bytes(t, "/fc/Add_out"), ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, n := range g.Nodes[1:] {
		kinds = append(kinds, n.Layer.Kind())
	}
	want := "conv2d relu shortcut_a avgpool2d flatten linear"
	if got := strings.Join(kinds, " "); got != want {
		t.Fatalf("layers %q, want %q", got, want)
	}
	if sc := g.Nodes[3].Layer.(*nn.ShortcutA).Cfg; sc.In != 2 || sc.Out != 4 || sc.Stride != 2 || sc.Map != nil {
		t.Errorf("shortcut %+v", sc)
	}
	if lin := g.Output().Layer.(*nn.Linear); lin.B == nil || g.Output().Name != "fc/MatMul" {
		t.Errorf("MatMul+Add did not become one linear layer with a bias named after the MatMul (got %q)", g.Output().Name)
	}
	x := randomInput(9, 3, 1, 4, 4)
	got := forward(g, x)
	for s := 0; s < 3; s++ {
		want := torchStyleReference(x.Data[s*16 : s*16+16])
		for j := range want {
			if math.Abs(float64(got[s*3+j]-want[j])) > 1e-5 {
				t.Fatalf("sample %d output %d: %g, reference %g", s, j, got[s*3+j], want[j])
			}
		}
	}
}

// The imported model is an ordinary graph: it trains (gradients flow into
// every weight) and exports again to the same function.
func TestImportTrainsAndReexports(t *testing.T) {
	g, err := Import(torchStyle().bytes(t, "/fc/Add_out"), ImportOptions{Arch: "tiny"})
	if err != nil {
		t.Fatal(err)
	}
	x := randomInput(3, 2, 1, 4, 4)
	ctx := &nn.Context{Train: true}
	y := g.Forward(ctx, x)
	dout := tensor.New(y.Shape...)
	for i := range dout.Data {
		dout.Data[i] = 1
	}
	g.ZeroGrad()
	g.Backward(ctx, dout, false)
	for _, p := range g.Params() {
		if p.Learnable() && tensor.SumSquares(p.Grad.Data) == 0 {
			t.Errorf("parameter %s got no gradient", p.Name)
		}
	}
	b, err := Marshal(g, ExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h, err := Import(b, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if h.Arch != "tiny" {
		t.Errorf("arch %q after the second round", h.Arch)
	}
	if e := relErr(forward(h, x), forward(g, x)); e != 0 {
		t.Errorf("re-exported model differs by %g", e)
	}
}

func TestImportUnsupportedListsAll(t *testing.T) {
	b := torchStyle()
	b.g.Node = append(b.g.Node,
		&onnxpb.NodeProto{OpType: proto.String("Softmax"), Name: proto.String("prob"), Input: []string{"/fc/Add_out"}, Output: []string{"p"}},
		&onnxpb.NodeProto{OpType: proto.String("LSTM"), Name: proto.String("rnn"), Input: []string{"p"}, Output: []string{"q"}},
		&onnxpb.NodeProto{OpType: proto.String("Relu"), Domain: proto.String("com.example"), Name: proto.String("custom"), Input: []string{"q"}, Output: []string{"r"}})
	_, err := Import(b.bytes(t, "r"), ImportOptions{})
	wantErrText(t, err, "3 unsupported operator(s)", `Softmax (node`, `"prob"`, `LSTM`, `"rnn"`, `com.example.Relu`, `"custom"`, "supported: Add")
}

func wantErrText(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one mentioning %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q does not mention %q", err, p)
		}
	}
}

func TestImportErrors(t *testing.T) {
	good, err := Marshal(build(t, "lenet5", mo(1)), ExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cases := []struct {
		name  string
		data  []byte
		parts []string
	}{
		{"empty", nil, []string{"empty file"}},
		{"garbage", []byte("this is not a protobuf at all"), []string{"not a valid ONNX protobuf"}},
		{"truncated", good[:len(good)/2], []string{"not a valid ONNX protobuf"}},
		{"no graph", mustMarshal(t, &onnxpb.ModelProto{IrVersion: proto.Int64(7)}), []string{"no graph"}},
	}
	for _, c := range cases {
		path := filepath.Join(dir, c.name+".onnx")
		if err := os.WriteFile(path, c.data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := ReadFile(path, ImportOptions{})
		wantErrText(t, err, append([]string{path}, c.parts...)...)
	}
	_, err = ReadFile(filepath.Join(dir, "missing.onnx"), ImportOptions{})
	wantErrText(t, err, "missing.onnx")

	edit := func(f func(m *onnxpb.ModelProto)) error {
		m := torchStyle().model("/fc/Add_out")
		f(m)
		_, err := FromModel(m, ImportOptions{})
		return err
	}
	wantErrText(t, edit(func(m *onnxpb.ModelProto) { m.Graph.Initializer[0].RawData = m.Graph.Initializer[0].RawData[:7] }),
		`"onnx::Conv_1"`, "raw_data holds 7 bytes")
	wantErrText(t, edit(func(m *onnxpb.ModelProto) { m.Graph.Initializer = m.Graph.Initializer[1:] }),
		`input "onnx::Conv_1" is not defined`, `"/conv1/Conv"`)
	wantErrText(t, edit(func(m *onnxpb.ModelProto) { m.Graph.Initializer[0].Dims = []int64{1 << 40, 1 << 40} }),
		"invalid dimension")
	wantErrText(t, edit(func(m *onnxpb.ModelProto) { m.OpsetImport[0].Version = proto.Int64(7) }), "opset 7")
	wantErrText(t, edit(func(m *onnxpb.ModelProto) {
		m.Graph.Node[0].Attribute = append(m.Graph.Node[0].Attribute, attrInt("group", 2))
	}), "group 2")
	wantErrText(t, edit(func(m *onnxpb.ModelProto) {
		m.Graph.Output[0].Name = proto.String("nowhere")
	}), `"nowhere" is produced by no node`)
	wantErrText(t, edit(func(m *onnxpb.ModelProto) {
		m.Graph.Input[0].Type.GetTensorType().Shape.Dim[2].Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "H"}
	}), "not a fixed positive size", "input shape")
	if err := edit(func(m *onnxpb.ModelProto) {
		m.Graph.Input[0].Type.GetTensorType().Shape.Dim[2].Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "H"}
	}); err != nil {
		_, err = FromModel(func() *onnxpb.ModelProto {
			m := torchStyle().model("/fc/Add_out")
			m.Graph.Input[0].Type.GetTensorType().Shape.Dim[2].Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "H"}
			return m
		}(), ImportOptions{InputShape: []int{1, 4, 4}})
		if err != nil {
			t.Errorf("an explicit input shape did not stand in for a symbolic one: %v", err)
		}
	}
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Every strict prefix of an exported model is an error, never a panic or
// a model.
func TestImportTruncatedEverywhere(t *testing.T) {
	data := torchStyle().bytes(t, "/fc/Add_out")
	for n := 0; n < len(data); n++ {
		if g, err := Import(data[:n], ImportOptions{}); err == nil {
			// A prefix that happens to end on a field boundary parses, but
			// then lacks the nodes after it.
			t.Fatalf("prefix of %d/%d bytes imported as a %d-node graph", n, len(data), len(g.Nodes))
		}
	}
}

// FuzzImport checks that no input makes the importer panic, and that what
// it accepts is a graph that runs.
func FuzzImport(f *testing.F) {
	b, err := proto.Marshal(torchStyle().model("/fc/Add_out"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	g, err := mixedGraph()
	if err != nil {
		f.Fatal(err)
	}
	if b, err = Marshal(g, ExportOptions{}); err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	if b, err = Marshal(g, ExportOptions{FoldBN: true}); err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := Import(data, ImportOptions{})
		if err != nil {
			return
		}
		total := 0
		for _, n := range g.Nodes {
			total += tensor.Numel(n.Shape)
		}
		if total > 1<<20 || g.MACs() > 1<<24 {
			return
		}
		x := tensor.New(append([]int{1}, g.Input().Shape...)...)
		g.Forward(&nn.Context{}, x)
	})
}

// RestoreBN puts a BatchNorm after each convolution without one: the same
// function in inference, BatchNorm's parameters trainable again.
func TestImportRestoreBN(t *testing.T) {
	data := torchStyle().bytes(t, "/fc/Add_out")
	plain, err := Import(data, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	g, err := Import(data, ImportOptions{RestoreBN: true})
	if err != nil {
		t.Fatal(err)
	}
	conv := g.Node("conv1/Conv")
	if conv == nil || conv.Layer.(*nn.Conv2d).B != nil {
		t.Fatalf("conv keeps its bias or is missing: %v", conv)
	}
	bn, ok := g.Consumers(conv)[0].Layer.(*nn.BatchNorm)
	if !ok || bn.Beta.Value.Data[0] != 0.05 || bn.Beta.Value.Data[1] != -0.1 {
		t.Fatalf("no BatchNorm carrying the bias after the conv")
	}
	x := randomInput(2, 3, 1, 4, 4)
	if e := relErr(forward(g, x), forward(plain, x)); e > 1e-6 {
		t.Errorf("restored BatchNorm changes the output by %g", e)
	}
	if len(g.Nodes) != len(plain.Nodes)+1 {
		t.Errorf("%d nodes, want %d", len(g.Nodes), len(plain.Nodes)+1)
	}
	// A model that has its BatchNorms keeps them and gains none.
	r20 := build(t, "resnet20", mo(1))
	b, err := Marshal(r20, ExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h, err := Import(b, ImportOptions{RestoreBN: true})
	if err != nil {
		t.Fatal(err)
	}
	if specJSON(t, h) != specJSON(t, r20) {
		t.Errorf("RestoreBN changed a model that has its BatchNorms")
	}
}

// Older opsets spell arguments as attributes: Pad's pads and value (< 11),
// Slice's starts/ends/axes (< 10), Squeeze's axes (< 13), Dropout's ratio
// (< 12). Also Gemm with transB=0, alpha and beta, and a Reshape that names
// the file's fixed batch size.
func TestImportOldOpsetAttributes(t *testing.T) {
	b := newGB(2, 4, 4)
	b.g.Input[0].Type.GetTensorType().Shape.Dim[0].Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: 1}
	// No steps before opset 10: a full slice, the identity.
	x := b.op("Slice", "sub", []string{"x"}, attrInts("starts", 0, 0), attrInts("ends", 1000, 1000), attrInts("axes", 2, 3))
	x = b.op("Pad", "pad", []string{x}, attrInts("pads", 0, 1, 0, 0, 0, 1, 0, 0), attrString("mode", "constant"),
		attrFloat("value", 0))
	x = b.op("GlobalAveragePool", "gap", []string{x})
	x = b.op("Squeeze", "squeeze", []string{x}, attrInts("axes", 2, 3))
	x = b.op("Dropout", "drop", []string{x}, attrFloat("ratio", 0.25))
	// Gemm with B as [In, Out], alpha 2, beta 0.5.
	w := b.floats("w", []int{4, 2}, 1, 0, 0, 1, 1, 1, -1, 2)
	c := b.floats("c", []int{1, 2}, 2, -2)
	x = b.op("Gemm", "fc", []string{x, w, c}, attrFloat("alpha", 2), attrFloat("beta", 0.5))
	x = b.op("Reshape", "reshape", []string{x, b.ints(1, 2)})
	m := b.model(x)
	m.OpsetImport[0].Version = proto.Int64(9)
	g, err := FromModel(m, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, n := range g.Nodes[1:] {
		kinds = append(kinds, n.Layer.Kind())
	}
	if got := strings.Join(kinds, " "); got != "shortcut_a global_avg_pool dropout linear" {
		t.Fatalf("layers %q", got)
	}
	if d := g.Node("drop").Layer.(*nn.Dropout); d.Cfg.P != 0.25 {
		t.Errorf("dropout p %g", d.Cfg.P)
	}
	// Channels after the pad: 0, the two input means, 0. Output j =
	// 2*sum_k feat[k]*w[k][j] + 0.5*c[j].
	in := randomInput(4, 1, 2, 4, 4)
	got := forward(g, in)
	mean := func(ch int) float64 {
		s := 0.0
		for _, v := range in.Data[ch*16 : ch*16+16] {
			s += float64(v)
		}
		return s / 16
	}
	feat := []float64{0, mean(0), mean(1), 0}
	wv := [][]float64{{1, 0}, {0, 1}, {1, 1}, {-1, 2}}
	for j, cj := range []float64{2, -2} {
		want := 0.5 * cj
		for k := range feat {
			want += 2 * feat[k] * wv[k][j]
		}
		if math.Abs(float64(got[j])-want) > 1e-5 {
			t.Errorf("output %d = %g, reference %g", j, got[j], want)
		}
	}
}

func TestImportRejects(t *testing.T) {
	for _, tc := range []struct {
		name  string
		make  func(b *gb) string
		parts []string
	}{
		{"broadcast add", func(b *gb) string {
			p := b.op("GlobalAveragePool", "gap", []string{"x"})
			return b.op("Add", "add", []string{"x", p})
		}, []string{`"add"`, "broadcasting is not supported"}},
		{"constant add without a layer", func(b *gb) string {
			return b.op("Add", "add", []string{"x", b.floats("k", []int{1}, 1)})
		}, []string{"bias of a Conv or MatMul"}},
		{"reshape to 2-D", func(b *gb) string {
			return b.op("Reshape", "r", []string{"x", b.ints(0, 2, 16)})
		}, []string{"only flattening is"}},
		{"flatten axis 2", func(b *gb) string {
			return b.op("Flatten", "f", []string{"x"}, attrInt("axis", 2))
		}, []string{"axis 2"}},
		{"uneven pads", func(b *gb) string {
			return b.op("MaxPool", "mp", []string{"x"}, attrInts("kernel_shape", 2, 2), attrInts("pads", 0, 0, 1, 1))
		}, []string{`"mp"`, "pads [0 0 1 1]"}},
		{"uneven channel pad", func(b *gb) string {
			return b.op("Pad", "p", []string{"x", b.ints(0, 2, 0, 0, 0, 1, 0, 0)})
		}, []string{"2 before and 1 after"}},
		{"spatial pad", func(b *gb) string {
			return b.op("Pad", "p", []string{"x", b.ints(0, 0, 1, 1, 0, 0, 1, 1)})
		}, []string{"only the channel axis"}},
		{"gather on H", func(b *gb) string {
			return b.op("Gather", "g", []string{"x", b.ints(0, 1)}, attrInt("axis", 2))
		}, []string{"only the channel axis"}},
		{"conv after global pool", func(b *gb) string {
			p := b.op("GlobalAveragePool", "gap", []string{"x"})
			return b.op("Conv", "c", []string{p, b.floats("w", []int{1, 2, 1, 1}, 1, 1)})
		}, []string{`"c"`, "pooled vector"}},
		{"batch slice", func(b *gb) string {
			return b.op("Slice", "s", []string{"x", b.ints(0), b.ints(1), b.ints(0)})
		}, []string{"batch axis"}},
	} {
		b := newGB(2, 4, 4)
		_, err := FromModel(b.model(tc.make(b)), ImportOptions{})
		if err == nil {
			t.Errorf("%s: accepted", tc.name)
			continue
		}
		for _, p := range tc.parts {
			if !strings.Contains(err.Error(), p) {
				t.Errorf("%s: error %q does not mention %q", tc.name, err, p)
			}
		}
	}
}
