package nn

import (
	"fmt"

	"github.com/evoprune/evoprune/tensor"
)

// ShortcutAConfig describes the option-A residual shortcut of He et al.:
// subsample by Stride and zero-pad channels from In to Out, with
// (Out-In)/2 zero channels in front (as the common CIFAR ResNet code pads
// planes/4 on each side).
//
// Map, when set, says instead at which output channel each input channel
// lands (distinct, in [0, Out); -1 drops the input channel); the other
// output channels are zero. Pruning the residual stream on both sides of a
// shortcut produces such maps.
type ShortcutAConfig struct {
	In     int   `json:"in_channels"`
	Out    int   `json:"out_channels"`
	Stride int   `json:"stride"`
	Map    []int `json:"map,omitempty"`
}

// ShortcutA is the parameter-free option-A shortcut.
type ShortcutA struct{ Cfg ShortcutAConfig }

func init() { register("shortcut_a", NewShortcutA) }

// NewShortcutA returns an option-A shortcut.
func NewShortcutA(c ShortcutAConfig) (Layer, error) {
	if c.Stride == 0 {
		c.Stride = 1
	}
	if c.In <= 0 || c.Out <= 0 || (c.Map == nil && c.Out < c.In) || c.Stride <= 0 {
		return nil, fmt.Errorf("shortcut_a: invalid configuration %+v", c)
	}
	if c.Map != nil {
		if len(c.Map) != c.In {
			return nil, fmt.Errorf("shortcut_a: map has %d entries for %d input channels", len(c.Map), c.In)
		}
		seen := make([]bool, c.Out)
		for i, o := range c.Map {
			if o == -1 {
				continue
			}
			if o < 0 || o >= c.Out || seen[o] {
				return nil, fmt.Errorf("shortcut_a: map[%d] = %d is outside [0, %d) or repeated", i, o, c.Out)
			}
			seen[o] = true
		}
		c.Map = append([]int(nil), c.Map...)
	}
	return &ShortcutA{Cfg: c}, nil
}

// Target is the output channel input channel c lands on (-1: none).
func (l *ShortcutA) Target(c int) int {
	if l.Cfg.Map != nil {
		return l.Cfg.Map[c]
	}
	return l.Front() + c
}

// Kind implements Layer.
func (*ShortcutA) Kind() string { return "shortcut_a" }

// Config implements Layer.
func (l *ShortcutA) Config() any { return l.Cfg }

// Params implements Layer.
func (*ShortcutA) Params() []*Param { return nil }

// MACs implements Layer.
func (*ShortcutA) MACs([][]int) int64 { return 0 }

// Front is the number of zero channels before the copied ones (without a Map).
func (l *ShortcutA) Front() int { return (l.Cfg.Out - l.Cfg.In) / 2 }

// OutShape implements Layer.
func (l *ShortcutA) OutShape(in [][]int) ([]int, error) {
	c, h, w, err := chwInput("shortcut_a", in)
	if err != nil {
		return nil, err
	}
	if c != l.Cfg.In {
		return nil, fmt.Errorf("shortcut_a expects %d channels, got %d", l.Cfg.In, c)
	}
	s := l.Cfg.Stride
	return []int{l.Cfg.Out, (h + s - 1) / s, (w + s - 1) / s}, nil
}

// Forward implements Layer: out[:, Target(c), i, j] = x[:, c, s*i, s*j].
func (l *ShortcutA) Forward(_ *Context, in []*tensor.Tensor, out *tensor.Tensor) {
	x := in[0]
	n, h, w := x.Shape[0], x.Shape[2], x.Shape[3]
	oh, ow := out.Shape[2], out.Shape[3]
	s := l.Cfg.Stride
	out.Zero()
	for i := 0; i < n; i++ {
		for c := 0; c < l.Cfg.In; c++ {
			if l.Target(c) < 0 {
				continue
			}
			src := x.Data[(i*l.Cfg.In+c)*h*w:]
			dst := out.Data[(i*l.Cfg.Out+l.Target(c))*oh*ow:]
			for y := 0; y < oh; y++ {
				for xx := 0; xx < ow; xx++ {
					dst[y*ow+xx] = src[y*s*w+xx*s]
				}
			}
		}
	}
}

// Backward implements Layer.
func (l *ShortcutA) Backward(_ *Context, in []*tensor.Tensor, out, dout *tensor.Tensor, din []*tensor.Tensor) {
	if din[0] == nil {
		return
	}
	x := in[0]
	n, h, w := x.Shape[0], x.Shape[2], x.Shape[3]
	oh, ow := out.Shape[2], out.Shape[3]
	s := l.Cfg.Stride
	for i := 0; i < n; i++ {
		for c := 0; c < l.Cfg.In; c++ {
			if l.Target(c) < 0 {
				continue
			}
			dx := din[0].Data[(i*l.Cfg.In+c)*h*w:]
			g := dout.Data[(i*l.Cfg.Out+l.Target(c))*oh*ow:]
			for y := 0; y < oh; y++ {
				for xx := 0; xx < ow; xx++ {
					dx[y*s*w+xx*s] += g[y*ow+xx]
				}
			}
		}
	}
}
