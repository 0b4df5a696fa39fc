package stats

import (
	"math"
	"testing"
)

func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol || math.IsNaN(got) != math.IsNaN(want) {
		t.Errorf("%s = %.12g, want %.12g", what, got, want)
	}
}

// Student-t 0.975 quantiles from printed tables.
func TestTQuantile(t *testing.T) {
	for df, want := range map[int]float64{1: 12.706204736174707, 2: 4.302652729911275, 4: 2.7764451051977987, 30: 2.0422724563012373} {
		near(t, "t quantile", TQuantile975(df), want, 1e-9)
	}
}

func TestSummariseByHand(t *testing.T) {
	// mean 0.93; squared deviations 0.0009 + 0.0001 + 0.0016 = 0.0026; var 0.0013.
	s := Summarise([]float64{0.90, 0.92, 0.97})
	near(t, "mean", s.Mean, 0.93, 1e-12)
	near(t, "std", s.Std, math.Sqrt(0.0013), 1e-12)
	hw := 4.302652729911275 * math.Sqrt(0.0013/3)
	near(t, "low", s.Low, 0.93-hw, 1e-9)
	near(t, "high", s.High, 0.93+hw, 1e-9)
	one := Summarise([]float64{0.5})
	if one.Mean != 0.5 || !math.IsNaN(one.Std) || !math.IsNaN(one.Low) {
		t.Errorf("one value: %+v, want mean 0.5 and NaN spread", one)
	}
	if e := Summarise(nil); e.N != 0 || !math.IsNaN(e.Mean) {
		t.Errorf("no values: %+v", e)
	}
}

func TestPairedTByHand(t *testing.T) {
	// d = 0.01, 0.03, 0.02: mean 0.02, std 0.01, t = 0.02 / (0.01/sqrt 3) = 2 sqrt 3.
	// With 2 degrees of freedom the t CDF is 1/2 + t / (2 sqrt(2 + t^2)), so the
	// two-sided p is 1 - t / sqrt(2 + t^2) = 1 - sqrt(12/14).
	p := PairedT([]float64{0.91, 0.93, 0.95}, []float64{0.90, 0.90, 0.93})
	near(t, "mean diff", p.MeanDiff, 0.02, 1e-12)
	near(t, "t", p.T, 2*math.Sqrt(3), 1e-9)
	near(t, "p", p.P, 1-math.Sqrt(12.0/14.0), 1e-9)
	// Swapping the sides flips the sign, not the p-value.
	q := PairedT([]float64{0.90, 0.90, 0.93}, []float64{0.91, 0.93, 0.95})
	near(t, "swapped t", q.T, -2*math.Sqrt(3), 1e-9)
	near(t, "swapped p", q.P, p.P, 1e-12)
	if z := PairedT([]float64{0.5, 0.6}, []float64{0.5, 0.6}); z.P != 1 || z.T != 0 {
		t.Errorf("identical: %+v, want t 0 and p 1", z)
	}
	if c := PairedT([]float64{0.6, 0.7}, []float64{0.5, 0.6}); c.P != 0 {
		t.Errorf("constant difference: %+v, want p 0", c)
	}
	if o := PairedT([]float64{0.6}, []float64{0.5}); !math.IsNaN(o.P) {
		t.Errorf("one pair: %+v, want NaN p", o)
	}
}
