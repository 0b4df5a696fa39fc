package prune

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/evoprune/evoprune/models"
	"github.com/evoprune/evoprune/nn"
	"github.com/evoprune/evoprune/tensor"
)

// randomModel builds a model with every parameter and BatchNorm statistic
// random, so that a channel mixed up by surgery cannot go unnoticed.
func randomModel(t *testing.T, name string, o models.Options, seed uint64) *nn.Graph {
	t.Helper()
	g, err := models.Build(name, o)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	for _, p := range g.Params() {
		for i := range p.Value.Data {
			switch {
			case strings.HasSuffix(p.Name, "running_var"):
				p.Value.Data[i] = float32(0.5 + rng.Float64())
			case strings.HasSuffix(p.Name, "running_mean"), strings.HasSuffix(p.Name, ".bias"):
				p.Value.Data[i] = float32(0.2 * rng.NormFloat64())
			case p.Value.Len() < 1000 && !strings.Contains(p.Name, "fc"):
				p.Value.Data[i] = float32(0.4 + 0.15*rng.NormFloat64()) // gammas: small enough that deep residual sums stay O(1)
			default:
				// keep the initialisation's scale
			}
		}
	}
	return g
}

func randomInput(g *nn.Graph, n int, seed uint64) *tensor.Tensor {
	rng := rand.New(rand.NewPCG(seed, 2))
	x := tensor.New(append([]int{n}, g.Input().Shape...)...)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	return x
}

func forward(g *nn.Graph, x *tensor.Tensor) []float32 {
	out := g.Forward(&nn.Context{}, x)
	return append([]float32(nil), out.Data...)
}

// mask zeroes, in g itself, what removing the channels would take away: the
// producers' filters and biases and the BatchNorm's scale and shift of
// removed output channels (so they output exact zeros), and the reading
// conv's weights of removed block-input channels. It is written against the
// group's members directly, independently of Apply.
func mask(g *nn.Graph, groups []*Group, plan Plan) {
	for name, keep := range plan {
		grp := Find(groups, name)
		kept := map[int]bool{}
		for _, c := range keep {
			kept[c] = true
		}
		for c := 0; c < grp.Channels; c++ {
			if kept[c] {
				continue
			}
			switch grp.Kind {
			case Output:
				switch l := grp.Layer.Layer.(type) {
				case *nn.Conv2d:
					per := l.Cfg.InC * l.Cfg.Kernel * l.Cfg.Kernel
					clear(l.Weight.Value.Data[c*per : (c+1)*per])
					if l.B != nil {
						l.B.Value.Data[c] = 0
					}
				case *nn.Linear:
					clear(l.Weight.Value.Data[c*l.Cfg.In : (c+1)*l.Cfg.In])
					if l.B != nil {
						l.B.Value.Data[c] = 0
					}
				}
				if grp.Norm != nil {
					bn := grp.Norm.Layer.(*nn.BatchNorm)
					bn.Gamma.Value.Data[c], bn.Beta.Value.Data[c] = 0, 0
				}
			case Stream:
				for _, m := range grp.Members {
					mask(g, []*Group{m}, Plan{m.Name: keep})
				}
			case Input:
				l := grp.Layer.Layer.(*nn.Conv2d)
				k2 := l.Cfg.Kernel * l.Cfg.Kernel
				for o := 0; o < l.Cfg.OutC; o++ {
					clear(l.Weight.Value.Data[(o*l.Cfg.InC+c)*k2 : (o*l.Cfg.InC+c+1)*k2])
				}
			}
		}
	}
}

// maskShortcuts makes the option-A shortcuts writing into pruned streams
// drop what they would copy into removed channels.
func maskShortcuts(g *nn.Graph, groups []*Group, plan Plan) {
	for _, grp := range groups {
		keep, ok := plan[grp.Name]
		if !ok || grp.Kind != Stream {
			continue
		}
		kept := map[int]bool{}
		for _, c := range keep {
			kept[c] = true
		}
		for _, sc := range grp.Shortcuts {
			l := sc.Layer.(*nn.ShortcutA)
			m := make([]int, l.Cfg.In)
			for c := range m {
				m[c] = l.Target(c)
				if !kept[m[c]] {
					m[c] = -1
				}
			}
			nl, err := nn.NewShortcutA(nn.ShortcutAConfig{In: l.Cfg.In, Out: l.Cfg.Out, Stride: l.Cfg.Stride, Map: m})
			if err != nil {
				panic(err)
			}
			sc.Layer = nl
		}
	}
}

func randomPlan(groups []*Group, rng *rand.Rand) Plan {
	plan := Plan{}
	for _, grp := range groups {
		var keep []int
		for c := 0; c < grp.Channels; c++ {
			if rng.Float64() < 0.6 {
				keep = append(keep, c)
			}
		}
		if len(keep) == 0 {
			keep = []int{rng.IntN(grp.Channels)}
		}
		plan[grp.Name] = keep
	}
	return plan
}

func maxAbsDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

// TestSurgeryEqualsMasking is the acceptance check of issue 5: removing a
// random subset of channels by surgery gives the outputs of the original
// with those channels masked, for LeNet-5, VGG-16 and ResNet-56, and again
// after a second round of pruning on the pruned model.
func TestSurgeryEqualsMasking(t *testing.T) {
	cases := []struct {
		name     string
		o        models.Options
		residual bool
	}{
		{"lenet5", models.Options{}, false},
		{"vgg16", models.Options{Width: 0.25}, false},
		{"resnet56", models.Options{}, false},
		{"resnet20", models.Options{Shortcut: "B"}, false},
		{"resnet20", models.Options{}, true},              // coupled residual streams, option A
		{"resnet20", models.Options{Shortcut: "B"}, true}, // and option B
	}
	for i, tc := range cases {
		t.Run(fmt.Sprintf("%s-%s-residual=%v", tc.name, tc.o.Shortcut, tc.residual), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i), 9))
			g := randomModel(t, tc.name, tc.o, uint64(i))
			x := randomInput(g, 3, uint64(i))
			for round := 0; round < 2; round++ {
				opt := Options{Residual: tc.residual}
				groups, _ := Groups(g, opt)
				if len(groups) == 0 {
					t.Fatal("no prunable groups")
				}
				plan := randomPlan(groups, rng)
				pruned, err := Apply(g, plan, opt)
				if err != nil {
					t.Fatal(err)
				}
				masked := g.Clone()
				mgroups, _ := Groups(masked, opt)
				mask(masked, mgroups, plan)
				maskShortcuts(masked, mgroups, plan)
				want := forward(masked, x)
				got := forward(pruned, x)
				t.Logf("round %d: max abs output %g, diff %g", round, maxAbs(want), maxAbsDiff(got, want))
				if d := maxAbsDiff(got, want); d > 1e-5 {
					t.Fatalf("round %d: pruned and masked outputs differ by %g", round, d)
				}
				if pruned.NumParams() >= g.NumParams() || pruned.MACs() >= g.MACs() {
					t.Fatalf("round %d: pruning did not shrink the model: params %d -> %d, MACs %d -> %d",
						round, g.NumParams(), pruned.NumParams(), g.MACs(), pruned.MACs())
				}
				// Masking must matter, or the comparison proves nothing.
				if d := maxAbsDiff(forward(g, x), want); d < 1e-4 {
					t.Fatalf("round %d: masking changed the output by only %g", round, d)
				}
				g = pruned
			}
		})
	}
}

func TestGroupsOfStandardModels(t *testing.T) {
	names := func(gs []*Group) string {
		var s []string
		for _, g := range gs {
			s = append(s, g.Name+"@"+g.Tap.Name)
		}
		return strings.Join(s, " ")
	}
	lenet, _ := models.Build("lenet5", models.Options{})
	gs, skipped := Groups(lenet, Options{})
	if got, want := names(gs), "conv1@pool1 conv2@pool2 fc1@relu3"; got != want {
		t.Errorf("lenet5 groups %q, want %q", got, want)
	}
	if skipped["fc2"] == "" {
		t.Error("fc2 (the output) should be unprunable")
	}
	if c := Find(gs, "conv2").Consumers; len(c) != 1 || c[0].Node.Name != "fc1" || c[0].Block != 16 {
		t.Errorf("conv2 consumers %+v, want fc1 with blocks of 16", c)
	}

	vgg, _ := models.Build("vgg16", models.Options{Width: 0.25})
	gs, _ = Groups(vgg, Options{})
	if len(gs) != 14 {
		t.Fatalf("vgg16 has %d groups, want 13 convs + fc1", len(gs))
	}
	if got := Find(gs, "conv1").Tap.Name; got != "bn1" {
		t.Errorf("vgg16 conv1 tap %s, want bn1", got)
	}
	if got := Find(gs, "conv2").Tap.Name; got != "pool1" {
		t.Errorf("vgg16 conv2 tap %s, want pool1", got)
	}
	if got := Find(gs, "fc1").Tap.Name; got != "relu_fc1" {
		t.Errorf("vgg16 fc1 tap %s, want relu_fc1", got)
	}

	r20, _ := models.Build("resnet20", models.Options{})
	gs, skipped = Groups(r20, Options{})
	if len(gs) != 18 {
		t.Fatalf("resnet20 has %d groups, want 9 block-internal + 9 block-input: %s", len(gs), names(gs))
	}
	if got := names(gs[:2]); got != "layer1.0.conv1:in@relu layer1.0.conv1@layer1.0.relu1" {
		t.Errorf("first resnet20 groups %q", got)
	}
	for _, n := range []string{"conv1", "layer1.0.conv2", "fc"} {
		if skipped[n] == "" {
			t.Errorf("%s should be unprunable (residual stream or output)", n)
		}
	}
	gs, _ = Groups(r20, Options{NoBlockInputs: true})
	if len(gs) != 9 {
		t.Errorf("resnet20 without block inputs has %d groups, want 9", len(gs))
	}
	gs, _ = Groups(r20, Options{Residual: true})
	var streams []string
	for _, grp := range gs {
		if grp.Kind == Stream {
			var ms []string
			for _, m := range grp.Members {
				ms = append(ms, m.Layer.Name+"@"+m.Tap.Name)
			}
			streams = append(streams, fmt.Sprintf("%s(%d): %s +%d shortcuts", grp.Name, grp.Channels, strings.Join(ms, " "), len(grp.Shortcuts)))
		}
	}
	want := []string{
		"stream:layer1.0.add(16): conv1@relu layer1.0.conv2@layer1.0.relu2 layer1.1.conv2@layer1.1.relu2 layer1.2.conv2@layer1.2.relu2 +0 shortcuts",
		"stream:layer2.0.add(32): layer2.0.conv2@layer2.0.relu2 layer2.1.conv2@layer2.1.relu2 layer2.2.conv2@layer2.2.relu2 +1 shortcuts",
		"stream:layer3.0.add(64): layer3.0.conv2@layer3.0.relu2 layer3.1.conv2@layer3.1.relu2 layer3.2.conv2@layer3.2.relu2 +1 shortcuts",
	}
	if len(gs) != 12 || strings.Join(streams, "\n") != strings.Join(want, "\n") {
		t.Errorf("resnet20 residual groups (%d):\n%s\nwant\n%s", len(gs), strings.Join(streams, "\n"), strings.Join(want, "\n"))
	}
}

func TestApplyErrors(t *testing.T) {
	g, _ := models.Build("lenet5", models.Options{})
	for _, tc := range []struct {
		plan Plan
		want string
	}{
		{Plan{"conv9": {0}}, "no prunable group"},
		{Plan{"fc2": {0}}, "no prunable group"},
		{Plan{"conv1": {}}, "cannot remove all"},
		{Plan{"conv1": {3, 1}}, "ascending"},
		{Plan{"conv1": {0, 20}}, "ascending indices in [0, 20)"},
	} {
		_, err := Apply(g, tc.plan, Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Apply(%v) error %v, want one containing %q", tc.plan, err, tc.want)
		}
	}
	groups, _ := Groups(g, Options{})
	if _, err := Removal(groups, map[string][]int{"conv1": {25}}); err == nil {
		t.Error("Removal accepted channel 25 of 20")
	}
}

func maxAbs(a []float32) float64 {
	m := 0.0
	for _, v := range a {
		m = max(m, math.Abs(float64(v)))
	}
	return m
}
