// Package prune is evoprune's structured channel-pruning engine. It finds,
// from the model graph alone, which channels are coupled (Groups), gathers
// what a criterion needs to score a group's channels (Context), removes the
// lowest-scoring ones into a smaller dense model (Apply), counts what was
// saved (Count) and drives multi-step pruning with fine-tuning (Run).
//
// Two kinds of group exist. An Output group is the output channels of a
// convolution or linear layer together with everything that carries them:
// the BatchNorm after it, the element-wise layers and pools on the way, and
// the input channels of the layers that read them (through a flatten, a
// block of a linear layer's inputs). An Input group is the set of
// residual-stream channels that a residual block's first convolution reads:
// the stream itself stays whole and the convolution reads a subset through a
// Select layer, which is how the method's reference prunes ResNets.
// Channels that reach a residual addition or the model's output are not
// prunable as an Output group.
package prune

import (
	"fmt"
	"strings"

	"github.com/evoprune/evoprune/nn"
)

// Kind says what a group's channels are.
type Kind int

const (
	// Output groups are a conv or linear layer's output channels.
	Output Kind = iota
	// Input groups are the residual-stream channels a block's first conv reads.
	Input
	// Stream groups are the channels of a residual stream (one stage of a
	// ResNet): every conv writing into it, the additions, and every layer
	// reading it, pruned together (Options.Residual).
	Stream
)

func (k Kind) String() string {
	switch k {
	case Input:
		return "input"
	case Stream:
		return "stream"
	}
	return "output"
}

// Consumer is a layer that reads a group's channels as its input channels;
// Block is how many of its inputs each channel feeds (H*W through a
// flatten, else 1).
type Consumer struct {
	Node  *nn.Node
	Block int
}

// Group is a set of coupled channels that are pruned together.
type Group struct {
	// Name identifies the group across surgeries: the producing layer's
	// node name for an Output group, the reading conv's name + ":in" for an
	// Input group.
	Name string
	Kind Kind
	// Layer is the conv or linear node whose weights describe the channels:
	// the producer of an Output group (its rows are the incoming filters WI),
	// the reading conv of an Input group (its input columns).
	Layer *nn.Node
	// Norm is the BatchNorm node that normalises an Output group's channels
	// (nil when there is none); for an Input group, nil.
	Norm *nn.Node
	// Consumers read the channels (Output groups only).
	Consumers []Consumer
	// Tap is the node whose output feature maps represent the channels when
	// a criterion scores them (see TapPolicy).
	Tap *nn.Node
	// Channels is the current number of channels.
	Channels int
	// Members are a Stream group's writers: each conv feeding the stream
	// (with its BatchNorm and the stream tensor right after it as its tap),
	// scored separately and reduced (Options.Reduce). Shortcuts lists the
	// option-A shortcuts writing into the stream.
	Members   []*Group
	Shortcuts []*nn.Node
}

// TapPolicy chooses, for an Output group, which node's output stands for its
// channels, following the reference's choices per architecture.
type TapPolicy int

const (
	// TapAuto picks TapAfterNorm for VGG-style graphs and TapConsumerInput
	// for the rest.
	TapAuto TapPolicy = iota
	// TapConsumerInput is the tensor the next layer reads: post-ReLU,
	// post-pool for LeNet-5, the block-internal conv's input for ResNets.
	TapConsumerInput
	// TapAfterNorm is the BatchNorm's output, or the pool's output when the
	// layer is followed by a pool (the reference's VGG-16 taps).
	TapAfterNorm
)

// ParseTapPolicy reads "auto", "input" or "norm".
func ParseTapPolicy(s string) (TapPolicy, error) {
	switch s {
	case "", "auto":
		return TapAuto, nil
	case "input":
		return TapConsumerInput, nil
	case "norm":
		return TapAfterNorm, nil
	}
	return 0, fmt.Errorf("unknown tap policy %q (auto, input, norm)", s)
}

// Options control which groups Groups reports.
type Options struct {
	Tap TapPolicy
	// NoBlockInputs leaves out the Input groups of residual blocks.
	NoBlockInputs bool
	// Residual adds a Stream group per residual stream, pruned as one
	// coupled group, instead of the block-input groups (NoBlockInputs is
	// implied); Reduce ("mean", the default, or "sum") combines its
	// members' scores.
	Residual bool
	Reduce   string
}

// passThrough reports layers that keep each channel separate and in place.
func passThrough(l nn.Layer) bool {
	switch l.(type) {
	case *nn.ReLU, *nn.MaxPool2d, *nn.AvgPool2d, *nn.Dropout, *nn.GlobalAvgPool:
		return true
	}
	return false
}

func isPool(l nn.Layer) bool {
	switch l.(type) {
	case *nn.MaxPool2d, *nn.AvgPool2d, *nn.GlobalAvgPool:
		return true
	}
	return false
}

// producer reports layers whose output channels are their own choice.
func producer(l nn.Layer) bool {
	switch l.(type) {
	case *nn.Conv2d, *nn.Linear:
		return true
	}
	return false
}

// trace follows a producer's output channels forward to the layers that
// read them. It returns the group, or a reason why the channels cannot be
// pruned on their own.
func trace(g *nn.Graph, p *nn.Node, policy TapPolicy) (*Group, string) {
	grp := &Group{Name: p.Name, Kind: Output, Layer: p, Channels: p.Channels()}
	var pool *nn.Node // the first pool on the way
	// walk visits the readers of n; tap is n, or the node before a flatten,
	// so that the tap always has the channel axis the group is about.
	var walk func(n, tap *nn.Node, block int) string
	walk = func(n, tap *nn.Node, block int) string {
		cons := g.Consumers(n)
		if len(cons) == 0 {
			return "they are the model's output"
		}
		for _, m := range cons {
			switch l := m.Layer.(type) {
			case *nn.Conv2d, *nn.Linear:
				grp.Consumers = append(grp.Consumers, Consumer{Node: m, Block: block})
				if grp.Tap == nil {
					grp.Tap = tap
				}
			case *nn.BatchNorm:
				if block != 1 || grp.Norm != nil {
					return fmt.Sprintf("%s normalises them in an unsupported place", m.Name)
				}
				grp.Norm = m
				if r := walk(m, m, block); r != "" {
					return r
				}
			case *nn.Flatten:
				per := 1
				for _, d := range n.Shape[1:] {
					per *= d
				}
				if r := walk(m, tap, block*per); r != "" {
					return r
				}
			case *nn.Add, *nn.ShortcutA:
				return fmt.Sprintf("they reach the residual connection %s", m.Name)
			case *nn.Select:
				return fmt.Sprintf("%s selects among them", m.Name)
			default:
				if !passThrough(l) {
					return fmt.Sprintf("%s (%s) is not supported by the dependency analysis", m.Name, l.Kind())
				}
				if isPool(l) && pool == nil {
					pool = m
				}
				if r := walk(m, m, block); r != "" {
					return r
				}
			}
		}
		return ""
	}
	if r := walk(p, p, 1); r != "" {
		return nil, r
	}
	if policy == TapAfterNorm && grp.Norm != nil {
		grp.Tap = grp.Norm
		if pool != nil {
			grp.Tap = pool
		}
	}
	return grp, ""
}

// Groups finds the prunable channel groups of g, in graph order (Input
// groups right before the Output group of the same conv). Unprunable
// producers are listed in skipped with the reason.
func Groups(g *nn.Graph, o Options) (groups []*Group, skipped map[string]string) {
	policy := o.Tap
	if policy == TapAuto {
		policy = TapConsumerInput
		if strings.HasPrefix(g.Arch, "vgg") {
			policy = TapAfterNorm
		}
	}
	skipped = map[string]string{}
	out := map[string]*Group{}
	for _, n := range g.Nodes[1:] {
		if !producer(n.Layer) {
			continue
		}
		grp, reason := trace(g, n, policy)
		if grp == nil {
			skipped[n.Name] = reason
			continue
		}
		out[n.Name] = grp
	}
	if o.Residual {
		groups = append(groups, streams(g)...)
	}
	for _, n := range g.Nodes[1:] {
		grp := out[n.Name]
		if grp == nil {
			continue
		}
		if c, ok := n.Layer.(*nn.Conv2d); ok && !o.NoBlockInputs && !o.Residual {
			if in := blockInput(g, n, c); in != nil {
				groups = append(groups, in)
			}
		}
		groups = append(groups, grp)
	}
	return groups, skipped
}

// blockInput returns the Input group of conv n when n reads the residual
// stream: the tensor it reads (through a Select, if one is there already)
// also feeds a residual addition or shortcut.
func blockInput(g *nn.Graph, n *nn.Node, c *nn.Conv2d) *Group {
	src := n.Inputs[0]
	stream := src
	if _, ok := src.Layer.(*nn.Select); ok {
		stream = src.Inputs[0]
	}
	if stream.Index == 0 || !feedsResidual(g, stream) {
		return nil
	}
	return &Group{Name: n.Name + ":in", Kind: Input, Layer: n, Tap: src, Channels: c.Cfg.InC}
}

// feedsResidual reports whether n's output reaches an addition or shortcut
// through pass-through layers.
func feedsResidual(g *nn.Graph, n *nn.Node) bool {
	for _, m := range g.Consumers(n) {
		switch m.Layer.(type) {
		case *nn.Add, *nn.ShortcutA:
			return true
		}
		if passThrough(m.Layer) && feedsResidual(g, m) {
			return true
		}
	}
	return false
}

// Find returns the group with the given name.
func Find(groups []*Group, name string) *Group {
	for _, grp := range groups {
		if grp.Name == name {
			return grp
		}
	}
	return nil
}

// streams finds the residual streams: sets of nodes that share one channel
// space (joined by BatchNorms, element-wise layers and additions) and
// contain an addition.
func streams(g *nn.Graph) []*Group {
	parent := make([]int, len(g.Nodes))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	union := func(a, b int) { parent[find(a)] = find(b) }
	for _, n := range g.Nodes[1:] {
		switch n.Layer.(type) {
		case *nn.BatchNorm, *nn.Add:
			for _, in := range n.Inputs {
				union(n.Index, in.Index)
			}
		default:
			if passThrough(n.Layer) {
				union(n.Index, n.Inputs[0].Index)
			}
		}
	}
	var out []*Group
	byRoot := map[int]*Group{}
	for _, n := range g.Nodes[1:] {
		if _, ok := n.Layer.(*nn.Add); !ok {
			continue
		}
		r := find(n.Index)
		if byRoot[r] == nil {
			grp := &Group{Name: "stream:" + n.Name, Kind: Stream, Channels: n.Channels(), Tap: n}
			byRoot[r] = grp
			out = append(out, grp)
		}
	}
	for _, n := range g.Nodes[1:] {
		grp := byRoot[find(n.Index)]
		if grp == nil {
			continue
		}
		switch n.Layer.(type) {
		case *nn.Conv2d, *nn.Linear:
			m := &Group{Name: grp.Name, Kind: Output, Layer: n, Channels: grp.Channels}
			m.Tap = streamTap(g, n)
			for _, c := range g.Consumers(n) {
				if _, ok := c.Layer.(*nn.BatchNorm); ok {
					m.Norm = c
				}
			}
			grp.Members = append(grp.Members, m)
		case *nn.ShortcutA:
			grp.Shortcuts = append(grp.Shortcuts, n)
		}
	}
	return out
}

// streamTap follows a writer's output through its BatchNorm, addition and
// ReLU while that is the only way on, to the stream tensor the next layers
// read (a block's last ReLU, the stem's ReLU).
func streamTap(g *nn.Graph, n *nn.Node) *nn.Node {
	cur := n
	for {
		cons := g.Consumers(cur)
		if len(cons) != 1 {
			return cur
		}
		switch cons[0].Layer.(type) {
		case *nn.BatchNorm, *nn.Add, *nn.ReLU:
			cur = cons[0]
		default:
			return cur
		}
	}
}
