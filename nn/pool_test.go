package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/evoprune/evoprune/tensor"
)

// TestMaxPool2x2FastPath checks the unrolled 2x2/stride-2 max-pool against
// a plain window scan (first maximum wins, NaN wins) on odd sizes, ties
// and NaNs, values and gradients routed to the argmax.
func TestMaxPool2x2FastPath(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	n, c, h, w := 2, 3, 7, 9
	x := tensor.New(n, c, h, w)
	for i := range x.Data {
		x.Data[i] = float32(rng.IntN(4)) // many ties
		if rng.IntN(25) == 0 {
			x.Data[i] = float32(math.NaN())
		}
	}
	l := mustLayer(NewMaxPool2d(PoolConfig{Kernel: 2})).(*MaxPool2d)
	os, err := l.OutShape([][]int{{c, h, w}})
	if err != nil {
		t.Fatal(err)
	}
	out := tensor.New(append([]int{n}, os...)...)
	l.Forward(&Context{}, []*tensor.Tensor{x}, out)
	oh, ow := os[1], os[2]
	dout := tensor.New(out.Shape...)
	for i := range dout.Data {
		dout.Data[i] = float32(i + 1)
	}
	dx := tensor.New(x.Shape...)
	l.Backward(&Context{}, []*tensor.Tensor{x}, out, dout, []*tensor.Tensor{dx})
	want := make([]float32, len(dx.Data))
	for pl := 0; pl < n*c; pl++ {
		for oy := 0; oy < oh; oy++ {
			for ox := 0; ox < ow; ox++ {
				at := -1
				for ky := 0; ky < 2; ky++ {
					for kx := 0; kx < 2; kx++ {
						i := pl*h*w + (2*oy+ky)*w + 2*ox + kx
						if v := x.Data[i]; at < 0 || v > x.Data[at] || v != v {
							at = i
						}
					}
				}
				o := (pl*oh+oy)*ow + ox
				if got := out.Data[o]; math.Float32bits(got) != math.Float32bits(x.Data[at]) {
					t.Fatalf("output %d = %v, want %v", o, got, x.Data[at])
				}
				want[at] += dout.Data[o]
			}
		}
	}
	for i := range want {
		if dx.Data[i] != want[i] {
			t.Fatalf("input gradient %d = %v, want %v", i, dx.Data[i], want[i])
		}
	}
}
