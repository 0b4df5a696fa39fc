package prune

import (
	"github.com/evoprune/evoprune/nn"
)

// LayerCount is one layer's size: its input and output channels (features
// for linear layers), learnable parameters and one sample's MACs.
type LayerCount struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"`
	In     int    `json:"in"`
	Out    int    `json:"out"`
	Params int64  `json:"params"`
	MACs   int64  `json:"macs"`
}

// Count lists the layers of g that have parameters or MACs (convolutions,
// linear layers, BatchNorms), in graph order.
func Count(g *nn.Graph) []LayerCount {
	var out []LayerCount
	for _, n := range g.Nodes[1:] {
		var params int64
		for _, p := range n.Layer.Params() {
			if p.Learnable() {
				params += int64(p.Value.Len())
			}
		}
		macs := n.MACs()
		if params == 0 && macs == 0 {
			continue
		}
		c := LayerCount{Name: n.Name, Kind: n.Layer.Kind(), Out: n.Channels(), Params: params, MACs: macs}
		if len(n.Inputs) > 0 {
			c.In = n.Inputs[0].Channels()
		}
		out = append(out, c)
	}
	return out
}

// LayerChange is a layer before and after pruning (After is the zero value
// for a layer that no longer exists, Before for one that was added).
type LayerChange struct {
	Name   string     `json:"name"`
	Before LayerCount `json:"before"`
	After  LayerCount `json:"after"`
}

// Totals are a model's parameter and MAC counts.
type Totals struct {
	Params int64 `json:"params"`
	MACs   int64 `json:"macs"`
}

// Comparison is the accounting of one pruning: per layer and in total.
type Comparison struct {
	Layers []LayerChange `json:"layers"`
	Before Totals        `json:"before"`
	After  Totals        `json:"after"`
	// ParamsKept and MACsKept are After / Before.
	ParamsKept float64 `json:"params_kept"`
	MACsKept   float64 `json:"macs_kept"`
}

// Compare counts before and after, matching layers by name.
func Compare(before, after *nn.Graph) Comparison {
	a := map[string]LayerCount{}
	for _, c := range Count(after) {
		a[c.Name] = c
	}
	var cmp Comparison
	for _, b := range Count(before) {
		cmp.Layers = append(cmp.Layers, LayerChange{Name: b.Name, Before: b, After: a[b.Name]})
	}
	cmp.Before = Totals{Params: before.NumParams(), MACs: before.MACs()}
	cmp.After = Totals{Params: after.NumParams(), MACs: after.MACs()}
	cmp.ParamsKept = float64(cmp.After.Params) / float64(cmp.Before.Params)
	cmp.MACsKept = float64(cmp.After.MACs) / float64(cmp.Before.MACs)
	return cmp
}
