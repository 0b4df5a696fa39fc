package prune

import (
	"math"
	"sync"
	"testing"

	"github.com/evoprune/evoprune/data"
	"github.com/evoprune/evoprune/models"
	"github.com/evoprune/evoprune/nn"
	"github.com/evoprune/evoprune/tensor"
)

type mapCache struct {
	mu sync.Mutex
	m  map[string]*nn.Graph
	r  map[string]StepReport
}

func (c *mapCache) Lookup(key string) (*nn.Graph, *StepReport, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g, ok := c.m[key]
	if !ok {
		return nil, nil, false
	}
	r := c.r[key]
	return g.Clone(), &r, true
}

func (c *mapCache) Store(key string, g *nn.Graph, sr *StepReport) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[key], c.r[key] = g.Clone(), *sr
}

// Two formulas that remove the same channels share the fine-tuning: the
// second run finds every step in the cache and ends with the same model.
func TestCacheSharesEqualDecisions(t *testing.T) {
	g, _, err := models.Load("../pretrained/lenet5-mnist.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	d, err := data.Load("mnist", "test", data.Options{DataDir: "../data"})
	if err != nil {
		t.Fatal(err)
	}
	tr, val := d.Subset(seqRange(0, 2000)), d.Subset(seqRange(2000, 2500))
	cache := &mapCache{m: map[string]*nn.Graph{}, r: map[string]StepReport{}}
	run := func(metric string) (*nn.Graph, *Report) {
		cfg := Config{Criterion: mustCriterion(t, metric), Schedule: mustSchedule(t, "preset:lenet5", 0),
			Sample: Sample{Size: 100}, FineTune: FineTuneRecipe("lenet5", 0, 5, 1), Cache: cache, CacheKey: "lenet5-test"}
		out, rep, err := Run(g, tr, val, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return out, rep
	}
	a, ra := run("l1")
	b, rb := run("sum(abs(WI))")
	for i, s := range rb.Steps {
		if !s.Cached || ra.Steps[i].Cached {
			t.Fatalf("step %d: cached %v then %v, want false then true", i+1, ra.Steps[i].Cached, s.Cached)
		}
	}
	if ra.Key != rb.Key || ra.Steps[2].ValAccTuned != rb.Steps[2].ValAccTuned {
		t.Fatal("equal decisions gave different keys or accuracies")
	}
	x := randomInput(a, 2, 1)
	if d := maxAbsDiff(forward(a, x), forward(b, x)); d != 0 {
		t.Fatalf("the cached model differs by %g", d)
	}
	_, rc := run("l2")
	if rc.Key == ra.Key {
		t.Fatal("l2 and l1 share a decision key")
	}
}

func seqRange(lo, hi int) []int {
	v := make([]int, hi-lo)
	for i := range v {
		v[i] = lo + i
	}
	return v
}

// After recalibration on one batch, a BatchNorm's running mean is the
// batch mean of its input, computed here independently from the conv
// output of an evaluation pass.
func TestRecalibrateBN(t *testing.T) {
	g := randomModel(t, "resnet20", models.Options{}, 11)
	d := synthetic(g, 64, 10, 11)
	if err := RecalibrateBN(g, d, 64, 1, 64); err != nil {
		t.Fatal(err)
	}
	idx, _ := Sample{Size: 64, Seed: 1, Unbalanced: true}.Indices(d)
	x := &tensor.Tensor{}
	data.Normalize(d, idx, x)
	g.Forward(&nn.Context{}, x)
	conv := g.Node("conv1").Output()
	bn := g.Node("bn1").Layer.(*nn.BatchNorm)
	n, c, hw := conv.Shape[0], conv.Shape[1], conv.Shape[2]*conv.Shape[3]
	for ch := 0; ch < c; ch++ {
		var s float64
		for i := 0; i < n; i++ {
			for _, v := range conv.Data[(i*c+ch)*hw : (i*c+ch+1)*hw] {
				s += float64(v)
			}
		}
		if want := s / float64(n*hw); math.Abs(float64(bn.RunningMean.Value.Data[ch])-want) > 1e-5*max(1, math.Abs(want)) {
			t.Fatalf("channel %d: running mean %g, batch mean %g", ch, bn.RunningMean.Value.Data[ch], want)
		}
	}
	if bn.Cfg.Momentum != 0.1 {
		t.Fatalf("momentum left at %g", bn.Cfg.Momentum)
	}
}
