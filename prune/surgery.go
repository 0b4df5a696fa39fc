package prune

import (
	"encoding/json"
	"fmt"

	"github.com/evoprune/evoprune/nn"
	"github.com/evoprune/evoprune/tensor"
)

// Plan says which channels of each group to keep: group name -> ascending
// indices into the group's current channels. Groups not named keep all.
type Plan map[string][]int

// Removal turns per-group lists of channels to remove into a Plan.
func Removal(groups []*Group, remove map[string][]int) (Plan, error) {
	plan := Plan{}
	for name, rm := range remove {
		grp := Find(groups, name)
		if grp == nil {
			return nil, fmt.Errorf("no prunable group %q", name)
		}
		drop := make([]bool, grp.Channels)
		for _, c := range rm {
			if c < 0 || c >= grp.Channels {
				return nil, fmt.Errorf("group %s: channel %d outside [0, %d)", name, c, grp.Channels)
			}
			drop[c] = true
		}
		var keep []int
		for c, d := range drop {
			if !d {
				keep = append(keep, c)
			}
		}
		plan[name] = keep
	}
	return plan, nil
}

func (p Plan) check(groups []*Group) error {
	for name, keep := range p {
		grp := Find(groups, name)
		if grp == nil {
			return fmt.Errorf("no prunable group %q", name)
		}
		if len(keep) == 0 {
			return fmt.Errorf("group %s: cannot remove all %d channels", name, grp.Channels)
		}
		for i, c := range keep {
			if c < 0 || c >= grp.Channels || (i > 0 && c <= keep[i-1]) {
				return fmt.Errorf("group %s: keep list must be ascending indices in [0, %d), got %v", name, grp.Channels, keep)
			}
		}
	}
	return nil
}

// Apply builds the smaller dense model that plan describes: new shapes,
// sliced weights, biases and BatchNorm statistics, and Select layers in
// front of block convolutions whose input channels were pruned. The result
// computes exactly what g computes with the removed channels masked to zero.
// g is not modified.
func Apply(g *nn.Graph, plan Plan, o Options) (*nn.Graph, error) {
	spec, s, err := planSpec(g, plan, o)
	if err != nil {
		return nil, err
	}
	out, err := spec.Build()
	if err != nil {
		return nil, fmt.Errorf("prune: the pruned model does not build: %w", err)
	}
	if err := s.copyWeights(out); err != nil {
		return nil, err
	}
	return out, nil
}

// planSpec is the structure of the pruned model, weights aside.
func planSpec(g *nn.Graph, plan Plan, o Options) (nn.Spec, *surgeon, error) {
	groups, _ := Groups(g, o)
	if err := plan.check(groups); err != nil {
		return nn.Spec{}, nil, err
	}
	s := &surgeon{g: g, plan: plan, keep: map[string][]int{}, cols: map[string][]int{}, rename: map[string]string{}, out: map[string][]int{}}
	// Which output channels each writer keeps: an Output group's producer,
	// or every conv and shortcut writing into a pruned stream.
	for _, grp := range groups {
		k, ok := plan[grp.Name]
		if !ok {
			continue
		}
		switch grp.Kind {
		case Output:
			s.out[grp.Layer.Name] = k
		case Stream:
			for _, m := range grp.Members {
				s.out[m.Layer.Name] = k
			}
			for _, sc := range grp.Shortcuts {
				s.out[sc.Name] = k
			}
		}
	}
	spec := nn.Spec{Arch: g.Arch, Input: g.Input().Shape}
	for _, n := range g.Nodes[1:] {
		specs, err := s.node(n)
		if err != nil {
			return nn.Spec{}, nil, fmt.Errorf("prune %s: %w", n.Name, err)
		}
		spec.Nodes = append(spec.Nodes, specs...)
	}
	return spec, s, nil
}

// surgeon carries the state of one Apply: for every node, which of its
// original output channels survive (keep, nil = all) and which input
// channels its weights keep (cols, for convs and linears).
type surgeon struct {
	g      *nn.Graph
	plan   Plan
	keep   map[string][]int
	cols   map[string][]int
	rename map[string]string // input rewiring: conv name -> inserted select
	out    map[string][]int  // writers' kept output channels, from the plan
}

func (s *surgeon) inputNames(n *nn.Node) []string {
	var names []string
	for _, in := range n.Inputs {
		names = append(names, in.Name)
	}
	if r, ok := s.rename[n.Name]; ok {
		names[0] = r
	}
	return names
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // layer configs are plain structs
	}
	return b
}

func (s *surgeon) node(n *nn.Node) ([]nn.NodeSpec, error) {
	var in []int
	if len(n.Inputs) > 0 {
		in = s.keep[n.Inputs[0].Name]
	}
	spec := nn.NodeSpec{Name: n.Name, Kind: n.Layer.Kind()}
	var pre []nn.NodeSpec
	switch l := n.Layer.(type) {
	case *nn.Conv2d:
		cfg := l.Cfg
		cols := in
		if k, ok := s.plan[n.Name+":in"]; ok {
			if _, isSel := n.Inputs[0].Layer.(*nn.Select); isSel && len(s.g.Consumers(n.Inputs[0])) > 1 {
				return nil, fmt.Errorf("its input selection %s is shared with other layers", n.Inputs[0].Name)
			} else if !isSel {
				if in != nil {
					return nil, fmt.Errorf("input channels pruned both upstream and as a block input")
				}
				name := n.Name + ".select"
				pre = append(pre, nn.NodeSpec{Name: name, Kind: "select", Inputs: []string{n.Inputs[0].Name},
					Config: mustJSON(nn.SelectConfig{In: cfg.InC, Index: k})})
				s.rename[n.Name] = name
				cols = k
			}
		}
		if cols != nil {
			cfg.InC = len(cols)
		}
		s.cols[n.Name] = cols
		if k, ok := s.out[n.Name]; ok {
			cfg.OutC = len(k)
			s.keep[n.Name] = k
		}
		spec.Config = mustJSON(cfg)
	case *nn.Linear:
		cfg := l.Cfg
		if in != nil {
			cfg.In = len(in)
		}
		s.cols[n.Name] = in
		if k, ok := s.out[n.Name]; ok {
			cfg.Out = len(k)
			s.keep[n.Name] = k
		}
		spec.Config = mustJSON(cfg)
	case *nn.BatchNorm:
		cfg := l.Cfg
		if in != nil {
			cfg.C = len(in)
		}
		s.keep[n.Name] = in
		spec.Config = mustJSON(cfg)
	case *nn.Flatten:
		if in != nil {
			per := tensor.Numel(n.Inputs[0].Shape[1:])
			exp := make([]int, 0, len(in)*per)
			for _, c := range in {
				for j := 0; j < per; j++ {
					exp = append(exp, c*per+j)
				}
			}
			s.keep[n.Name] = exp
		}
	case *nn.Add:
		for _, x := range n.Inputs[1:] {
			if !sameKeep(in, s.keep[x.Name]) {
				return nil, fmt.Errorf("the inputs of a residual addition would keep different channels")
			}
		}
		s.keep[n.Name] = in
	case *nn.ShortcutA:
		// Input channel c lands on output channel Target(c); kept inputs
		// whose target is kept land on its new position, the rest drop.
		out, hasOut := s.out[n.Name]
		if in == nil && !hasOut {
			spec.Config = mustJSON(l.Cfg)
			break
		}
		if in == nil {
			in = seq(l.Cfg.In)
		}
		if !hasOut {
			out = seq(l.Cfg.Out)
		}
		pos := map[int]int{}
		for i, c := range out {
			pos[c] = i
		}
		cfg := nn.ShortcutAConfig{In: len(in), Out: len(out), Stride: l.Cfg.Stride, Map: make([]int, len(in))}
		for i, c := range in {
			cfg.Map[i] = -1
			if p, ok := pos[l.Target(c)]; ok && l.Target(c) >= 0 {
				cfg.Map[i] = p
			}
		}
		if hasOut {
			s.keep[n.Name] = out
		}
		spec.Config = mustJSON(cfg)
	case *nn.Select:
		cfg := nn.SelectConfig{In: l.Cfg.In, Index: l.Cfg.Index}
		if in != nil {
			cfg.In = len(in)
			pos := map[int]int{}
			for i, c := range in {
				pos[c] = i
			}
			var idx, kept []int
			for j, c := range l.Cfg.Index {
				if p, ok := pos[c]; ok {
					idx = append(idx, p)
					kept = append(kept, j)
				}
			}
			if len(idx) == 0 {
				return nil, fmt.Errorf("every selected channel was pruned")
			}
			cfg.Index = idx
			s.keep[n.Name] = kept
		}
		if cons := s.g.Consumers(n); len(cons) == 1 {
			if k, ok := s.plan[cons[0].Name+":in"]; ok {
				base := s.keep[n.Name]
				idx := make([]int, len(k))
				kept := make([]int, len(k))
				for i, j := range k {
					idx[i] = cfg.Index[j]
					kept[i] = j
					if base != nil {
						kept[i] = base[j]
					}
				}
				// Keep lists refer to the select's original outputs.
				cfg.Index = idx
				s.keep[n.Name] = kept
			}
		}
		spec.Config = mustJSON(cfg)
	default:
		if !passThrough(l) {
			if in != nil {
				return nil, fmt.Errorf("cannot carry pruned channels through a %s layer", l.Kind())
			}
			spec.Config = mustJSON(l.Config())
			break
		}
		s.keep[n.Name] = in
		if cfg := mustJSON(l.Config()); string(cfg) != "{}" {
			spec.Config = cfg
		}
	}
	if spec.Config == nil {
		if cfg := mustJSON(n.Layer.Config()); string(cfg) != "{}" {
			spec.Config = cfg
		}
	}
	spec.Inputs = s.inputNames(n)
	return append(pre, spec), nil
}

func sameKeep(a, b []int) bool {
	if (a == nil) != (b == nil) || len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// copyWeights fills the pruned graph's parameters from the original, slicing
// rows by the node's kept output channels and columns by its kept inputs.
func (s *surgeon) copyWeights(out *nn.Graph) error {
	for _, n := range out.Nodes[1:] {
		old := s.g.Node(n.Name)
		if old == nil {
			continue // an inserted Select
		}
		rows, cols := s.keep[n.Name], s.cols[n.Name]
		switch l := n.Layer.(type) {
		case *nn.Conv2d:
			o := old.Layer.(*nn.Conv2d)
			k2 := o.Cfg.Kernel * o.Cfg.Kernel
			slice2(l.Weight.Value.Data, o.Weight.Value.Data, o.Cfg.OutC, o.Cfg.InC, k2, rows, cols)
			if l.B != nil {
				slice2(l.B.Value.Data, o.B.Value.Data, o.Cfg.OutC, 1, 1, rows, nil)
			}
		case *nn.Linear:
			o := old.Layer.(*nn.Linear)
			slice2(l.Weight.Value.Data, o.Weight.Value.Data, o.Cfg.Out, o.Cfg.In, 1, rows, cols)
			if l.B != nil {
				slice2(l.B.Value.Data, o.B.Value.Data, o.Cfg.Out, 1, 1, rows, nil)
			}
		default:
			np, op := n.Layer.Params(), old.Layer.Params()
			if len(np) != len(op) {
				return fmt.Errorf("prune: %s has %d parameters, the original %d", n.Name, len(np), len(op))
			}
			for i := range np {
				// Per-channel parameters (BatchNorm) follow the kept channels.
				slice2(np[i].Value.Data, op[i].Value.Data, op[i].Value.Len(), 1, 1, rows, nil)
			}
		}
	}
	return nil
}

// slice2 copies src, a [r, c, inner] array, into dst keeping rows and cols
// (nil = all), in order.
func slice2(dst, src []float32, r, c, inner int, rows, cols []int) {
	if rows == nil {
		rows = seq(r)
	}
	if cols == nil {
		cols = seq(c)
	}
	i := 0
	for _, ro := range rows {
		for _, co := range cols {
			copy(dst[i:i+inner], src[(ro*c+co)*inner:])
			i += inner
		}
	}
}

func seq(n int) []int {
	v := make([]int, n)
	for i := range v {
		v[i] = i
	}
	return v
}
