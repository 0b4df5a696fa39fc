package nn

import (
	"math"
	"testing"

	"github.com/evoprune/evoprune/tensor"
)

func oneParam(w, g float32) []NamedParam {
	p := &Param{Name: "w", Value: tensor.FromData([]float32{w}, 1), Grad: tensor.FromData([]float32{g}, 1)}
	return []NamedParam{{Name: "w", Param: p}}
}

// Golden values derived by hand from PyTorch's documented update rules.
func TestSGDGolden(t *testing.T) {
	ps := oneParam(1, 0.5)
	o := &SGD{Momentum: 0.9, WeightDecay: 0.1, Nesterov: false}
	// step 1: g = 0.5 + 0.1*1 = 0.6; buf = 0.6; w = 1 - 0.1*0.6 = 0.94
	o.Step(ps, 0.1)
	if d := math.Abs(float64(ps[0].Value.Data[0]) - 0.94); d > 1e-6 {
		t.Fatalf("step 1: w = %g, want 0.94", ps[0].Value.Data[0])
	}
	// step 2: g = 0.5 + 0.094 = 0.594; buf = 0.54 + 0.594 = 1.134; w = 0.94 - 0.1134 = 0.8266
	o.Step(ps, 0.1)
	if d := math.Abs(float64(ps[0].Value.Data[0]) - 0.8266); d > 1e-6 {
		t.Fatalf("step 2: w = %g, want 0.8266", ps[0].Value.Data[0])
	}
	ps = oneParam(1, 0.5)
	n := &SGD{Momentum: 0.9, Nesterov: true}
	// step 1: buf = 0.5; step = 0.5 + 0.45 = 0.95; w = 1 - 0.095
	n.Step(ps, 0.1)
	if d := math.Abs(float64(ps[0].Value.Data[0]) - 0.905); d > 1e-6 {
		t.Fatalf("nesterov: w = %g, want 0.905", ps[0].Value.Data[0])
	}
}

func TestAdamGolden(t *testing.T) {
	ps := oneParam(1, 0.5)
	o := NewAdam(0)
	// First step of Adam moves by lr*sign(g) (bias correction makes m/sqrt(v) = 1).
	o.Step(ps, 0.01)
	if d := math.Abs(float64(ps[0].Value.Data[0]) - 0.99); d > 1e-6 {
		t.Fatalf("adam step 1: w = %g, want 0.99", ps[0].Value.Data[0])
	}
	// Second step with g = 0.25: m = 0.9*0.05 + 0.025 = 0.07, mhat = 0.07/0.19;
	// v = 0.999*0.00025 + 0.001*0.0625 = 0.00031225, vhat = v/0.001999.
	ps[0].Grad.Data[0] = 0.25
	o.Step(ps, 0.01)
	mhat, vhat := 0.07/0.19, 0.00031225/(1-0.999*0.999)
	want := 0.99 - 0.01*mhat/(math.Sqrt(vhat)+1e-8)
	if d := math.Abs(float64(ps[0].Value.Data[0]) - want); d > 1e-6 {
		t.Fatalf("adam step 2: w = %g, want %g", ps[0].Value.Data[0], want)
	}
}

func TestGradNormGuards(t *testing.T) {
	ps := oneParam(1, 3)
	p2 := oneParam(1, 4)
	ps = append(ps, NamedParam{Name: "v", Param: p2[0].Param})
	if n, bad := GradNorm(ps); n != 5 || bad != "" {
		t.Fatalf("norm %g bad %q", n, bad)
	}
	ClipGradNorm(ps, 1)
	if n, _ := GradNorm(ps); math.Abs(n-1) > 1e-6 {
		t.Fatalf("clipped norm %g", n)
	}
	ps[1].Grad.Data[0] = float32(math.NaN())
	if _, bad := GradNorm(ps); bad != "v" {
		t.Fatalf("non-finite gradient not reported: %q", bad)
	}
}
