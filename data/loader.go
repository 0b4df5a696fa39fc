package data

import (
	"fmt"

	"github.com/evoprune/evoprune/tensor"
)

// Augment selects the standard CIFAR training augmentation. The zero value
// means none, which is what evaluation and pruning statistics want.
type Augment struct {
	// PadCrop pads each image by this many pixels on every side and takes a
	// random H×W crop, i.e. a random shift of up to PadCrop pixels in each
	// direction. The padding is raw pixel value 0 (black) and is normalised
	// like any other pixel, so in the output it equals -mean/std: this is
	// what torchvision's RandomCrop(32, padding=4) followed by Normalize
	// does, and matching it keeps published recipes transferable.
	PadCrop int
	// Flip mirrors each image left-right with probability 1/2, applied after
	// the crop as in torchvision's RandomHorizontalFlip.
	Flip bool
}

// Loader serves normalised mini-batches of a Dataset. The order and the
// augmentation of an epoch depend only on (seed, epoch), so a run can be
// resumed or re-evaluated bit for bit, and it reuses the caller's buffers
// so a training loop allocates nothing per batch.
type Loader struct {
	d       *Dataset
	batch   int
	shuffle bool
	aug     Augment
	seed    uint64

	order []int     // image indices of this epoch, in serving order
	pos   int       // next position in order
	lut   []float32 // C*256 normalised value of each byte, per channel
	rng   rng       // augmentation stream of this epoch
}

// NewLoader returns a loader positioned at the start of epoch 0. It panics
// on a non-positive batch size, a negative PadCrop or an inconsistent
// dataset, since those are programming errors rather than bad input.
func NewLoader(d *Dataset, batch int, shuffle bool, aug Augment, seed uint64) *Loader {
	if batch <= 0 {
		panic(fmt.Sprintf("data: NewLoader batch size %d, want > 0", batch))
	}
	if aug.PadCrop < 0 {
		panic(fmt.Sprintf("data: NewLoader PadCrop %d, want >= 0", aug.PadCrop))
	}
	if err := d.check(); err != nil {
		panic("data: NewLoader: " + err.Error())
	}
	l := &Loader{
		d:       d,
		batch:   batch,
		shuffle: shuffle,
		aug:     aug,
		seed:    seed,
		order:   make([]int, d.N),
		lut:     make([]float32, d.C*256),
	}
	for c := range d.C {
		fillLUT((*[256]float32)(l.lut[c*256:]), d, c)
	}
	l.Reset(0)
	return l
}

// Reset rewinds to the start of the given epoch and redraws its order and
// augmentation from (seed, epoch) alone, independent of what was served
// before, so epoch k looks the same whether or not epochs 0..k-1 ran.
func (l *Loader) Reset(epoch int) {
	for i := range l.order {
		l.order[i] = i
	}
	if l.shuffle {
		var r rng
		r.seed(l.seed, tagShuffle, uint64(epoch))
		r.shuffle(l.order)
	}
	l.rng.seed(l.seed, tagAugment, uint64(epoch))
	l.pos = 0
}

// Batches is the number of batches per epoch, the last possibly short, so
// progress bars and LR schedules can count steps in advance.
func (l *Loader) Batches() int {
	return (l.d.N + l.batch - 1) / l.batch
}

// Next writes the next batch into x, resized to [n, C, H, W] and normalised
// as (pixel/255 - Mean[c]) / Std[c], and its labels into y[:n]. It returns
// ok=false once the epoch is exhausted; call Reset to start the next one.
// x keeps its buffer between calls, so only the first batch allocates. y
// must hold at least the batch size.
func (l *Loader) Next(x *tensor.Tensor, y []int32) (n int, ok bool) {
	d := l.d
	if l.pos >= d.N {
		return 0, false
	}
	n = min(l.batch, d.N-l.pos)
	if len(y) < n {
		panic(fmt.Sprintf("data: Loader.Next label buffer holds %d, want at least %d", len(y), n))
	}
	x.Resize(n, d.C, d.H, d.W)
	per := d.C * d.H * d.W
	pad := l.aug.PadCrop
	for i := range n {
		j := l.order[l.pos+i]
		// The draw order (row shift, column shift, flip) is part of the
		// reproducibility contract: changing it changes every augmented run.
		dy, dx := pad, pad
		if pad > 0 {
			dy = l.rng.intn(2*pad + 1)
			dx = l.rng.intn(2*pad + 1)
		}
		flip := l.aug.Flip && l.rng.bit()
		writeSample(x.Data[i*per:(i+1)*per], d.Images[j*per:(j+1)*per], l.lut, d.C, d.H, d.W, pad, dy, dx, flip)
		y[i] = d.Labels[j]
	}
	l.pos += n
	return n, true
}

// Normalize writes images idx of d into x, resized to [len(idx), C, H, W],
// with the same normalisation as the Loader and no augmentation, so that
// evaluation and pruning statistics see exactly what training saw. It does
// not allocate once x is large enough.
func Normalize(d *Dataset, idx []int, x *tensor.Tensor) {
	x.Resize(len(idx), d.C, d.H, d.W)
	plane := d.H * d.W
	per := d.C * plane
	var lut [256]float32
	for c := range d.C {
		fillLUT(&lut, d, c)
		for i, j := range idx {
			src := d.Images[j*per+c*plane : j*per+(c+1)*plane]
			dst := x.Data[i*per+c*plane : i*per+(c+1)*plane]
			for k, p := range src {
				dst[k] = lut[p]
			}
		}
	}
}

// fillLUT tabulates the normalised value of every byte for channel c,
// computed in float64 and rounded once, so the loader, Normalize and any
// reference implementation agree to the last bit.
func fillLUT(lut *[256]float32, d *Dataset, c int) {
	mean, std := 0.0, 1.0
	if d.Mean != nil {
		mean = float64(d.Mean[c])
	}
	if d.Std != nil {
		std = float64(d.Std[c])
	}
	for p := range lut {
		lut[p] = float32((float64(p)/255 - mean) / std)
	}
}

// writeSample writes one normalised C×H×W image into dst. The output pixel
// (r, j) is pixel (r+dy, j'+dx) of the image padded by pad zero pixels on
// every side, where j' = W-1-j if flip and j otherwise (crop, then flip).
// dy = dx = pad is the unshifted image.
func writeSample(dst []float32, img []uint8, lut []float32, c, h, w, pad, dy, dx int, flip bool) {
	plane := h * w
	shiftR, shiftC := dy-pad, dx-pad
	for ch := range c {
		t := (*[256]float32)(lut[ch*256:])
		padv := t[0]
		src := img[ch*plane : (ch+1)*plane]
		out := dst[ch*plane : (ch+1)*plane]
		for r := range h {
			row := out[r*w : (r+1)*w]
			sr := r + shiftR
			if sr < 0 || sr >= h {
				for j := range row {
					row[j] = padv
				}
				continue
			}
			srow := src[sr*w : (sr+1)*w]
			// Output columns [lo, hi) read inside the image; the rest
			// are padding.
			lo, hi := max(0, -shiftC), min(w, w-shiftC)
			if flip {
				lo, hi = max(0, shiftC), min(w, w+shiftC)
			}
			if lo >= hi {
				for j := range row {
					row[j] = padv
				}
				continue
			}
			for j := range lo {
				row[j] = padv
			}
			for j := hi; j < w; j++ {
				row[j] = padv
			}
			if flip {
				// Output j reads source column w-1-j+shiftC.
				s := srow[w-hi+shiftC : w-lo+shiftC]
				for j, k := lo, len(s)-1; j < hi; j, k = j+1, k-1 {
					row[j] = t[s[k]]
				}
			} else {
				for j, p := range srow[lo+shiftC : hi+shiftC] {
					row[lo+j] = t[p]
				}
			}
		}
	}
}
