package vec

import (
	"math"
	"math/rand/v2"
	"testing"
)

// values returns n floats: mostly normal values, with zeros of both signs,
// NaNs of both signs, infinities and subnormals sprinkled in when special is set.
func values(rng *rand.Rand, n int, special bool) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
		if special && rng.IntN(6) == 0 {
			v[i] = []float32{0, float32(math.Copysign(0, -1)), float32(math.NaN()),
				float32(math.Inf(1)), float32(math.Inf(-1)), 1e-40, -1e-40,
				math.Float32frombits(0xffc00001)}[rng.IntN(8)] // a negative NaN too
		}
	}
	return v
}

// same compares bits, except that any two NaNs match: which operand's
// payload a NaN sum carries depends on the operand order the compiler
// picks for a commutative add.
func same(a, b []float32) bool {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) && !(a[i] != a[i] && b[i] != b[i]) {
			return false
		}
	}
	return len(a) == len(b)
}

func same64(a, b float64) bool {
	return math.Float64bits(a) == math.Float64bits(b) || (math.IsNaN(a) && math.IsNaN(b))
}

// TestKernelsMatchGo runs every exported kernel against its Go twin on
// many lengths (tails of every size) and unaligned starts, and wants
// bitwise equal results. Without the assembly it checks the twins agree
// with themselves, which the reference tests below then pin down.
func TestKernelsMatchGo(t *testing.T) {
	if !useAsm {
		t.Log("no assembly kernels on this CPU/build: only the Go twins run")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	lengths := []int{0, 1, 7, 8, 9, 15, 16, 17, 31, 64, 100, 1023, 1024, 4099}
	for _, special := range []bool{false, true} {
		for _, n := range lengths {
			off := rng.IntN(8)
			x := values(rng, n+off, special)[off:]
			y := values(rng, n+off, special)[off:]
			z := values(rng, n, special)
			s, b := float32(rng.NormFloat64()), float32(rng.NormFloat64())
			k := [5]float32{}
			for i := range k {
				k[i] = float32(rng.NormFloat64())
			}

			d1, d2 := make([]float32, n), make([]float32, n)
			ScaleShift(d1, x, s, b)
			scaleShiftGo(d2, x, s, b)
			if !same(d1, d2) {
				t.Fatalf("ScaleShift n=%d special=%v differs from Go", n, special)
			}
			z1, z2 := make([]float32, n), make([]float32, n)
			ScaleShiftReLU(d1, z1, x, s, b)
			scaleShiftReLUGo(d2, z2, x, s, b)
			if !same(d1, d2) || !same(z1, z2) {
				t.Fatalf("ScaleShiftReLU n=%d special=%v differs from Go", n, special)
			}
			ReLU(d1, x)
			reluGo(d2, x)
			if !same(d1, d2) {
				t.Fatalf("ReLU n=%d special=%v differs from Go", n, special)
			}
			copy(d1, z)
			copy(d2, z)
			ReLUGrad(d1, x, y)
			reluGradGo(d2, x, y)
			if !same(d1, d2) {
				t.Fatalf("ReLUGrad n=%d special=%v differs from Go", n, special)
			}
			Add(d1, x, y)
			addGo(d2, x, y)
			if !same(d1, d2) {
				t.Fatalf("Add n=%d special=%v differs from Go", n, special)
			}
			AddReLU(d1, z1, x, y)
			addReLUGo(d2, z2, x, y)
			if !same(d1, d2) || !same(z1, z2) {
				t.Fatalf("AddReLU n=%d special=%v differs from Go", n, special)
			}
			AddTo(d1, z)
			addGo(d2, d2, z)
			if !same(d1, d2) {
				t.Fatalf("AddTo n=%d special=%v differs from Go", n, special)
			}
			w1, w2 := append([]float32(nil), z...), append([]float32(nil), z...)
			copy(d1, y)
			copy(d2, y)
			SGDMomentum(w1, x, d1, k[0], k[1], k[2])
			sgdMomentumGo(w2, x, d2, k[0], k[1], k[2])
			if !same(w1, w2) || !same(d1, d2) {
				t.Fatalf("SGDMomentum n=%d special=%v differs from Go", n, special)
			}
			if a, b := Sum64(x), sum64Go(x); !same64(a, b) {
				t.Fatalf("Sum64 n=%d: %v, Go %v", n, a, b)
			}
			mean := rng.NormFloat64()
			if a, b := SumSqDev64(x, mean), sumSqDev64Go(x, mean); !same64(a, b) {
				t.Fatalf("SumSqDev64 n=%d: %v, Go %v", n, a, b)
			}
			a1, a2 := SumDyXhat64(y, x, k[3], k[4])
			b1, b2 := sumDyXhat64Go(nil, y, x, k[3], k[4])
			if !same64(a1, b1) || !same64(a2, b2) {
				t.Fatalf("SumDyXhat64 n=%d: %v %v, Go %v %v", n, a1, a2, b1, b2)
			}
			a1, a2 = SumDyXhatReLU64(z, y, x, k[3], k[4])
			b1, b2 = sumDyXhat64Go(z, y, x, k[3], k[4])
			if !same64(a1, b1) || !same64(a2, b2) {
				t.Fatalf("SumDyXhatReLU64 n=%d: %v %v, Go %v %v", n, a1, a2, b1, b2)
			}
			copy(d1, z)
			copy(d2, z)
			BNGrad(d1, y, x, k[0], k[1], k[2], k[3], k[4])
			bnGradGo(d2, nil, y, x, k[0], k[1], k[2], k[3], k[4])
			if !same(d1, d2) {
				t.Fatalf("BNGrad n=%d special=%v differs from Go", n, special)
			}
			BNGradReLU(d1, z, y, x, k[0], k[1], k[2], k[3], k[4])
			bnGradGo(d2, z, y, x, k[0], k[1], k[2], k[3], k[4])
			if !same(d1, d2) {
				t.Fatalf("BNGradReLU n=%d special=%v differs from Go", n, special)
			}
		}
	}
}

// TestReference checks the kernels' values against plain one-at-a-time
// formulas: exactly for the element-wise ones, within float64 rounding for
// the reductions (whose summation order differs).
func TestReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	n := 1037
	x, y, z := values(rng, n, false), values(rng, n, false), values(rng, n, false)
	d := make([]float32, n)
	ScaleShift(d, x, 1.5, -0.25)
	for i := range x {
		if d[i] != float32(x[i]*1.5)-0.25 {
			t.Fatalf("ScaleShift[%d] = %v", i, d[i])
		}
	}
	r := make([]float32, n)
	ScaleShiftReLU(d, r, x, 1.5, -0.25)
	ReLU(z, x)
	for i := range x {
		want := float32(0)
		if d[i] > 0 {
			want = d[i]
		}
		if r[i] != want || z[i] != max(x[i], 0) {
			t.Fatalf("ReLU[%d]: %v %v", i, r[i], z[i])
		}
	}
	copy(d, y)
	ReLUGrad(d, z, x)
	for i := range d {
		want := y[i]
		if z[i] > 0 {
			want += x[i]
		}
		if d[i] != want {
			t.Fatalf("ReLUGrad[%d] = %v, want %v", i, d[i], want)
		}
	}
	var s, ss, sdy, sdyx float64
	for i, v := range x {
		s += float64(v)
		ss += (float64(v) - 0.3) * (float64(v) - 0.3)
		xh := float64((x[i] - 0.1) * 2)
		sdy += float64(y[i])
		sdyx += float64(y[i]) * xh
	}
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-12*(1+math.Abs(b)) }
	if !near(Sum64(x), s) || !near(SumSqDev64(x, 0.3), ss) {
		t.Fatalf("Sum64/SumSqDev64: %v %v, want %v %v", Sum64(x), SumSqDev64(x, 0.3), s, ss)
	}
	a, b := SumDyXhat64(y, x, 0.1, 2)
	if !near(a, sdy) || !near(b, sdyx) {
		t.Fatalf("SumDyXhat64: %v %v, want %v %v", a, b, sdy, sdyx)
	}
	// Mask: the gradient passes for positive outputs only, as bits.
	for _, c := range []struct {
		y    float32
		pass bool
	}{{1, true}, {1e-40, true}, {0, false}, {-1, false}, {float32(math.Inf(1)), true}} {
		if got := Mask(c.y, 3) == 3; got != c.pass {
			t.Errorf("Mask(%v) passes = %v", c.y, got)
		}
	}
}

// TestShortOperandPanics checks the length guard.
func TestShortOperandPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Add with a short operand did not panic")
		}
	}()
	Add(make([]float32, 3), make([]float32, 9), make([]float32, 9))
}

func BenchmarkScaleShiftReLU(b *testing.B) {
	x := make([]float32, 1<<16)
	d, z := make([]float32, len(x)), make([]float32, len(x))
	b.SetBytes(int64(12 * len(x)))
	for i := 0; i < b.N; i++ {
		ScaleShiftReLU(d, z, x, 2, 1)
	}
}
