// Command onnx_dump writes what scripts/onnx_check.js needs to check
// evoprune's ONNX export against onnxruntime: for each model an ONNX file
// (BatchNorm kept, and folded), a seeded input batch and evoprune's output
// on it, as raw little-endian float32 files listed in DIR/manifest.json.
//
//	go run ./scripts/onnx_dump --out DIR [--models lenet5,vgg16:0.5,resnet20,mixed,FILE.safetensors]
package main

import (
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/evoprune/evoprune/models"
	"github.com/evoprune/evoprune/nn"
	"github.com/evoprune/evoprune/onnx"
	"github.com/evoprune/evoprune/tensor"
)

type entry struct {
	Name        string `json:"name"`
	ONNX        string `json:"onnx"`
	Input       string `json:"input"`
	Output      string `json:"output"`
	InputShape  []int  `json:"input_shape"`
	OutputShape []int  `json:"output_shape"`
	FoldBN      bool   `json:"fold_bn"`
}

func main() {
	out := flag.String("out", "", "output directory")
	list := flag.String("models", "lenet5,vgg16:0.5,resnet20,resnet56,mixed", "models: architecture[:width], 'mixed', or checkpoint files")
	batch := flag.Int("batch", 4, "batch size")
	seed := flag.Uint64("seed", 1, "seed of weights, BatchNorm statistics and inputs")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "onnx_dump: --out DIR is required")
		os.Exit(2)
	}
	if err := run(*out, strings.Split(*list, ","), *batch, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "onnx_dump:", err)
		os.Exit(1)
	}
}

func run(dir string, list []string, batch int, seed uint64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var manifest []entry
	for k, spec := range list {
		g, name, err := load(spec, seed+uint64(k))
		if err != nil {
			return err
		}
		rng := rand.New(rand.NewPCG(seed, uint64(k)))
		x := tensor.New(append([]int{batch}, g.Input().Shape...)...)
		for i := range x.Data {
			x.Data[i] = float32(rng.NormFloat64())
		}
		y := g.Forward(&nn.Context{}, x)
		in, outp := name+".input.bin", name+".output.bin"
		if err := writeFloats(filepath.Join(dir, in), x.Data); err != nil {
			return err
		}
		if err := writeFloats(filepath.Join(dir, outp), y.Data); err != nil {
			return err
		}
		for _, fold := range []bool{false, true} {
			tag := name
			if fold {
				tag += "-foldbn"
			}
			m, err := onnx.Export(g, onnx.ExportOptions{FoldBN: fold, Producer: "onnx_dump"})
			if err != nil {
				return err
			}
			if err := onnx.WriteFile(filepath.Join(dir, tag+".onnx"), m); err != nil {
				return err
			}
			manifest = append(manifest, entry{Name: tag, ONNX: tag + ".onnx", Input: in, Output: outp,
				InputShape: x.Shape, OutputShape: y.Shape, FoldBN: fold})
		}
		fmt.Printf("onnx_dump: %s (%s), %d params\n", name, g.Arch, g.NumParams())
	}
	b, err := json.MarshalIndent(manifest, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "manifest.json"), b, 0o644)
}

// load returns a checkpoint, the "mixed" test graph, or a built
// architecture with random BatchNorm statistics.
func load(spec string, seed uint64) (*nn.Graph, string, error) {
	if strings.HasSuffix(spec, ".safetensors") {
		g, _, err := models.Load(spec)
		return g, strings.TrimSuffix(filepath.Base(spec), ".safetensors"), err
	}
	var g *nn.Graph
	var err error
	name := strings.ReplaceAll(spec, ":", "w")
	if spec == "mixed" {
		g, err = mixed()
		if err == nil {
			models.Init(g, seed)
		}
	} else {
		arch, width := spec, 1.0
		if a, w, ok := strings.Cut(spec, ":"); ok {
			arch = a
			if width, err = strconv.ParseFloat(w, 64); err != nil {
				return nil, "", fmt.Errorf("model %q: bad width: %w", spec, err)
			}
		}
		g, err = models.Build(arch, models.Options{Width: width, Seed: seed})
	}
	if err != nil {
		return nil, "", err
	}
	rng := rand.New(rand.NewPCG(seed, 3))
	for _, n := range g.Nodes[1:] {
		if bn, ok := n.Layer.(*nn.BatchNorm); ok {
			for c := range bn.Gamma.Value.Data {
				bn.Gamma.Value.Data[c] = float32(0.5 + rng.Float64())
				bn.Beta.Value.Data[c] = float32(0.2 * rng.NormFloat64())
				bn.RunningMean.Value.Data[c] = float32(0.3 * rng.NormFloat64())
				bn.RunningVar.Value.Data[c] = float32(0.5 + rng.Float64())
			}
		}
	}
	return g, name, nil
}

// mixed is a small graph that uses every exported layer kind, including
// the ones the stock models lack: select (Gather), average pooling with
// padding, option-A shortcuts with stride and padding and with a channel
// map, dropout, and a BatchNorm on a vector.
func mixed() (*nn.Graph, error) {
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
	x = g.Add("bn1", must(nn.NewBatchNorm(nn.BatchNormConfig{C: 8})), x)
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
	return g, g.Err()
}

func writeFloats(path string, v []float32) error {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return os.WriteFile(path, b, 0o644)
}
