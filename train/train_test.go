package train

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/evoprune/evoprune/data"
	"github.com/evoprune/evoprune/models"
	"github.com/evoprune/evoprune/nn"
)

// blobs is a synthetic 1x8x8 dataset whose class is which quadrant is bright:
// learnable in a few epochs by a small network.
func blobs(n int, seed uint64) *data.Dataset {
	rng := rand.New(rand.NewPCG(seed, 1))
	d := &data.Dataset{Name: "blobs", N: n, C: 1, H: 8, W: 8, Classes: 4,
		Images: make([]uint8, n*64), Labels: make([]int32, n)}
	for i := 0; i < n; i++ {
		c := rng.IntN(4)
		d.Labels[i] = int32(c)
		for y := 0; y < 8; y++ {
			for x := 0; x < 8; x++ {
				v := rng.IntN(80)
				if (y/4)*2+x/4 == c {
					v += 120
				}
				d.Images[i*64+y*8+x] = uint8(v)
			}
		}
	}
	return d
}

func tinyNet(t *testing.T) *nn.Graph {
	g := nn.NewGraph("tiny", 1, 8, 8)
	conv, _ := nn.NewConv2d(nn.ConvConfig{InC: 1, OutC: 4, Kernel: 3, Pad: 1})
	bn, _ := nn.NewBatchNorm(nn.BatchNormConfig{C: 4})
	pool, _ := nn.NewMaxPool2d(nn.PoolConfig{Kernel: 2})
	fc, _ := nn.NewLinear(nn.LinearConfig{In: 64, Out: 4, Bias: true})
	x := g.Add("conv", conv, g.Input())
	x = g.Add("bn", bn, x)
	x = g.Add("relu", &nn.ReLU{}, x)
	x = g.Add("pool", pool, x)
	x = g.Add("flatten", &nn.Flatten{}, x)
	g.Add("fc", fc, x)
	if g.Err() != nil {
		t.Fatal(g.Err())
	}
	models.Init(g, 1)
	return g
}

func TestFitLearnsAndIsDeterministic(t *testing.T) {
	tr, val := blobs(512, 1), blobs(128, 2)
	cfg := Config{Epochs: 3, Batch: 32, Optimizer: "sgd", LR: 0.05, Momentum: 0.9, Seed: 5}
	g := tinyNet(t)
	res, err := Fit(g, tr, val, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.BestVal < 0.9 {
		t.Fatalf("validation accuracy %.3f after 3 epochs", res.BestVal)
	}
	if _, acc := Evaluate(g, val, 100); acc != res.BestVal {
		t.Fatalf("model does not hold the best epoch's weights: %.4f vs %.4f", acc, res.BestVal)
	}
	h := tinyNet(t)
	if _, err := Fit(h, tr, val, cfg); err != nil {
		t.Fatal(err)
	}
	pg, ph := g.Params(), h.Params()
	for i := range pg {
		for j := range pg[i].Value.Data {
			if pg[i].Value.Data[j] != ph[i].Value.Data[j] {
				t.Fatalf("same seed, different weights at %s[%d]", pg[i].Name, j)
			}
		}
	}
}

func TestMaxSteps(t *testing.T) {
	res, err := Fit(tinyNet(t), blobs(256, 1), nil, Config{MaxSteps: 5, Batch: 16, LR: 0.01, Optimizer: "adam"})
	if err != nil || res.Steps != 5 {
		t.Fatalf("steps %d err %v", res.Steps, err)
	}
}

func TestDivergenceGuard(t *testing.T) {
	_, err := Fit(tinyNet(t), blobs(256, 1), nil, Config{Epochs: 2, Batch: 16, LR: 1e30, Optimizer: "sgd"})
	var d *DivergedError
	if !errors.As(err, &d) {
		t.Fatalf("huge learning rate not stopped: %v", err)
	}
	_, err = Fit(tinyNet(t), blobs(256, 1), nil, Config{Epochs: 1, Batch: 16, LR: 0.01, MaxGradNorm: 1e-9})
	if !errors.As(err, &d) {
		t.Fatalf("gradient norm limit not enforced: %v", err)
	}
}

func TestSchedules(t *testing.T) {
	ms, err := ParseSchedule("multistep:2,4:0.5", 6)
	if err != nil {
		t.Fatal(err)
	}
	for tt, want := range map[float64]float64{0: 1, 1.9: 1, 2: 0.5, 3.5: 0.5, 4: 0.25, 5.9: 0.25} {
		if got := ms.LR(1, tt, 6); got != want {
			t.Errorf("multistep at %g: %g want %g", tt, got, want)
		}
	}
	frac, _ := ParseSchedule("multistep-frac:0.5,0.75", 100)
	if frac.(MultiStep).Milestones[1] != 75 {
		t.Errorf("fractional milestones %v", frac)
	}
	cos, _ := ParseSchedule("cosine", 10)
	if got := cos.LR(2, 5, 10); math.Abs(got-1) > 1e-12 {
		t.Errorf("cosine midpoint %g want 1", got)
	}
	if got := cos.LR(2, 10, 10); math.Abs(got) > 1e-12 {
		t.Errorf("cosine end %g want 0", got)
	}
	for _, bad := range []string{"nope", "multistep:", "multistep:a", "cosine:-1", "multistep:5:0"} {
		if _, err := ParseSchedule(bad, 10); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// A run killed after an epoch and resumed from its state file ends with
// exactly the weights and history of an uninterrupted run.
func TestResumeMatchesUninterrupted(t *testing.T) {
	tr, val := blobs(256, 1), blobs(64, 2)
	base := Config{Epochs: 3, Batch: 32, Optimizer: "sgd", LR: 0.05, Momentum: 0.9, Seed: 5}
	whole := tinyNet(t)
	want, err := Fit(whole, tr, val, base)
	if err != nil {
		t.Fatal(err)
	}
	for _, opt := range []string{"sgd", "adam"} {
		cfg := base
		cfg.Optimizer = opt
		if opt == "adam" {
			cfg.LR = 0.01
			whole = tinyNet(t)
			if want, err = Fit(whole, tr, val, cfg); err != nil {
				t.Fatal(err)
			}
		}
		cfg.StatePath = filepath.Join(t.TempDir(), "state.safetensors")
		cfg.Resume = true
		crashed := cfg
		crashed.crashAfter = 2
		if _, err := Fit(tinyNet(t), tr, val, crashed); err != errCrashed {
			t.Fatalf("%s: crash not simulated: %v", opt, err)
		}
		resumed := tinyNet(t) // fresh weights: everything must come from the state file
		got, err := Fit(resumed, tr, val, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.History) != 3 || got.BestEpoch != want.BestEpoch || got.BestVal != want.BestVal {
			t.Fatalf("%s: history %+v, want %+v", opt, got, want)
		}
		pw, pr := whole.Params(), resumed.Params()
		for i := range pw {
			for j := range pw[i].Value.Data {
				if pw[i].Value.Data[j] != pr[i].Value.Data[j] {
					t.Fatalf("%s: resumed weights differ at %s[%d]", opt, pw[i].Name, j)
				}
			}
		}
		if _, err := os.Stat(cfg.StatePath); !os.IsNotExist(err) {
			t.Fatalf("%s: state file left after a finished run", opt)
		}
	}
}
