package data

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// sharedCIFAR10 is the project's offline CIFAR-10 copy, the shared folder
// that sits beside the checkout (../shared from the repository root, so
// ../../shared from this package) unless EVOPRUNE_SHARED points elsewhere.
// CI always has it, so its absence fails the tests instead of skipping them.
var sharedCIFAR10 = func() string {
	root := os.Getenv("EVOPRUNE_SHARED")
	if root == "" {
		root = filepath.Join("..", "..", "shared")
	}
	abs, err := filepath.Abs(filepath.Join(root, "data", "cifar10"))
	if err != nil {
		panic(err)
	}
	return abs
}()

func needShared(t *testing.T, rel string) string {
	t.Helper()
	p := filepath.Join(sharedCIFAR10, rel)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("the shared CIFAR-10 copy is missing (%v): check out the shared folder beside the repository or set EVOPRUNE_SHARED to it", err)
	}
	return p
}

// The exact subset holds the first 4000 official training records; the
// expected values are the ones the README quotes from the official files.
func TestCIFAR10ExactSubset(t *testing.T) {
	p := needShared(t, "exact-subset/data_batch_1_first4000.bin")
	imgs, labels, err := ReadCIFAR10(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(labels) != 4000 || len(imgs) != 4000*3072 {
		t.Fatalf("got %d labels and %d pixel bytes, want 4000 and %d", len(labels), len(imgs), 4000*3072)
	}
	first20 := []int32{6, 9, 9, 4, 1, 1, 2, 7, 8, 3, 4, 7, 7, 2, 9, 9, 9, 3, 2, 6}
	if !slices.Equal(labels[:20], first20) {
		t.Errorf("first labels %v, want %v", labels[:20], first20)
	}
	red := []uint8{59, 43, 50, 68, 98, 119, 139, 145, 149, 149, 131, 125, 142, 144, 137, 129, 137, 134, 124, 139,
		139, 133, 136, 139, 152, 163, 168, 159, 158, 158, 152, 148, 16, 0, 18, 51, 88, 120, 128, 127, 126, 116, 106,
		101, 105, 113, 109, 112}
	if !bytes.Equal(imgs[:48], red) {
		t.Errorf("first red bytes of record 0: %v, want %v", imgs[:48], red)
	}
	// Roughly 400 per class (the README says "about 400"); a reader that
	// mis-strides records would scramble this.
	d := &Dataset{Labels: labels, Classes: 10}
	for c, n := range d.ClassCounts() {
		if n < 300 || n > 500 {
			t.Errorf("class %d has %d of the 4000 images, want about 400", c, n)
		}
	}

	// The JPEG-derived data_batch_1 has the official labels, so its first
	// 4000 must agree with the exact subset, and its histogram with the
	// README's table.
	full := needShared(t, "cifar-10-batches-bin/data_batch_1.bin")
	_, all, err := ReadCIFAR10(full)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(all[:4000], labels) {
		t.Error("labels of data_batch_1.bin disagree with the exact subset")
	}
	d = &Dataset{Labels: all, Classes: 10}
	want := []int{1005, 974, 1032, 1016, 999, 937, 1030, 1001, 1025, 981}
	if got := d.ClassCounts(); !slices.Equal(got, want) {
		t.Errorf("data_batch_1 class counts %v, want %v", got, want)
	}
}

// cifarRecord builds one record: label bytes then 3072 pixels derived from
// seed so records are distinguishable.
func cifarRecord(seed byte, labels ...byte) []byte {
	r := slices.Clone(labels)
	for i := range cifarPixels {
		r = append(r, seed+byte(i%251))
	}
	return r
}

func TestCIFAR10ConcatenatesInOrder(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, filepath.Join(dir, "a.bin"), slices.Concat(cifarRecord(1, 3), cifarRecord(2, 0)))
	b := writeFile(t, filepath.Join(dir, "b.bin"), cifarRecord(3, 9))
	imgs, labels, err := ReadCIFAR10(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(labels, []int32{3, 0, 9}) {
		t.Fatalf("labels %v", labels)
	}
	want := slices.Concat(cifarRecord(1)[0:], cifarRecord(2), cifarRecord(3))
	if !bytes.Equal(imgs, want) {
		t.Fatal("pixels are not the records' planes in file order")
	}
}

func TestCIFAR10Errors(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, filepath.Join(dir, "data_batch_1.bin"), cifarRecord(0, 1))
	rec := slices.Concat(cifarRecord(0, 1), cifarRecord(0, 2), cifarRecord(0, 3))
	cases := []struct {
		name string
		data []byte
		want []string
	}{
		{"data_batch_2.bin", rec[:len(rec)-1], []string{"size 9218 bytes is not a multiple of the 3073-byte CIFAR-10 record",
			"record 2 (0-based) is truncated, 3072 of 3073 bytes present"}},
		{"empty.bin", nil, []string{"empty file"}},
		{"badlabel.bin", slices.Concat(cifarRecord(0, 1), cifarRecord(0, 10)), []string{"record 1 has label 10, want 0..9"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := writeFile(t, filepath.Join(dir, c.name), c.data)
			// The bad file comes second: the error must still name it.
			_, _, err := ReadCIFAR10(good, p)
			wantErr(t, err, append([]string{"read " + p + ": "}, c.want...)...)
		})
	}
	missing := filepath.Join(dir, "data_batch_5.bin")
	_, _, err := ReadCIFAR10(good, missing)
	wantErr(t, err, "read "+missing+": file does not exist")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %v does not match fs.ErrNotExist", err)
	}
	_, _, err = ReadCIFAR10()
	wantErr(t, err, "no batch files")
}

func TestCIFAR100(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, filepath.Join(dir, "train.bin"), slices.Concat(
		cifarRecord(5, 19, 99), cifarRecord(6, 0, 42), cifarRecord(7, 7, 3)))
	imgs, coarse, err := ReadCIFAR100(p, false)
	if err != nil {
		t.Fatal(err)
	}
	_, fine, err := ReadCIFAR100(p, true)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(coarse, []int32{19, 0, 7}) || !slices.Equal(fine, []int32{99, 42, 3}) {
		t.Fatalf("coarse %v fine %v", coarse, fine)
	}
	if !bytes.Equal(imgs, slices.Concat(cifarRecord(5), cifarRecord(6), cifarRecord(7))) {
		t.Fatal("pixels do not skip both label bytes")
	}

	bad := []struct {
		data []byte
		want string
	}{
		{slices.Concat(cifarRecord(0, 1, 1), cifarRecord(0, 20, 1)), "record 1 has coarse label 20, want 0..19"},
		{cifarRecord(0, 1, 100), "record 0 has fine label 100, want 0..99"},
		{cifarRecord(0, 1, 1)[:3000], "size 3000 bytes is not a multiple of the 3074-byte CIFAR-100 record"},
		// A CIFAR-10 file is the classic mix-up: 3073-byte records.
		{slices.Concat(cifarRecord(0, 1), cifarRecord(0, 2)), "size 6146 bytes is not a multiple of the 3074-byte"},
	}
	for i, c := range bad {
		p := writeFile(t, filepath.Join(dir, "bad"+strings.Repeat("x", i)+".bin"), c.data)
		// Both label bytes are checked whichever one is returned.
		for _, fine := range []bool{false, true} {
			_, _, err := ReadCIFAR100(p, fine)
			wantErr(t, err, p, c.want)
		}
	}
}
