package data

import (
	"math"
	"slices"
	"testing"

	"github.com/evoprune/evoprune/tensor"
)

// handImage is one 2-channel 2×3 image whose normalised values are easy to
// work out by hand:
//
//	channel 0, mean 0.2, std 0.5:  v = 2p/255 - 0.4, so the padding (p=0) is -0.4
//	   51 102 153   ->   0.0 0.4 0.8
//	  204 255  51   ->   1.2 1.6 0.0
//	channel 1, mean 0.5, std 0.25: v = 4p/255 - 2,   so the padding (p=0) is -2
//	  255 204 153   ->   2.0  1.2 0.4
//	  102  51 255   ->  -0.4 -1.2 2.0
func handImage() *Dataset {
	return &Dataset{Name: "hand", N: 1, C: 2, H: 2, W: 3, Classes: 2,
		Images: []uint8{51, 102, 153, 204, 255, 51, 255, 204, 153, 102, 51, 255},
		Labels: []int32{1},
		Mean:   []float32{0.2, 0.5}, Std: []float32{0.5, 0.25}}
}

const P0, P1 = -0.4, -2 // normalised padding of channels 0 and 1

func closeTo(t *testing.T, what string, got []float32, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Abs(float64(got[i])-want[i]) > 1e-6 {
			t.Fatalf("%s: got %v\nwant %v (first difference at %d)", what, got, want, i)
		}
	}
}

func TestWriteSampleGolden(t *testing.T) {
	d := handImage()
	lut := make([]float32, 2*256)
	fillLUT((*[256]float32)(lut[0:]), d, 0)
	fillLUT((*[256]float32)(lut[256:]), d, 1)
	// With pad=1 the crop offsets run 0..2 and (1, 1) is the unshifted
	// image; offset (dy, dx) shows padded pixel (r+dy, j+dx), i.e. raw
	// pixel (r+dy-1, j+dx-1), and flip mirrors the crop.
	cases := []struct {
		name   string
		dy, dx int
		flip   bool
		want   []float64
	}{
		{"identity", 1, 1, false, []float64{
			0, 0.4, 0.8, 1.2, 1.6, 0,
			2, 1.2, 0.4, -0.4, -1.2, 2}},
		{"flip", 1, 1, true, []float64{
			0.8, 0.4, 0, 0, 1.6, 1.2,
			0.4, 1.2, 2, 2, -1.2, -0.4}},
		// Content moves down-right: a padding row on top, a padding column
		// on the left.
		{"crop top-left", 0, 0, false, []float64{
			P0, P0, P0, P0, 0, 0.4,
			P1, P1, P1, P1, 2, 1.2}},
		// Content moves up-left: raw (1,1), (1,2) then padding.
		{"crop bottom-right", 2, 2, false, []float64{
			1.6, 0, P0, P0, P0, P0,
			-1.2, 2, P1, P1, P1, P1}},
		// Crop rows -1..0, columns 1..3 (3 is padding), then mirror.
		{"crop top-right + flip", 0, 2, true, []float64{
			P0, P0, P0, P0, 0.8, 0.4,
			P1, P1, P1, P1, 0.4, 1.2}},
		{"row shift only", 2, 1, false, []float64{
			1.2, 1.6, 0, P0, P0, P0,
			-0.4, -1.2, 2, P1, P1, P1}},
	}
	for _, c := range cases {
		dst := make([]float32, 12)
		writeSample(dst, d.Images, lut, 2, 2, 3, 1, c.dy, c.dx, c.flip)
		closeTo(t, c.name, dst, c.want)
	}
	// Padding of two pixels on a 2-row image can shift it out entirely.
	dst := make([]float32, 12)
	writeSample(dst, d.Images, lut, 2, 2, 3, 2, 0, 0, false)
	closeTo(t, "all padding", dst, []float64{P0, P0, P0, P0, P0, P0, P1, P1, P1, P1, P1, P1})
	// And three pixels on a 3-column image, sideways, either way, flipped or not.
	for _, dx := range []int{0, 6} {
		for _, flip := range []bool{false, true} {
			writeSample(dst, d.Images, lut, 2, 2, 3, 3, 3, dx, flip)
			closeTo(t, "all padding sideways", dst, []float64{P0, P0, P0, P0, P0, P0, P1, P1, P1, P1, P1, P1})
		}
	}
}

func TestNormalize(t *testing.T) {
	d := handImage()
	x := tensor.New(0)
	Normalize(d, []int{0, 0}, x)
	if !slices.Equal(x.Shape, []int{2, 2, 2, 3}) {
		t.Fatalf("shape %v", x.Shape)
	}
	id := []float64{0, 0.4, 0.8, 1.2, 1.6, 0, 2, 1.2, 0.4, -0.4, -1.2, 2}
	closeTo(t, "Normalize", x.Data, append(id, id...))

	// Against the formula, on every byte value, for MNIST's constants.
	m := &Dataset{N: 256, C: 1, H: 1, W: 1, Classes: 1, Images: make([]uint8, 256), Labels: make([]int32, 256),
		Mean: []float32{0.1307}, Std: []float32{0.3081}}
	idx := make([]int, 256)
	for p := range 256 {
		m.Images[p], idx[p] = byte(p), p
	}
	Normalize(m, idx, x)
	for p, v := range x.Data {
		want := (float64(p)/255 - 0.1307) / 0.3081
		if math.Abs(float64(v)-want) > 1e-6 {
			t.Fatalf("byte %d normalised to %v, want %v", p, v, want)
		}
	}
	// nil Mean/Std means plain pixel/255.
	m.Mean, m.Std = nil, nil
	Normalize(m, idx[255:], x)
	if x.Data[0] != 1 {
		t.Errorf("255 with no normalisation constants gave %v, want 1", x.Data[0])
	}
}

func TestLoaderNoAugmentMatchesNormalize(t *testing.T) {
	d := idDataset(10, 3)
	d.Mean, d.Std = []float32{0.5}, []float32{0.2}
	l := NewLoader(d, 4, false, Augment{}, 1)
	if l.Batches() != 3 {
		t.Fatalf("Batches() = %d, want 3", l.Batches())
	}
	x, want := tensor.New(0), tensor.New(0)
	y := make([]int32, 4)
	var sizes []int
	for b := 0; ; b++ {
		n, ok := l.Next(x, y)
		if !ok {
			break
		}
		sizes = append(sizes, n)
		idx := []int{b * 4, b*4 + 1, b*4 + 2, b*4 + 3}[:n]
		Normalize(d, idx, want)
		if !slices.Equal(x.Shape, []int{n, 1, 1, 2}) || !slices.Equal(x.Data, want.Data) {
			t.Fatalf("batch %d: %v %v, want %v", b, x.Shape, x.Data, want.Data)
		}
		for i, j := range idx {
			if y[i] != d.Labels[j] {
				t.Fatalf("batch %d: label %d is %d, want %d", b, i, y[i], d.Labels[j])
			}
		}
	}
	if !slices.Equal(sizes, []int{4, 4, 2}) {
		t.Errorf("batch sizes %v, want [4 4 2]", sizes)
	}
	if _, ok := l.Next(x, y); ok {
		t.Error("Next after the end of the epoch returned ok")
	}
}

// epoch returns every value the loader serves in epoch e.
func epoch(l *Loader, e int) []float32 {
	l.Reset(e)
	x, y := tensor.New(0), make([]int32, 64)
	var values []float32
	for {
		if _, ok := l.Next(x, y); !ok {
			return values
		}
		values = append(values, x.Data...)
	}
}

func TestLoaderDeterministic(t *testing.T) {
	d := idDataset(100, 4)
	aug := Augment{PadCrop: 1, Flip: true}
	// Orders come from a loader that serves the ids unchanged.
	orderOf := func(seed uint64, e int) []int {
		l := NewLoader(d, 16, true, Augment{}, seed)
		l.Reset(e)
		x, y := tensor.New(0), make([]int32, 16)
		var got []int
		for {
			n, ok := l.Next(x, y)
			if !ok {
				return got
			}
			for i := range n {
				lo, hi := x.Data[2*i]*255, x.Data[2*i+1]*255
				got = append(got, int(math.Round(float64(lo)))|int(math.Round(float64(hi)))<<8)
			}
		}
	}
	o0 := orderOf(5, 0)
	sorted := slices.Sorted(slices.Values(o0))
	for i, v := range sorted {
		if v != i {
			t.Fatalf("epoch 0 does not visit every image once: %v", o0)
		}
	}
	if slices.IsSorted(o0) {
		t.Error("shuffled loader served images in order")
	}
	if !slices.Equal(o0, orderOf(5, 0)) {
		t.Error("same seed and epoch gave different orders")
	}
	if slices.Equal(o0, orderOf(5, 1)) || slices.Equal(o0, orderOf(6, 0)) {
		t.Error("another epoch or seed gave the same order")
	}

	a := NewLoader(d, 16, true, aug, 9)
	b := NewLoader(d, 16, true, aug, 9)
	va0, va1 := epoch(a, 0), epoch(a, 1)
	vb1, vb0 := epoch(b, 1), epoch(b, 0) // b starts at epoch 1: it must not depend on epoch 0
	if !slices.Equal(va0, vb0) || !slices.Equal(va1, vb1) {
		t.Error("augmented epochs are not a function of (seed, epoch)")
	}
	if slices.Equal(va0, va1) {
		t.Error("epochs 0 and 1 were augmented identically")
	}
}

// Every augmented sample must be one of the 2·(2p+1)² crop/flip variants
// of its image, and over many draws every variant must occur.
func TestLoaderAugmentIsCropFlip(t *testing.T) {
	d := handImage()
	const pad = 1
	lut := make([]float32, 2*256)
	fillLUT((*[256]float32)(lut[0:]), d, 0)
	fillLUT((*[256]float32)(lut[256:]), d, 1)
	var variants [][]float32
	for dy := range 2*pad + 1 {
		for dx := range 2*pad + 1 {
			for _, flip := range []bool{false, true} {
				v := make([]float32, 12)
				writeSample(v, d.Images, lut, 2, 2, 3, pad, dy, dx, flip)
				variants = append(variants, v)
			}
		}
	}
	seen := make([]int, len(variants))
	l := NewLoader(d, 1, false, Augment{PadCrop: pad, Flip: true}, 3)
	x, y := tensor.New(0), make([]int32, 1)
	for e := range 1000 {
		l.Reset(e)
		if _, ok := l.Next(x, y); !ok {
			t.Fatal("no batch")
		}
		k := slices.IndexFunc(variants, func(v []float32) bool { return slices.Equal(v, x.Data) })
		if k < 0 {
			t.Fatalf("epoch %d: sample %v is no crop/flip of the image", e, x.Data)
		}
		seen[k]++
	}
	for k, n := range seen {
		// 1000 draws over 18 variants: about 56 each.
		if n < 25 || n > 100 {
			t.Errorf("variant %d drawn %d times in 1000, want about 56", k, n)
		}
	}
}

func TestLoaderZeroAllocs(t *testing.T) {
	d := &Dataset{Name: "cifar-like", N: 300, C: 3, H: 32, W: 32, Classes: 10,
		Images: make([]uint8, 300*3072), Labels: make([]int32, 300),
		Mean: []float32{0.4914, 0.4822, 0.4465}, Std: []float32{0.2470, 0.2435, 0.2616}}
	for i := range d.Images {
		d.Images[i] = byte(i * 13)
	}
	l := NewLoader(d, 64, true, Augment{PadCrop: 4, Flip: true}, 11)
	x, y := tensor.New(0), make([]int32, 64)
	l.Next(x, y) // the first batch sizes x
	e := 0
	allocs := testing.AllocsPerRun(50, func() {
		if _, ok := l.Next(x, y); !ok {
			e++
			l.Reset(e)
		}
	})
	if allocs != 0 {
		t.Errorf("Loader.Next/Reset allocate %v times per batch, want 0", allocs)
	}
	idx := []int{3, 1, 4, 1, 5}
	allocs = testing.AllocsPerRun(20, func() { Normalize(d, idx, x) })
	if allocs != 0 {
		t.Errorf("Normalize allocates %v times, want 0", allocs)
	}
}

func BenchmarkLoaderCIFARBatch128(b *testing.B) {
	d := &Dataset{N: 1024, C: 3, H: 32, W: 32, Classes: 10, Images: make([]uint8, 1024*3072), Labels: make([]int32, 1024),
		Mean: []float32{0.4914, 0.4822, 0.4465}, Std: []float32{0.2470, 0.2435, 0.2616}}
	l := NewLoader(d, 128, true, Augment{PadCrop: 4, Flip: true}, 1)
	x, y := tensor.New(0), make([]int32, 128)
	b.SetBytes(128 * 3072)
	for e := 0; b.Loop(); {
		if _, ok := l.Next(x, y); !ok {
			e++
			l.Reset(e)
		}
	}
}
