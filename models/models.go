// Package models builds evoprune's networks as nn graphs and keeps a
// registry of them by name: LeNet-5 for MNIST, VGG-16 and the CIFAR ResNets
// for CIFAR-10/100. Node names follow PyTorch module paths where there is a
// usual one (layer1.0.conv1), so checkpoints read naturally outside Go.
package models

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/evoprune/evoprune/nn"
)

// Options configure a model builder. Zero values mean the defaults.
type Options struct {
	Classes  int     // output classes; default 10
	Width    float64 // channel multiplier for vgg16; default 1
	Shortcut string  // "A" (default) or "B" for ResNets
	Seed     uint64  // weight initialisation seed
}

// Entry describes a registered architecture.
type Entry struct {
	Name        string
	Description string
	Dataset     string // the dataset it is meant for, e.g. "cifar10"
	Input       []int  // default per-sample input shape
	build       func(o Options) (*nn.Graph, error)
}

var registry = map[string]Entry{}

func add(e Entry) { registry[e.Name] = e }

func init() {
	add(Entry{Name: "lenet5", Dataset: "mnist", Input: []int{1, 28, 28}, build: LeNet5,
		Description: "LeNet-5 (Caffe variant): conv5x5-20, pool, conv5x5-50, pool, FC 800-500-10"})
	add(Entry{Name: "vgg16", Dataset: "cifar10", Input: []int{3, 32, 32}, build: VGG16,
		Description: "VGG-16 for CIFAR: 13 conv3x3+BN+ReLU, 5 max-pools, FC 512-512-classes; width multiplier"})
	for _, depth := range []int{20, 32, 56, 110} {
		d := depth
		add(Entry{Name: fmt.Sprintf("resnet%d", d), Dataset: "cifar10", Input: []int{3, 32, 32},
			build:       func(o Options) (*nn.Graph, error) { return ResNetCIFAR(d, o) },
			Description: fmt.Sprintf("ResNet-%d for CIFAR (He et al. 2016): 3 stages of %d basic blocks, 16-32-64 channels", d, (d-2)/6)})
	}
}

// Names lists the registered architectures in a stable order.
func Names() []string {
	var ns []string
	for n := range registry {
		ns = append(ns, n)
	}
	sort.Slice(ns, func(i, j int) bool {
		// lenet5, vgg16, then resnets by depth.
		a, b := ns[i], ns[j]
		if strings.HasPrefix(a, "resnet") && strings.HasPrefix(b, "resnet") {
			return len(a) < len(b) || (len(a) == len(b) && a < b)
		}
		return a < b
	})
	return ns
}

// Lookup returns a registered architecture.
func Lookup(name string) (Entry, error) {
	e, ok := registry[name]
	if !ok {
		return Entry{}, fmt.Errorf("unknown model %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	return e, nil
}

// Build constructs a freshly initialised model by name.
func Build(name string, o Options) (*nn.Graph, error) {
	e, err := Lookup(name)
	if err != nil {
		return nil, err
	}
	if o.Classes == 0 {
		o.Classes = 10
	}
	if o.Classes < 2 {
		return nil, fmt.Errorf("model %s: classes must be at least 2, got %d", name, o.Classes)
	}
	if o.Width == 0 {
		o.Width = 1
	}
	if o.Width < 0 || math.IsNaN(o.Width) {
		return nil, fmt.Errorf("model %s: width multiplier must be positive, got %g", name, o.Width)
	}
	g, err := e.build(o)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", name, err)
	}
	Init(g, o.Seed)
	return g, nil
}

// Init initialises weights the way the usual PyTorch code for these models
// does: He (Kaiming) normal for convolutions (fan-in, ReLU gain), PyTorch's
// default uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) for linear layers and
// biases, BatchNorm at gamma 1 and beta 0. Every draw comes from seed.
func Init(g *nn.Graph, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	for _, node := range g.Nodes[1:] {
		switch l := node.Layer.(type) {
		case *nn.Conv2d:
			fanIn := l.Cfg.InC * l.Cfg.Kernel * l.Cfg.Kernel
			std := math.Sqrt(2 / float64(fanIn))
			for i := range l.Weight.Value.Data {
				l.Weight.Value.Data[i] = float32(rng.NormFloat64() * std)
			}
			if l.B != nil {
				uniform(rng, l.B.Value.Data, 1/math.Sqrt(float64(fanIn)))
			}
		case *nn.Linear:
			bound := 1 / math.Sqrt(float64(l.Cfg.In))
			uniform(rng, l.Weight.Value.Data, bound)
			if l.B != nil {
				uniform(rng, l.B.Value.Data, bound)
			}
		}
	}
}

func uniform(rng *rand.Rand, v []float32, bound float64) {
	for i := range v {
		v[i] = float32((2*rng.Float64() - 1) * bound)
	}
}

func must(l nn.Layer, err error) nn.Layer {
	if err != nil {
		panic(err) // builders only pass constant, valid configurations
	}
	return l
}

func conv(in, out, k, stride, pad int, bias bool) nn.Layer {
	return must(nn.NewConv2d(nn.ConvConfig{InC: in, OutC: out, Kernel: k, Stride: stride, Pad: pad, Bias: bias}))
}

func bn(c int) nn.Layer { return must(nn.NewBatchNorm(nn.BatchNormConfig{C: c})) }

func linear(in, out int) nn.Layer {
	return must(nn.NewLinear(nn.LinearConfig{In: in, Out: out, Bias: true}))
}

func maxpool(k int) nn.Layer { return must(nn.NewMaxPool2d(nn.PoolConfig{Kernel: k})) }

// LeNet5 is the Caffe LeNet-5 the method prunes: conv5x5-20, ReLU, maxpool2,
// conv5x5-50, ReLU, maxpool2, FC 800-500, ReLU, FC 500-classes.
func LeNet5(o Options) (*nn.Graph, error) {
	g := nn.NewGraph("lenet5", 1, 28, 28)
	x := g.Add("conv1", conv(1, 20, 5, 1, 0, true), g.Input())
	x = g.Add("relu1", &nn.ReLU{}, x)
	x = g.Add("pool1", maxpool(2), x)
	x = g.Add("conv2", conv(20, 50, 5, 1, 0, true), x)
	x = g.Add("relu2", &nn.ReLU{}, x)
	x = g.Add("pool2", maxpool(2), x)
	x = g.Add("flatten", &nn.Flatten{}, x)
	x = g.Add("fc1", linear(800, 500), x)
	x = g.Add("relu3", &nn.ReLU{}, x)
	g.Add("fc2", linear(500, o.Classes), x)
	return g, g.Err()
}

// vggPlan is VGG-16's convolution widths, 0 marking a 2x2 max-pool.
var vggPlan = []int{64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0}

// VGG16 is the CIFAR VGG-16 of the network-slimming and pruning literature:
// 13 conv3x3 without bias, each followed by BN and ReLU, five max-pools, then
// FC 512-512 with ReLU and FC 512-classes (the flattened 1x1x512 map is
// the first 512). Width scales every hidden width (rounded,
// at least 1).
func VGG16(o Options) (*nn.Graph, error) {
	scale := func(c int) int { return max(1, int(math.Round(float64(c)*o.Width))) }
	g := nn.NewGraph("vgg16", 3, 32, 32)
	x := g.Input()
	in, convN, poolN := 3, 0, 0
	for _, c := range vggPlan {
		if c == 0 {
			poolN++
			x = g.Add(fmt.Sprintf("pool%d", poolN), maxpool(2), x)
			continue
		}
		convN++
		w := scale(c)
		x = g.Add(fmt.Sprintf("conv%d", convN), conv(in, w, 3, 1, 1, false), x)
		x = g.Add(fmt.Sprintf("bn%d", convN), bn(w), x)
		x = g.Add(fmt.Sprintf("relu%d", convN), &nn.ReLU{}, x)
		in = w
	}
	hidden := scale(512)
	x = g.Add("flatten", &nn.Flatten{}, x)
	x = g.Add("fc1", linear(in, hidden), x)
	x = g.Add("relu_fc1", &nn.ReLU{}, x)
	g.Add("fc2", linear(hidden, o.Classes), x)
	return g, g.Err()
}

// ResNetCIFAR is He et al.'s CIFAR ResNet of depth 6n+2: conv3x3-16 + BN +
// ReLU, three stages of n basic blocks (16, 32, 64 channels, stride 2 at the
// start of stages 2 and 3), global average pooling and FC 64-classes.
// Shortcut "A" subsamples and zero-pads channels (no parameters); "B" uses a
// 1x1 conv + BN where the shape changes.
func ResNetCIFAR(depth int, o Options) (*nn.Graph, error) {
	if (depth-2)%6 != 0 || depth < 8 {
		return nil, fmt.Errorf("resnet depth must be 6n+2, got %d", depth)
	}
	sc := strings.ToUpper(o.Shortcut)
	if sc == "" {
		sc = "A"
	}
	if sc != "A" && sc != "B" {
		return nil, fmt.Errorf("shortcut must be A or B, got %q", o.Shortcut)
	}
	n := (depth - 2) / 6
	g := nn.NewGraph(fmt.Sprintf("resnet%d", depth), 3, 32, 32)
	x := g.Add("conv1", conv(3, 16, 3, 1, 1, false), g.Input())
	x = g.Add("bn1", bn(16), x)
	x = g.Add("relu", &nn.ReLU{}, x)
	in := 16
	for stage, planes := range []int{16, 32, 64} {
		for b := 0; b < n; b++ {
			stride := 1
			if stage > 0 && b == 0 {
				stride = 2
			}
			p := fmt.Sprintf("layer%d.%d.", stage+1, b)
			y := g.Add(p+"conv1", conv(in, planes, 3, stride, 1, false), x)
			y = g.Add(p+"bn1", bn(planes), y)
			y = g.Add(p+"relu1", &nn.ReLU{}, y)
			y = g.Add(p+"conv2", conv(planes, planes, 3, 1, 1, false), y)
			y = g.Add(p+"bn2", bn(planes), y)
			short := x
			if stride != 1 || in != planes {
				if sc == "A" {
					short = g.Add(p+"shortcut", must(nn.NewShortcutA(nn.ShortcutAConfig{In: in, Out: planes, Stride: stride})), x)
				} else {
					short = g.Add(p+"shortcut.0", conv(in, planes, 1, stride, 0, false), x)
					short = g.Add(p+"shortcut.1", bn(planes), short)
				}
			}
			y = g.Add(p+"add", &nn.Add{}, y, short)
			x = g.Add(p+"relu2", &nn.ReLU{}, y)
			in = planes
		}
	}
	x = g.Add("avgpool", &nn.GlobalAvgPool{}, x)
	g.Add("fc", linear(64, o.Classes), x)
	return g, g.Err()
}
