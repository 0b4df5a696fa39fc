package nn

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/evoprune/evoprune/tensor"
)

// Node is one vertex of a model graph: a layer applied to the outputs of
// earlier nodes. Shape is the per-sample output shape; Shape[0] is always the
// channel (or feature) dimension of the edge leaving the node.
type Node struct {
	Name   string
	Layer  Layer // nil for the graph input
	Inputs []*Node
	Shape  []int
	Index  int // position in Graph.Nodes (topological order)

	out, grad *tensor.Tensor
	keepGrad  bool
}

// Channels is the size of the node output's channel axis.
func (n *Node) Channels() int { return n.Shape[0] }

// Output returns the node's activation from the last forward pass.
func (n *Node) Output() *tensor.Tensor { return n.out }

// Grad returns the gradient of the node's output from the last backward
// pass. Gradients are recycled as soon as they are consumed, so it is only
// kept for nodes marked with Graph.KeepGrad (and for the input when
// Backward is asked for it); for others it is empty.
func (n *Node) Grad() *tensor.Tensor { return n.grad }

// Graph is a model: nodes in topological order, Nodes[0] the input and the
// last node the output. Forward and Backward run them in order and reverse.
type Graph struct {
	Arch  string // architecture name, e.g. "resnet20"; informative only
	Nodes []*Node

	byName    map[string]*Node
	consumers [][]*Node
	params    []NamedParam // cached by Params; reset when nodes are added
	err       error
	ins, dins [][]*tensor.Tensor  // per-node argument scratch, reused
	batch     int                 // batch size the shapes below were made for
	shapes    [][]int             // per-node batched output shape [batch, Shape...]
	ws        Workspace           // scratch shared by all layers
	ctx       Context             // the caller's context plus the workspace
	free      map[int][][]float32 // recycled gradient buffers by length

	// noFusion disables the BatchNorm/Add+ReLU fusion (fuse.go, SetFusion).
	noFusion  bool
	fuse      []int  // per node: index of the ReLU fused into it, or 0
	fusedInto []bool // per node: a ReLU computed by the node before it
	chain     []int  // per conv node: its BatchNorm run image by image in eval mode, or 0
	chained   []bool // per node: a BatchNorm run by its convolution in eval mode
}

// KeepGrad asks Backward to keep node n's output gradient for the caller
// (e.g. for gradient-based pruning criteria) instead of recycling it.
func (g *Graph) KeepGrad(n *Node, keep bool) { n.keepGrad = keep }

func (g *Graph) acquire(t *tensor.Tensor, shape []int) {
	n := tensor.Numel(shape)
	if s := g.free[n]; len(s) > 0 {
		t.Data = s[len(s)-1]
		g.free[n] = s[:len(s)-1]
		clear(t.Data)
	} else {
		t.Data = make([]float32, n)
	}
	t.Shape = append(t.Shape[:0], shape...)
}

func (g *Graph) release(t *tensor.Tensor) {
	if t.Data == nil {
		return
	}
	if g.free == nil {
		g.free = map[int][][]float32{}
	}
	g.free[len(t.Data)] = append(g.free[len(t.Data)], t.Data)
	t.Data = nil
}

// NewGraph starts a graph whose input samples have the given shape.
func NewGraph(arch string, input ...int) *Graph {
	g := &Graph{Arch: arch, byName: map[string]*Node{}}
	in := &Node{Name: "input", Shape: append([]int(nil), input...), out: &tensor.Tensor{}, grad: &tensor.Tensor{}}
	g.Nodes = append(g.Nodes, in)
	g.byName[in.Name] = in
	return g
}

// Input is the graph's input node.
func (g *Graph) Input() *Node { return g.Nodes[0] }

// Output is the graph's last node.
func (g *Graph) Output() *Node { return g.Nodes[len(g.Nodes)-1] }

// Node returns the node with the given name, or nil.
func (g *Graph) Node(name string) *Node { return g.byName[name] }

// Add appends a node. Errors (duplicate name, shape mismatch, nil layer) are
// recorded and returned by Err, so builders can chain calls and check once.
func (g *Graph) Add(name string, l Layer, inputs ...*Node) *Node {
	if g.err != nil {
		return g.Output()
	}
	if err := g.add(name, l, inputs); err != nil {
		g.err = fmt.Errorf("node %q: %w", name, err)
	}
	return g.Output()
}

func (g *Graph) add(name string, l Layer, inputs []*Node) error {
	if l == nil {
		return fmt.Errorf("nil layer")
	}
	if name == "" || strings.ContainsAny(name, " \t\n") {
		return fmt.Errorf("invalid node name")
	}
	if g.byName[name] != nil {
		return fmt.Errorf("duplicate node name")
	}
	if len(inputs) == 0 {
		return fmt.Errorf("no inputs")
	}
	shapes := make([][]int, len(inputs))
	for i, in := range inputs {
		if in == nil || in.Index >= len(g.Nodes) || g.Nodes[in.Index] != in {
			return fmt.Errorf("input %d is not a node of this graph", i)
		}
		shapes[i] = in.Shape
	}
	shape, err := l.OutShape(shapes)
	if err != nil {
		return err
	}
	n := &Node{Name: name, Layer: l, Inputs: inputs, Shape: shape, Index: len(g.Nodes),
		out: &tensor.Tensor{}, grad: &tensor.Tensor{}}
	g.Nodes = append(g.Nodes, n)
	g.byName[name] = n
	g.consumers = nil
	g.params = nil
	g.ins, g.dins, g.shapes = nil, nil, nil
	g.fuse, g.fusedInto, g.chain, g.chained = nil, nil, nil, nil
	return nil
}

// Err returns the first error met while building the graph.
func (g *Graph) Err() error { return g.err }

// Consumers returns the nodes that read node n's output.
func (g *Graph) Consumers(n *Node) []*Node {
	if g.consumers == nil {
		g.consumers = make([][]*Node, len(g.Nodes))
		for _, m := range g.Nodes {
			for _, in := range m.Inputs {
				g.consumers[in.Index] = append(g.consumers[in.Index], m)
			}
		}
	}
	return g.consumers[n.Index]
}

// Forward runs the graph on a batch x [N, input shape...] and returns the
// output activation, which stays owned by the graph until the next call.
func (g *Graph) Forward(ctx *Context, x *tensor.Tensor) *tensor.Tensor {
	in := g.Input()
	if len(x.Shape) != len(in.Shape)+1 || !tensor.SameShape(x.Shape[1:], in.Shape) {
		panic(fmt.Sprintf("nn: graph %s takes [N %s], got %s", g.Arch, tensor.ShapeString(in.Shape), tensor.ShapeString(x.Shape)))
	}
	in.out = x
	g.scratch(x.Shape[0])
	g.ctx = *ctx
	g.ctx.scratch = &g.ws
	ctx = &g.ctx
	fuse := g.fusedReLU()
	for _, node := range g.Nodes[1:] {
		if g.fusedInto[node.Index] || (!ctx.Train && g.chained[node.Index]) {
			continue // computed with the node it reads
		}
		args := g.ins[node.Index][:0]
		for _, p := range node.Inputs {
			args = append(args, p.out)
		}
		g.ins[node.Index] = args
		node.out.Resize(g.shapes[node.Index]...)
		if j := fuse[node.Index]; j > 0 {
			relu := g.Nodes[j]
			relu.out.Resize(g.shapes[j]...)
			node.Layer.(reluFuser).forwardReLU(ctx, args, node.out, relu.out)
			continue
		}
		if b := g.chain[node.Index]; b > 0 && !ctx.Train {
			g.forwardChain(ctx, node, args, g.Nodes[b], fuse[b])
			continue
		}
		node.Layer.Forward(ctx, args, node.out)
	}
	return g.Output().out
}

// forwardChain runs convolution node conv with its BatchNorm node bn
// (and ReLU node relu when not 0) image by image (fuse.go), eval mode.
func (g *Graph) forwardChain(ctx *Context, conv *Node, args []*tensor.Tensor, bn *Node, relu int) {
	bn.out.Resize(g.shapes[bn.Index]...)
	var z *tensor.Tensor
	if relu > 0 {
		z = g.Nodes[relu].out
		z.Resize(g.shapes[relu]...)
	}
	bl, cl := bn.Layer.(*BatchNorm), conv.Layer.(*Conv2d)
	bl.prepareEval(conv.out, bn.out, z)
	cl.after = bl
	cl.Forward(ctx, args, conv.out)
	cl.after = nil
	bl.finishEval()
}

// scratch prepares the per-node argument lists and batched shapes, so that
// a steady training loop allocates nothing per step.
func (g *Graph) scratch(batch int) {
	if len(g.ins) != len(g.Nodes) {
		g.ins = make([][]*tensor.Tensor, len(g.Nodes))
		g.dins = make([][]*tensor.Tensor, len(g.Nodes))
		g.shapes = nil
	}
	if g.shapes == nil || g.batch != batch {
		g.batch = batch
		g.shapes = make([][]int, len(g.Nodes))
		for i, node := range g.Nodes {
			g.shapes[i] = append([]int{batch}, node.Shape...)
		}
	}
}

// Backward propagates dout, the gradient of the loss with respect to the
// output of the last Forward, through every node, adding parameter gradients
// into each Param.Grad. When inputGrad is true the gradient with respect to
// the graph input is kept too (Input().Grad()).
func (g *Graph) Backward(ctx *Context, dout *tensor.Tensor, inputGrad bool) {
	g.scratch(g.Input().out.Shape[0])
	g.ctx = *ctx
	g.ctx.scratch = &g.ws
	ctx = &g.ctx
	// A node's output gradient is needed from the backward of its last
	// consumer to its own backward; outside that window its buffer serves
	// other nodes, so a deep network holds only a few gradients at a time.
	for _, node := range g.Nodes {
		g.release(node.grad)
	}
	keep := func(n *Node) bool { return n.keepGrad || (n.Index == 0 && inputGrad) }
	fuse := g.fusedReLU()
	// fused reports whether node i's backward pass runs fused with the
	// ReLU after it or (i a ReLU) with the node before it: not when that
	// node's own gradient is to be kept.
	fused := func(i int) bool {
		if g.fusedInto[i] {
			i = g.Nodes[i].Inputs[0].Index
		}
		return fuse[i] > 0 && !g.Nodes[i].keepGrad
	}
	out := g.Output()
	g.acquire(out.grad, g.shapes[out.Index])
	copy(out.grad.Data, dout.Data)
	for i := len(g.Nodes) - 1; i >= 1; i-- {
		node := g.Nodes[i]
		if g.fusedInto[i] && fused(i) {
			continue // done by the node it reads, which needs node.grad
		}
		args := g.ins[i][:0]
		dargs := g.dins[i][:0]
		for _, p := range node.Inputs {
			args = append(args, p.out)
			if p.Index == 0 && !inputGrad {
				dargs = append(dargs, nil)
				continue
			}
			if p.grad.Data == nil {
				g.acquire(p.grad, g.shapes[p.Index])
			}
			dargs = append(dargs, p.grad)
		}
		g.ins[i], g.dins[i] = args, dargs
		if fuse[i] > 0 && fused(i) {
			relu := g.Nodes[fuse[i]]
			node.Layer.(reluFuser).backwardReLU(ctx, args, relu.out, relu.grad, dargs)
			if !keep(relu) {
				g.release(relu.grad)
			}
			continue
		}
		node.Layer.Backward(ctx, args, node.out, node.grad, dargs)
		if !keep(node) {
			g.release(node.grad)
		}
	}
}

// Params returns every parameter and buffer, named "<node>.<param>", in
// node order. The slice is cached and shared: do not modify it.
func (g *Graph) Params() []NamedParam {
	if g.params == nil {
		for _, node := range g.Nodes[1:] {
			for _, p := range node.Layer.Params() {
				g.params = append(g.params, NamedParam{Name: node.Name + "." + p.Name, Node: node, Param: p})
			}
		}
	}
	return g.params
}

// NamedParam is a parameter with its full name and owning node.
type NamedParam struct {
	Name string
	Node *Node
	*Param
}

// ZeroGrad clears every parameter gradient.
func (g *Graph) ZeroGrad() {
	for _, p := range g.Params() {
		if p.Grad != nil {
			p.Grad.Zero()
		}
	}
}

// NumParams counts learnable parameter values (buffers excluded).
func (g *Graph) NumParams() int64 {
	var n int64
	for _, p := range g.Params() {
		if p.Learnable() {
			n += int64(p.Value.Len())
		}
	}
	return n
}

// MACs counts one sample's conv and linear multiply-accumulates.
func (g *Graph) MACs() int64 {
	var total int64
	for _, node := range g.Nodes[1:] {
		total += node.MACs()
	}
	return total
}

// MACs is one sample's multiply-accumulate count of this node.
func (n *Node) MACs() int64 {
	if n.Layer == nil {
		return 0
	}
	shapes := make([][]int, len(n.Inputs))
	for i, in := range n.Inputs {
		shapes[i] = in.Shape
	}
	return n.Layer.MACs(shapes)
}

// Spec is the serialisable description of a graph's structure (weights
// excluded): what a checkpoint header stores to rebuild the model.
type Spec struct {
	Arch  string     `json:"arch"`
	Input []int      `json:"input"`
	Nodes []NodeSpec `json:"nodes"`
}

// NodeSpec describes one node of a Spec.
type NodeSpec struct {
	Name   string          `json:"name"`
	Kind   string          `json:"kind"`
	Inputs []string        `json:"inputs"`
	Config json.RawMessage `json:"config,omitempty"`
}

// Spec returns the graph's structure.
func (g *Graph) Spec() Spec {
	s := Spec{Arch: g.Arch, Input: g.Input().Shape}
	for _, n := range g.Nodes[1:] {
		ns := NodeSpec{Name: n.Name, Kind: n.Layer.Kind()}
		for _, in := range n.Inputs {
			ns.Inputs = append(ns.Inputs, in.Name)
		}
		cfg, err := json.Marshal(n.Layer.Config())
		if err != nil {
			panic(fmt.Sprintf("nn: config of %s does not marshal: %v", n.Name, err))
		}
		if string(cfg) != "{}" {
			ns.Config = cfg
		}
		s.Nodes = append(s.Nodes, ns)
	}
	return s
}

// Build constructs a graph (with zero weights) from a Spec.
func (s Spec) Build() (*Graph, error) {
	if len(s.Input) == 0 {
		return nil, fmt.Errorf("model spec has no input shape")
	}
	for _, d := range s.Input {
		if d <= 0 {
			return nil, fmt.Errorf("model spec input shape %v is not positive", s.Input)
		}
	}
	if len(s.Nodes) == 0 {
		return nil, fmt.Errorf("model spec has no nodes")
	}
	g := NewGraph(s.Arch, s.Input...)
	for i, ns := range s.Nodes {
		l, err := NewLayer(ns.Kind, ns.Config)
		if err != nil {
			return nil, fmt.Errorf("model spec node %d (%q): %w", i, ns.Name, err)
		}
		var ins []*Node
		for _, name := range ns.Inputs {
			in := g.Node(name)
			if in == nil {
				return nil, fmt.Errorf("model spec node %d (%q): input %q is not an earlier node", i, ns.Name, name)
			}
			ins = append(ins, in)
		}
		g.Add(ns.Name, l, ins...)
		if err := g.Err(); err != nil {
			return nil, fmt.Errorf("model spec: %w", err)
		}
	}
	return g, nil
}

// Clone returns an independent copy of the graph with the same weights.
func (g *Graph) Clone() *Graph {
	c, err := g.Spec().Build()
	if err != nil {
		panic(fmt.Sprintf("nn: graph does not rebuild from its own spec: %v", err))
	}
	src, dst := g.Params(), c.Params()
	for i := range src {
		copy(dst[i].Value.Data, src[i].Value.Data)
	}
	return c
}
