package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/evoprune/evoprune/models"
	"github.com/evoprune/evoprune/nn"
	"github.com/evoprune/evoprune/tensor"
)

// export then import through the CLI gives back a checkpoint computing the
// same function, with the dataset recorded.
func TestExportImportCLI(t *testing.T) {
	dir := t.TempDir()
	onnxPath := filepath.Join(dir, "r20.onnx")
	out, err := run(t, "export", "--model", "resnet20", "--seed", "3", "--out", onnxPath, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Nodes     int            `json:"nodes"`
		Operators map[string]int `json:"operators"`
		Opset     int            `json:"opset"`
		Params    int64          `json:"params"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("export --json: %v\n%s", err, out)
	}
	// 19 convs, 19 BNs, 19 ReLUs, 9 adds, 2 option-A shortcuts of Slice+Pad,
	// global pool + flatten, Gemm.
	if rep.Opset != 13 || rep.Operators["Conv"] != 19 || rep.Operators["BatchNormalization"] != 19 ||
		rep.Operators["Slice"] != 2 || rep.Operators["Pad"] != 2 || rep.Operators["Gemm"] != 1 || rep.Params != 269722 {
		t.Fatalf("export report %+v", rep)
	}
	ckpt := filepath.Join(dir, "r20.safetensors")
	if _, err := run(t, "import", "--onnx", onnxPath, "--out", ckpt, "--dataset", "cifar10"); err != nil {
		t.Fatal(err)
	}
	g, info, err := models.Load(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	if info.Dataset != "cifar10" || info.Classes != 10 || g.Arch != "resnet20" || info.Extra["onnx_source"] != onnxPath {
		t.Errorf("imported checkpoint info %+v arch %s", info, g.Arch)
	}
	ref, err := models.Build("resnet20", models.Options{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.New(2, 3, 32, 32)
	for i := range x.Data {
		x.Data[i] = float32(i%17) / 17
	}
	a := append([]float32(nil), ref.Forward(&nn.Context{}, x).Data...)
	b := g.Forward(&nn.Context{}, x).Data
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("output %d: %g after export+import, %g before", i, b[i], a[i])
		}
	}

	// Folded export, re-exported from the imported checkpoint.
	folded := filepath.Join(dir, "r20-folded.onnx")
	if _, err := run(t, "export", "--model", ckpt, "--fold-bn", "--out", folded); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(folded); err != nil || st.Size() == 0 {
		t.Fatalf("no folded export: %v", err)
	}
	// Importing the folded file gives convolutions with biases and no
	// BatchNorm; --restore-bn brings one back after each of the 19.
	out, err = run(t, "import", "--onnx", folded, "--out", filepath.Join(dir, "bn.safetensors"), "--restore-bn", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var imp struct {
		Layers map[string]int `json:"layers"`
	}
	if err := json.Unmarshal([]byte(out), &imp); err != nil {
		t.Fatal(err)
	}
	if imp.Layers["batchnorm"] != 19 || imp.Layers["conv2d"] != 19 {
		t.Errorf("--restore-bn import has layers %v", imp.Layers)
	}
}

func TestExportImportCLIErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := run(t, "export", "--model", "lenet5")
	wantErr(t, err, "--out")
	_, err = run(t, "export", "--model", "lenet5", "--out", filepath.Join(dir, "x.onnx"), "--format", "tflite")
	wantErr(t, err, "--format must be onnx")
	_, err = run(t, "import", "--onnx", filepath.Join(dir, "x.onnx"))
	wantErr(t, err, "--out")
	bad := filepath.Join(dir, "bad.onnx")
	if err := os.WriteFile(bad, []byte("\x0a\xff\xff"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = run(t, "import", "--onnx", bad, "--out", filepath.Join(dir, "bad.safetensors"))
	wantErr(t, err, bad, "not a valid ONNX protobuf")
	if _, err := os.Stat(filepath.Join(dir, "bad.safetensors")); err == nil {
		t.Error("a failed import wrote a checkpoint")
	}
	_, err = run(t, "import", "--onnx", bad, "--out", filepath.Join(dir, "b.safetensors"), "--input-shape", "3,x")
	wantErr(t, err, "--input-shape")
}
