package direct

import (
	"math"
	"math/rand/v2"
	"testing"
)

// naive is the convolution written out, in float64.
func naive(inC, outC, h, w int, wt, x []float32) []float64 {
	y := make([]float64, outC*h*w)
	for o := 0; o < outC; o++ {
		for i := 0; i < h; i++ {
			for j := 0; j < w; j++ {
				var s float64
				for c := 0; c < inC; c++ {
					for ky := 0; ky < 3; ky++ {
						for kx := 0; kx < 3; kx++ {
							yy, xx := i+ky-1, j+kx-1
							if yy < 0 || yy >= h || xx < 0 || xx >= w {
								continue
							}
							s += float64(wt[((o*inC+c)*3+ky)*3+kx]) * float64(x[(c*h+yy)*w+xx])
						}
					}
				}
				y[(o*h+i)*w+j] = s
			}
		}
	}
	return y
}

func randoms(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// TestAgainstNaive covers every tile height (1..12 channels, and splits of
// 13..40), maps narrower and wider than a 32-pixel tile, maps whose pixel
// count is not a multiple of 32 (masked last tile), rows of one pixel, and
// both the overwriting and the accumulating store.
func TestAgainstNaive(t *testing.T) {
	if !Available() {
		t.Skip("no AVX-512 kernels on this machine or build")
	}
	r := rand.New(rand.NewPCG(1, 2))
	shapes := []struct{ inC, outC, h, w int }{
		{1, 1, 1, 1}, {3, 16, 32, 32}, {16, 16, 32, 32}, {16, 32, 16, 16}, {32, 64, 8, 8},
		{5, 7, 5, 7}, {2, 13, 3, 33}, {4, 40, 9, 1}, {1, 25, 1, 40}, {7, 12, 17, 19},
	}
	for mr := 1; mr <= 12; mr++ {
		shapes = append(shapes, struct{ inC, outC, h, w int }{3, mr, 6, 10})
	}
	var p Plan
	var ws Workspace
	for _, s := range shapes {
		if err := p.Reset(s.inC, s.outC, s.h, s.w); err != nil {
			t.Fatal(err)
		}
		wt := randoms(r, s.outC*s.inC*9)
		x := randoms(r, s.inC*s.h*s.w)
		p.Pack(wt)
		want := naive(s.inC, s.outC, s.h, s.w, wt, x)
		for _, acc := range []bool{false, true} {
			// Guard values after the output catch stores past its end.
			y := make([]float32, len(want)+40)
			init := randoms(r, len(y))
			copy(y, init)
			p.Run(&ws, x, y, acc)
			for i, v := range want {
				if acc {
					v += float64(init[i])
				}
				if d := math.Abs(float64(y[i]) - v); d > 1e-4*(1+math.Abs(v)) || math.IsNaN(float64(y[i])) {
					t.Fatalf("%+v accumulate=%v: y[%d] = %v, want %v", s, acc, i, y[i], v)
				}
			}
			for i := len(want); i < len(y); i++ {
				if y[i] != init[i] {
					t.Fatalf("%+v: wrote past the output at %d", s, i)
				}
			}
		}
	}
}

// TestWorkspaceReuse runs two shapes through one workspace and plan in
// turn: the margins must stay zero and the masks follow the shape.
func TestWorkspaceReuse(t *testing.T) {
	if !Available() {
		t.Skip("no AVX-512 kernels on this machine or build")
	}
	r := rand.New(rand.NewPCG(3, 4))
	var p Plan
	var ws Workspace
	for round := 0; round < 3; round++ {
		for _, s := range [][4]int{{4, 8, 16, 16}, {6, 5, 7, 9}} {
			if err := p.Reset(s[0], s[1], s[2], s[3]); err != nil {
				t.Fatal(err)
			}
			wt := randoms(r, s[1]*s[0]*9)
			x := randoms(r, s[0]*s[2]*s[3])
			p.Pack(wt)
			y := make([]float32, s[1]*s[2]*s[3])
			p.Run(&ws, x, y, false)
			for i, v := range naive(s[0], s[1], s[2], s[3], wt, x) {
				if math.Abs(float64(y[i])-v) > 1e-4*(1+math.Abs(v)) {
					t.Fatalf("round %d %v: y[%d] = %v, want %v", round, s, i, y[i], v)
				}
			}
		}
	}
}

func TestBadShape(t *testing.T) {
	var p Plan
	if err := p.Reset(0, 4, 8, 8); err == nil {
		t.Fatal("no error for 0 input channels")
	}
}

// naiveWeightGrad is the weight gradient written out, in float64.
func naiveWeightGrad(inC, outC, n, h, w int, x, dout []float32) []float64 {
	dw := make([]float64, outC*inC*9)
	for img := 0; img < n; img++ {
		for o := 0; o < outC; o++ {
			for c := 0; c < inC; c++ {
				for ky := 0; ky < 3; ky++ {
					for kx := 0; kx < 3; kx++ {
						var s float64
						for i := 0; i < h; i++ {
							for j := 0; j < w; j++ {
								yy, xx := i+ky-1, j+kx-1
								if yy < 0 || yy >= h || xx < 0 || xx >= w {
									continue
								}
								s += float64(dout[((img*outC+o)*h+i)*w+j]) * float64(x[((img*inC+c)*h+yy)*w+xx])
							}
						}
						dw[((o*inC+c)*3+ky)*3+kx] += s
					}
				}
			}
		}
	}
	return dw
}

// TestWeightGradAgainstNaive covers blocks of 1, 2 and 3 output channels,
// rows narrower and wider than a 16-pixel step, several chunks of images
// (and a last, short one), and accumulation into an existing gradient.
func TestWeightGradAgainstNaive(t *testing.T) {
	if !Available() {
		t.Skip("no AVX-512 kernels on this machine or build")
	}
	r := rand.New(rand.NewPCG(5, 6))
	var g WeightGrad
	for _, s := range []struct{ inC, outC, n, h, w int }{
		{3, 16, 3, 32, 32}, {16, 32, 5, 16, 16}, {4, 7, 70, 8, 8}, {2, 1, 2, 4, 4}, {2, 2, 3, 2, 8}, {5, 4, 2, 16, 5},
		{3, 5, 9, 12, 12},
	} {
		ok, err := g.Reset(s.inC, s.outC, s.h, s.w)
		if err != nil || !ok {
			t.Fatalf("%+v: ok %v, %v", s, ok, err)
		}
		x := randoms(r, s.n*s.inC*s.h*s.w)
		dout := randoms(r, s.n*s.outC*s.h*s.w)
		dw := randoms(r, s.outC*s.inC*9)
		init := append([]float32(nil), dw...)
		g.Add(x, dout, s.n, dw)
		for i, v := range naiveWeightGrad(s.inC, s.outC, s.n, s.h, s.w, x, dout) {
			v += float64(init[i])
			if d := math.Abs(float64(dw[i]) - v); d > 1e-4*(1+math.Abs(v)) || math.IsNaN(float64(dw[i])) {
				t.Fatalf("%+v: dw[%d] = %v, want %v", s, i, dw[i], v)
			}
		}
	}
	if ok, err := g.Reset(2, 2, 3, 5); ok || err != nil {
		t.Fatalf("15-pixel maps: ok %v, %v; want a refusal without error", ok, err)
	}
}
