// Package data reads the image-classification datasets evoprune trains and
// prunes on (MNIST, CIFAR-10, CIFAR-100), finds them on disk or downloads
// them with checksums, splits off validation sets and serves normalised,
// optionally augmented mini-batches.
//
// Images stay as uint8 in memory (a quarter of the float32 size) and are
// normalised only when a batch is built, so a whole CIFAR training set costs
// 150 MB rather than 600 MB. Every random choice (validation split, shuffle
// order, crops, flips) comes from an explicit seed so that a fitness
// evaluation is a pure function of its inputs.
package data

import "fmt"

// Dataset is a labelled image set held as raw bytes. Keeping pixels as
// uint8 and the normalisation constants alongside lets every consumer
// (training loader, evaluation, pruning statistics) normalise identically.
type Dataset struct {
	// Name is the registry name ("mnist", "cifar10", "cifar100"), kept so
	// checkpoints and reports can say what a model was trained on.
	Name string
	// Images holds N*C*H*W pixels in NCHW order, the layout of tensor.Tensor,
	// so a batch is built plane by plane without transposing.
	Images []uint8
	// Labels holds one class index in [0, Classes) per image.
	Labels []int32
	// N, C, H, W are the image count, channels, height and width.
	N, C, H, W int
	// Classes is the number of classes a model's output layer needs.
	Classes int
	// Mean and Std are per-channel normalisation constants in units of
	// pixel/255 (the convention of published training recipes), so a
	// normalised value is (pixel/255 - Mean[c]) / Std[c]. Nil means 0 and 1.
	Mean, Std []float32
}

// Subset returns a copy holding the images idx, in that order. It copies so
// that a validation split can be kept while the parent is dropped, and so
// that no two datasets alias one pixel buffer.
func (d *Dataset) Subset(idx []int) *Dataset {
	per := d.C * d.H * d.W
	s := &Dataset{
		Name:    d.Name,
		Images:  make([]uint8, len(idx)*per),
		Labels:  make([]int32, len(idx)),
		N:       len(idx),
		C:       d.C,
		H:       d.H,
		W:       d.W,
		Classes: d.Classes,
		Mean:    cloneFloats(d.Mean),
		Std:     cloneFloats(d.Std),
	}
	for i, j := range idx {
		if j < 0 || j >= d.N {
			panic(fmt.Sprintf("data: Subset index %d out of range [0, %d)", j, d.N))
		}
		copy(s.Images[i*per:(i+1)*per], d.Images[j*per:(j+1)*per])
		s.Labels[i] = d.Labels[j]
	}
	return s
}

// ClassCounts returns how many images each class has, the quickest check
// that a file or a split is balanced. The slice has Classes entries, or
// more if a label is larger than Classes allows.
func (d *Dataset) ClassCounts() []int {
	n := d.Classes
	for _, l := range d.Labels {
		if int(l) >= n {
			n = int(l) + 1
		}
	}
	counts := make([]int, n)
	for _, l := range d.Labels {
		counts[l]++
	}
	return counts
}

// check reports a dataset whose fields disagree, so that a hand-built or
// corrupted dataset fails with a message instead of an index panic deep in
// a batch loop.
func (d *Dataset) check() error {
	switch {
	case d.N < 0 || d.C <= 0 || d.H <= 0 || d.W <= 0:
		return fmt.Errorf("dataset %s: bad shape N=%d C=%d H=%d W=%d", d.Name, d.N, d.C, d.H, d.W)
	case len(d.Images) != d.N*d.C*d.H*d.W:
		return fmt.Errorf("dataset %s: %d pixel bytes, want N*C*H*W = %d", d.Name, len(d.Images), d.N*d.C*d.H*d.W)
	case len(d.Labels) != d.N:
		return fmt.Errorf("dataset %s: %d labels for %d images", d.Name, len(d.Labels), d.N)
	case d.Mean != nil && len(d.Mean) != d.C, d.Std != nil && len(d.Std) != d.C:
		return fmt.Errorf("dataset %s: %d means and %d stds for %d channels", d.Name, len(d.Mean), len(d.Std), d.C)
	}
	for i, l := range d.Labels {
		if l < 0 || int(l) >= d.Classes {
			return fmt.Errorf("dataset %s: image %d has label %d, want 0..%d", d.Name, i, l, d.Classes-1)
		}
	}
	for c, s := range d.Std {
		if !(s > 0) {
			return fmt.Errorf("dataset %s: channel %d has std %v, want > 0", d.Name, c, s)
		}
	}
	return nil
}

func cloneFloats(x []float32) []float32 {
	if x == nil {
		return nil
	}
	return append([]float32(nil), x...)
}
