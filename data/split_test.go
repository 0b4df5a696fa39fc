package data

import (
	"slices"
	"testing"
)

// idDataset returns a dataset whose image i is the two bytes of i, so any
// subset can be mapped back to original indices, with deliberately uneven
// class sizes.
func idDataset(n, classes int) *Dataset {
	d := &Dataset{Name: "ids", N: n, C: 1, H: 1, W: 2, Classes: classes,
		Images: make([]uint8, 2*n), Labels: make([]int32, n)}
	for i := range n {
		d.Images[2*i], d.Images[2*i+1] = byte(i), byte(i>>8)
		// Class c gets weight c+1, so sizes differ and shares are not whole.
		r, c := i%(classes*(classes+1)/2), 0
		for r >= (c+1)*(c+2)/2 {
			c++
		}
		d.Labels[i] = int32(c)
	}
	return d
}

func ids(d *Dataset) []int {
	out := make([]int, d.N)
	for i := range out {
		out[i] = int(d.Images[2*i]) | int(d.Images[2*i+1])<<8
	}
	return out
}

func TestSplitValidation(t *testing.T) {
	d := idDataset(1003, 7)
	counts := d.ClassCounts()
	for _, n := range []int{0, 1, 100, 333, 1002} {
		rest, val, err := SplitValidation(d, n, 42)
		if err != nil {
			t.Fatal(err)
		}
		if val.N != n || rest.N != d.N-n {
			t.Fatalf("n=%d: sizes rest %d val %d", n, rest.N, val.N)
		}
		// Disjoint and complete, each part in original order.
		all := append(ids(rest), ids(val)...)
		if !slices.IsSorted(ids(rest)) || !slices.IsSorted(ids(val)) {
			t.Errorf("n=%d: parts are not in original order", n)
		}
		slices.Sort(all)
		for i, id := range all {
			if id != i {
				t.Fatalf("n=%d: parts are not a partition (position %d holds %d)", n, i, id)
			}
		}
		// Labels travel with their images.
		for k, id := range ids(val) {
			if val.Labels[k] != d.Labels[id] {
				t.Fatalf("n=%d: val image %d has label %d, want %d", n, id, val.Labels[k], d.Labels[id])
			}
		}
		// Stratified: each class gets floor or ceil of its share, and the
		// shares add up.
		vc := val.ClassCounts()
		for c := range counts {
			share := float64(n) * float64(counts[c]) / float64(d.N)
			if lo := int(share); vc[c] != lo && vc[c] != lo+1 {
				t.Errorf("n=%d class %d (%d images): %d in val, want %.2f rounded", n, c, counts[c], vc[c], share)
			}
		}
		if rest.Classes != d.Classes || !slices.Equal(rest.ClassCounts(), sub(counts, vc)) {
			t.Errorf("n=%d: rest class counts %v", n, rest.ClassCounts())
		}
	}

	// Same seed, same split; another seed, another split.
	_, v1, _ := SplitValidation(d, 200, 7)
	_, v2, _ := SplitValidation(d, 200, 7)
	_, v3, _ := SplitValidation(d, 200, 8)
	if !slices.Equal(ids(v1), ids(v2)) {
		t.Error("same seed gave different splits")
	}
	if slices.Equal(ids(v1), ids(v3)) {
		t.Error("different seeds gave the same split")
	}
	if !slices.Equal(v1.ClassCounts(), v3.ClassCounts()) {
		t.Error("per-class sizes depend on the seed; they should depend only on the class sizes")
	}

	for _, n := range []int{-1, d.N, d.N + 5} {
		if _, _, err := SplitValidation(d, n, 1); err == nil {
			t.Errorf("n=%d: no error", n)
		} else {
			wantErr(t, err, "want 0 <= n < 1003")
		}
	}
}

// The exact split for a fixed seed is part of reproducibility: this pins it
// so an accidental change to the RNG or the algorithm is noticed.
func TestSplitValidationPinned(t *testing.T) {
	d := idDataset(40, 4)
	_, val, err := SplitValidation(d, 6, 2024)
	if err != nil {
		t.Fatal(err)
	}
	got := ids(val)
	t.Logf("pinned split: %v (class counts %v of %v)", got, val.ClassCounts(), d.ClassCounts())
	want := []int{13, 14, 16, 17, 20, 22}
	if !slices.Equal(got, want) {
		t.Errorf("split for seed 2024 is %v, was %v", got, want)
	}
}

func sub(a, b []int) []int {
	out := make([]int, len(a))
	for i := range a {
		out[i] = a[i] - b[i]
	}
	return out
}
