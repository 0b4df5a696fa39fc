// Package nn holds evoprune's layers, losses and optimisers, and the model
// graph that ties layers together. Each layer keeps its forward and backward
// passes side by side. Tensors are float32 NCHW; a layer's per-sample shape is
// [C, H, W] for feature maps and [F] for vectors, so axis 1 of every batched
// tensor is its channel axis, which is what the pruning engine walks.
package nn

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"

	"github.com/evoprune/evoprune/tensor"
)

// Param is a named array of a layer: learnable (Grad != nil) or a buffer
// such as BatchNorm's running statistics (Grad == nil).
type Param struct {
	Name  string
	Value *tensor.Tensor
	Grad  *tensor.Tensor
	// NoDecay marks parameters that weight decay should leave alone.
	// The defaults follow PyTorch, which decays everything it is given.
	NoDecay bool
}

// Learnable reports whether the parameter is trained (has a gradient).
func (p *Param) Learnable() bool { return p.Grad != nil }

func newParam(name string, shape ...int) *Param {
	return &Param{Name: name, Value: tensor.New(shape...), Grad: tensor.New(shape...)}
}

func newBuffer(name string, shape ...int) *Param {
	return &Param{Name: name, Value: tensor.New(shape...)}
}

// Context carries what changes between calls of a forward pass: the mode and
// the source of randomness for dropout.
type Context struct {
	Train bool
	Rand  *rand.Rand

	// scratch is the graph's shared workspace, set by Graph.Forward and
	// Graph.Backward for the duration of the pass.
	scratch *Workspace
}

// Workspace holds temporary buffers (im2col matrices and the like) that
// layers need only during their own forward or backward call. Layers run one
// after another, so one workspace per graph serves all of them, which keeps
// a deep network's memory to its activations.
type Workspace struct {
	bufs [3][]float32
}

// Get returns workspace buffer i (0..2) with n elements. Contents are
// unspecified; the buffer is valid until the next call for the same i.
func (w *Workspace) Get(i, n int) []float32 {
	w.bufs[i] = grow(w.bufs[i], n)
	return w.bufs[i]
}

// Scratch returns the workspace of the pass in flight, or a private one
// when a layer is called outside a graph (as in tests).
func (c *Context) Scratch() *Workspace {
	if c.scratch == nil {
		c.scratch = &Workspace{}
	}
	return c.scratch
}

// Layer is one node's computation. Shapes passed to OutShape are per sample;
// tensors passed to Forward and Backward are batched, axis 0 the batch.
//
// Backward adds (never overwrites) the gradient with respect to input i into
// din[i] (nil when that input needs none), and adds parameter gradients into
// each Param.Grad. Adding lets the graph sum gradients of a tensor read by
// several consumers, as a residual block's input is.
type Layer interface {
	// Kind names the operation, e.g. "conv2d"; it keys the layer registry.
	Kind() string
	// OutShape checks the input shapes and returns the output shape.
	OutShape(in [][]int) ([]int, error)
	Forward(ctx *Context, in []*tensor.Tensor, out *tensor.Tensor)
	Backward(ctx *Context, in []*tensor.Tensor, out, dout *tensor.Tensor, din []*tensor.Tensor)
	// Params lists the layer's learnable parameters and buffers.
	Params() []*Param
	// Config returns the JSON-serialisable hyper-parameters that, given to
	// the layer's constructor, rebuild it (weights excluded).
	Config() any
	// MACs is the multiply-accumulate count of one sample's forward pass.
	MACs(in [][]int) int64
}

// constructor rebuilds a layer of one kind from its JSON configuration.
type constructor func(cfg json.RawMessage) (Layer, error)

var registry = map[string]constructor{}

// register records how to rebuild a layer kind from its configuration.
// Each layer file registers itself in an init function.
func register[C any](kind string, build func(C) (Layer, error)) {
	registry[kind] = func(raw json.RawMessage) (Layer, error) {
		var c C
		if err := strictUnmarshal(raw, &c); err != nil {
			return nil, fmt.Errorf("%s config: %w", kind, err)
		}
		return build(c)
	}
}

// NewLayer builds a layer of the given kind from its JSON configuration.
func NewLayer(kind string, cfg json.RawMessage) (Layer, error) {
	build, ok := registry[kind]
	if !ok {
		return nil, fmt.Errorf("unknown layer kind %q (known: %v)", kind, Kinds())
	}
	return build(cfg)
}

// Kinds lists the registered layer kinds.
func Kinds() []string {
	var ks []string
	for k := range registry {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func oneInput(kind string, in [][]int) ([]int, error) {
	if len(in) != 1 {
		return nil, fmt.Errorf("%s takes 1 input, got %d", kind, len(in))
	}
	return in[0], nil
}

func chwInput(kind string, in [][]int) (c, h, w int, err error) {
	s, err := oneInput(kind, in)
	if err != nil {
		return 0, 0, 0, err
	}
	if len(s) != 3 {
		return 0, 0, 0, fmt.Errorf("%s needs a CxHxW input, got %s", kind, tensor.ShapeString(s))
	}
	return s[0], s[1], s[2], nil
}
