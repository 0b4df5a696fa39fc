package prune

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/evoprune/evoprune/data"
	"github.com/evoprune/evoprune/models"
	"github.com/evoprune/evoprune/nn"
	"github.com/evoprune/evoprune/pfunc"
)

// synthetic is a small labelled image set shaped like the model's input.
func synthetic(g *nn.Graph, n, classes int, seed uint64) *data.Dataset {
	rng := rand.New(rand.NewPCG(seed, 3))
	s := g.Input().Shape
	d := &data.Dataset{Name: "synthetic", N: n, C: s[0], H: s[1], W: s[2], Classes: classes,
		Images: make([]uint8, n*s[0]*s[1]*s[2]), Labels: make([]int32, n)}
	for i := range d.Images {
		d.Images[i] = uint8(rng.IntN(256))
	}
	for i := range d.Labels {
		d.Labels[i] = int32(i % classes)
	}
	return d
}

func mustSchedule(t *testing.T, s string, steps int) *Schedule {
	t.Helper()
	sc, err := ParseSchedule(s, steps)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func mustCriterion(t *testing.T, s string) Criterion {
	t.Helper()
	c, err := ParseCriterion(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func widthsOf(g *nn.Graph) map[string]int {
	gs, _ := Groups(g, Options{})
	w := map[string]int{}
	for _, grp := range gs {
		w[grp.Name] = grp.Channels
	}
	return w
}

// TestLeNetPresetByHand checks the reference's LeNet-5 schedule against a
// hand count: 20-50-500 becomes 5-11-40, so
//
//	params: conv1 5*1*25+5 = 130, conv2 11*5*25+11 = 1386,
//	        fc1 40*(11*16)+40 = 7080, fc2 10*40+10 = 410; total 9006
//	MACs:   conv1 5*25*24*24 = 72000, conv2 11*5*25*8*8 = 88000,
//	        fc1 176*40 = 7040, fc2 400; total 167440
//
// against 431080 params and 2293000 MACs before: 2.089 % of the params
// (2.077 % of the weights alone, the reference's 2.08 %).
func TestLeNetPresetByHand(t *testing.T) {
	g := randomModel(t, "lenet5", models.Options{}, 1)
	d := synthetic(g, 40, 10, 1)
	out, rep, err := Run(g, d, nil, Config{Criterion: mustCriterion(t, "random"), Schedule: mustSchedule(t, "preset:lenet5", 0), Sample: Sample{Size: 20}})
	if err != nil {
		t.Fatal(err)
	}
	w := widthsOf(out)
	if w["conv1"] != 5 || w["conv2"] != 11 || w["fc1"] != 40 {
		t.Fatalf("widths %v, want conv1 5, conv2 11, fc1 40", w)
	}
	c := rep.Comparison
	if c.Before.Params != 431080 || c.Before.MACs != 2293000 || c.After.Params != 9006 || c.After.MACs != 167440 {
		t.Fatalf("accounting %+v / %+v, want 431080 -> 9006 params, 2293000 -> 167440 MACs", c.Before, c.After)
	}
	if len(rep.Steps) != 3 || rep.Steps[1].Widths[0].Before != 10 || rep.Steps[1].Widths[0].After != 5 {
		t.Fatalf("steps %+v", rep.Steps)
	}
}

// TestHalvedMACsByHand prunes half of every group (uniform:0.5, one step)
// of VGG-16 and ResNet-20 and checks the MACs against a count from the
// architectures' definitions, independent of the graph code: a 3x3 conv
// with padding 1 costs H*W*9*Cin*Cout, a linear layer In*Out, BatchNorm,
// pooling and the option-A shortcuts nothing.
//
//	VGG-16: widths 64,64,M,128,128,M,256x3,M,512x3,M,512x3,M halve, so do
//	        fc1 (512 -> 256); input 32x32 -> 78,809,600 MACs
//	ResNet-20: the stem keeps 16; each block's conv1 reads half the stream
//	        and writes half its width, conv2 writes the full stream;
//	        fc 64*10 -> 15,778,432 MACs
func TestHalvedMACsByHand(t *testing.T) {
	vgg := func() int64 {
		h, cin, m := int64(32), int64(3), int64(0)
		for _, c := range []int64{64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0} {
			if c == 0 {
				h /= 2
				continue
			}
			m += h * h * 9 * cin * (c / 2)
			cin = c / 2
		}
		return m + cin*256 + 256*10
	}
	resnet20 := func() int64 {
		m := int64(32 * 32 * 9 * 3 * 16)
		cin := int64(16)
		for _, st := range []struct{ c, h int64 }{{16, 32}, {32, 16}, {64, 8}} {
			for b := 0; b < 3; b++ {
				m += st.h*st.h*9*(cin-cin/2)*(st.c/2) + st.h*st.h*9*(st.c/2)*st.c
				cin = st.c
			}
		}
		return m + 64*10
	}
	for _, tc := range []struct {
		model string
		want  int64
	}{{"vgg16", vgg()}, {"resnet20", resnet20()}} {
		g := randomModel(t, tc.model, models.Options{}, 3)
		d := synthetic(g, 20, 10, 2)
		_, rep, err := Run(g, d, nil, Config{Criterion: mustCriterion(t, "l1"), Schedule: mustSchedule(t, "uniform:0.5", 1), Sample: Sample{Size: 10}})
		if err != nil {
			t.Fatalf("%s: %v", tc.model, err)
		}
		if got := rep.Comparison.After.MACs; got != tc.want {
			t.Errorf("%s uniform:0.5 leaves %d MACs, the hand count is %d", tc.model, got, tc.want)
		}
	}
}

func TestPresetReductions(t *testing.T) {
	cases := []struct {
		model    string
		o        models.Options
		schedule string
		macsKept float64 // the reference's figure
		tol      float64
	}{
		// VGG-16, two steps of the reference's counts: about -63 % MACs.
		{"vgg16", models.Options{}, "preset:vgg16", 0.37, 0.015},
		// ResNet-56, 40 % of block-internal and block-input channels: -49.4 %.
		{"resnet56", models.Options{}, "preset:resnet56", 0.506, 0.01},
	}
	for _, tc := range cases {
		g, err := models.Build(tc.model, tc.o)
		if err != nil {
			t.Fatal(err)
		}
		d := synthetic(g, 20, 10, 2)
		_, rep, err := Run(g, d, nil, Config{Criterion: mustCriterion(t, "l1"), Schedule: mustSchedule(t, tc.schedule, 0), Sample: Sample{Size: 10}})
		if err != nil {
			t.Fatalf("%s: %v", tc.model, err)
		}
		if k := rep.Comparison.MACsKept; math.Abs(k-tc.macsKept) > tc.tol {
			t.Errorf("%s %s keeps %.4f of the MACs, want %.3f +- %.3f", tc.model, tc.schedule, k, tc.macsKept, tc.tol)
		}
		t.Logf("%s %s: MACs kept %.4f, params kept %.4f", tc.model, tc.schedule, rep.Comparison.MACsKept, rep.Comparison.ParamsKept)
	}
}

func TestGlobalTarget(t *testing.T) {
	g := randomModel(t, "resnet20", models.Options{}, 4)
	d := synthetic(g, 20, 10, 4)
	for _, s := range []string{"macs:0.5", "params:0.3"} {
		sc := mustSchedule(t, s, 2)
		_, rep, err := Run(g, d, nil, Config{Criterion: mustCriterion(t, "l2"), Schedule: sc, Sample: Sample{Size: 10}})
		if err != nil {
			t.Fatal(err)
		}
		kept := rep.Comparison.MACsKept
		if sc.Kind == "params" {
			kept = rep.Comparison.ParamsKept
		}
		// Within a few channels of the target, never above it.
		if kept > 1-sc.Ratio || kept < 1-sc.Ratio-0.02 {
			t.Errorf("%s keeps %.4f", s, kept)
		}
		if len(rep.Steps) != 2 {
			t.Errorf("%s ran %d steps, want 2", s, len(rep.Steps))
		}
	}
}

// removedBy prunes lenet5's conv2 by 25 channels with a criterion and
// returns which channels went.
func removedBy(t *testing.T, g *nn.Graph, d *data.Dataset, metric string, seed uint64) []int {
	t.Helper()
	sc := &Schedule{Kind: "preset", Name: "test", steps: 1, counts: []map[string]int{{"conv2": 25}}, ref: map[string]int{"conv2": 50}}
	_, rep, err := Run(g, d, nil, Config{Criterion: mustCriterion(t, metric), Schedule: sc, Sample: Sample{Size: 200, Seed: seed}, Seed: seed})
	if err != nil {
		t.Fatalf("%s: %v", metric, err)
	}
	return rep.Steps[0].Removed["conv2"]
}

// TestCriteriaDecide prunes the shipped LeNet-5 on real MNIST images with
// each criterion: none may remove a fixed order (an ignored score would),
// different criteria must decide differently, and random must follow its
// seed. Only l1 and fpgm may agree (both rank filters by size).
func TestCriteriaDecide(t *testing.T) {
	g, _, err := models.Load("../pretrained/lenet5-mnist.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	d, err := data.Load("mnist", "test", data.Options{DataDir: "../data"})
	if err != nil {
		t.Fatal(err)
	}
	first := make([]int, 25)
	for i := range first {
		first[i] = i
	}
	seen := map[string]string{}
	for _, m := range []string{"random", "l1", "fpgm", "fdr", "eq3", "apoz", "hrank", "taylor"} {
		rm := removedBy(t, g, d, m, 1)
		if len(rm) != 25 {
			t.Fatalf("%s removed %d channels", m, len(rm))
		}
		key := fmtInts(rm)
		if key == fmtInts(first) {
			t.Errorf("%s removed channels 0..24: its scores were ignored", m)
		}
		if other, dup := seen[key]; dup && !(m == "fpgm" && other == "l1") {
			t.Errorf("%s removed the same channels as %s", m, other)
		}
		seen[key] = m
	}
	if a, b := fmtInts(removedBy(t, g, d, "random", 1)), fmtInts(removedBy(t, g, d, "random", 2)); a == b {
		t.Error("random with seeds 1 and 2 removed the same channels")
	}
	if a, b := fmtInts(removedBy(t, g, d, "random", 3)), fmtInts(removedBy(t, g, d, "random", 3)); a != b {
		t.Error("random with the same seed removed different channels")
	}
}

func fmtInts(v []int) string { return fmt.Sprint(v) }

// TestEveryCriterionOnEveryArchitecture runs each criterion through a whole
// pruning step of lenet5, vgg16 and resnet56. bn_scale needs a BatchNorm:
// on lenet5 (none at all) it is an error; vgg16's fc1 and the ResNet block
// inputs (the stream has no single BatchNorm) it leaves unpruned and says so.
func TestEveryCriterionOnEveryArchitecture(t *testing.T) {
	metrics := []string{"random", "bn_scale", "taylor", "apoz", "hrank", "l1", "l2", "fpgm", "abs_snr", "fdr", "sym_div", "t_stat", "eq3", "ga1", "ga3", "ga4"}
	for _, arch := range []struct {
		name string
		o    models.Options
	}{{"lenet5", models.Options{}}, {"vgg16", models.Options{Width: 0.125}}, {"resnet56", models.Options{}}} {
		g := randomModel(t, arch.name, arch.o, 6)
		d := synthetic(g, 20, 10, 6)
		for _, m := range metrics {
			_, rep, err := Run(g, d, nil, Config{Criterion: mustCriterion(t, m), Schedule: mustSchedule(t, "uniform:0.3", 0), Sample: Sample{Size: 10}})
			if m == "bn_scale" && arch.name == "lenet5" {
				if err == nil || !strings.Contains(err.Error(), "needs a BatchNorm") {
					t.Errorf("bn_scale on lenet5: error %v, want one saying it needs a BatchNorm", err)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s on %s: %v", m, arch.name, err)
				continue
			}
			skipped := rep.Steps[0].Skipped
			switch {
			case m != "bn_scale" && len(skipped) > 0:
				t.Errorf("%s on %s skipped %v", m, arch.name, skipped)
			case m == "bn_scale" && arch.name == "vgg16" && (len(skipped) != 1 || skipped["fc1"] == ""):
				t.Errorf("bn_scale on vgg16 skipped %v, want fc1 alone", skipped)
			case m == "bn_scale" && arch.name == "resnet56" && (len(skipped) != 27 || skipped["layer1.0.conv1:in"] == ""):
				t.Errorf("bn_scale on resnet56 skipped %d groups, want the 27 block inputs", len(skipped))
			}
		}
	}
}

func TestNonFiniteScoreNamesLayerAndChannel(t *testing.T) {
	g := randomModel(t, "lenet5", models.Options{}, 7)
	d := synthetic(g, 40, 10, 7)
	// 0/0 for every channel: g_mean(P) - g_mean(P) is 0.
	crit := mustCriterion(t, "div(sub(g_mean(P), g_mean(P)), sub(g_mean(Q), g_mean(Q)))")
	_, _, err := Run(g, d, nil, Config{Criterion: crit, Schedule: mustSchedule(t, "uniform:0.5", 0), Sample: Sample{Size: 20}})
	var se *ScoreError
	if !errors.As(err, &se) || se.Group != "conv1" || !strings.Contains(err.Error(), "channel 0") || !errors.Is(err, pfunc.ErrNonFinite) {
		t.Fatalf("error %v, want a ScoreError on conv1 naming channel 0 and wrapping ErrNonFinite", err)
	}
}

func TestBadInput(t *testing.T) {
	for _, s := range []string{"uniform:0", "uniform:1", "uniform:1.5", "uniform:-0.1", "uniform:x", "macs:2", "preset:alexnet", "foo:0.5", "uniform"} {
		if _, err := ParseSchedule(s, 0); err == nil {
			t.Errorf("ParseSchedule(%q) accepted", s)
		}
	}
	if _, err := ParseSchedule("preset:lenet5", 2); err == nil {
		t.Error("preset:lenet5 with 2 steps accepted")
	}
	for _, m := range []string{"", "nosuchmetric", "div(P", "add(P)"} {
		if _, err := ParseCriterion(m); err == nil {
			t.Errorf("ParseCriterion(%q) accepted", m)
		}
	}
	g := randomModel(t, "lenet5", models.Options{}, 8)
	groups, _ := Groups(g, Options{})
	sc := &Schedule{Kind: "preset", Name: "big", steps: 1, counts: []map[string]int{{"conv1": 20}}, ref: map[string]int{"conv1": 20}}
	if _, err := sc.Counts(0, map[string]int{"conv1": 20}, groups); err == nil || !strings.Contains(err.Error(), "20 of the 20 channels of conv1") {
		t.Errorf("removing all of conv1: error %v", err)
	}
	// VGG's preset on a LeNet names the missing layer.
	vsc := mustSchedule(t, "preset:vgg16", 0)
	if _, err := vsc.Counts(0, map[string]int{}, groups); err == nil || !strings.Contains(err.Error(), "conv3") && !strings.Contains(err.Error(), "bn") && !strings.Contains(err.Error(), "does not have") {
		t.Errorf("vgg16 preset on lenet5: error %v", err)
	}
}

func TestSampleIsBalancedAndSeeded(t *testing.T) {
	g, _ := models.Build("lenet5", models.Options{})
	d := synthetic(g, 100, 10, 9)
	for i := 0; i < 30; i++ { // make class 0 rare: only 5 images
		if d.Labels[i] == 0 && i >= 50 {
			d.Labels[i] = 1
		}
	}
	idx, err := Sample{Size: 40, Seed: 1}.Indices(d)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[int32]int{}
	for _, i := range idx {
		counts[d.Labels[i]]++
	}
	for c := int32(0); c < 10; c++ {
		if counts[c] != 4 {
			t.Errorf("class %d has %d of 40 sample images, want 4", c, counts[c])
		}
	}
	again, _ := Sample{Size: 40, Seed: 1}.Indices(d)
	other, _ := Sample{Size: 40, Seed: 2}.Indices(d)
	if fmtInts(idx) != fmtInts(again) || fmtInts(idx) == fmtInts(other) {
		t.Error("the sample is not a function of its seed")
	}
}

func TestNativeCriteriaByHand(t *testing.T) {
	grp := &Group{Name: "x", Tap: &nn.Node{Shape: []int{2, 2, 2}}}
	// Two channels of 2x2 maps, two samples.
	// channel 0: [[1,2],[2,4]] (rank 1) and [[1,0],[0,1]] (rank 2);
	// channel 1: [[0,-1],[0,0]] (rank 1) and zeros (rank 0).
	feat := []float32{1, 2, 2, 4, 0, -1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0}
	grads := []float32{1, 1, 1, 1, 2, 2, 2, 2, -1, 0, 0, 0, 1, 1, 1, 1}
	c := &Context{Group: grp, Features: feat, Grads: grads, N: 2, C: 2, D: 4}
	check := func(name string, want []float64) {
		t.Helper()
		got, err := mustCriterion(t, name).Score(c)
		if err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if math.Abs(got[i]-want[i]) > 1e-12 {
				t.Fatalf("%s = %v, want %v", name, got, want)
			}
		}
	}
	check("hrank", []float64{1.5, 0.5})
	check("apoz", []float64{6.0 / 8, 0})
	// taylor: channel 0: |1+2+2+4| = 9 and |-1| = 1 -> 5; channel 1: |-2| = 2 and 0 -> 1.
	check("taylor", []float64{5, 1})
}

// Coupled residual pruning runs end to end with every reduction, shrinking
// each stream by the schedule's ratio.
func TestResidualStreams(t *testing.T) {
	g := randomModel(t, "resnet20", models.Options{}, 12)
	d := synthetic(g, 20, 10, 12)
	for _, red := range []string{"mean", "sum"} {
		out, _, err := Run(g, d, nil, Config{Criterion: mustCriterion(t, "fdr"), Schedule: mustSchedule(t, "uniform:0.25", 0),
			Sample: Sample{Size: 20}, Options: Options{Residual: true, Reduce: red}})
		if err != nil {
			t.Fatal(err)
		}
		w := map[string]int{}
		gs, _ := Groups(out, Options{Residual: true})
		for _, grp := range gs {
			w[grp.Name] = grp.Channels
		}
		if w["stream:layer1.0.add"] != 12 || w["stream:layer2.0.add"] != 24 || w["stream:layer3.0.add"] != 48 || w["layer1.0.conv1"] != 12 {
			t.Errorf("%s: widths %v", red, w)
		}
	}
	if _, _, err := Run(g, d, nil, Config{Criterion: mustCriterion(t, "l1"), Schedule: mustSchedule(t, "uniform:0.25", 0),
		Options: Options{Residual: true, Reduce: "max"}}); err == nil {
		t.Error("reduction max accepted")
	}
}
