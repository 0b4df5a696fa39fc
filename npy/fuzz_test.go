package npy

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecode: Decode never panics, the sized and streaming paths agree,
// and a decoded array is self-consistent.
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.npy")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(npyBytes(1, hdr("'<f4'", "True", "(2, 3)"), make([]byte, 24)))
	f.Add(npyBytes(2, hdr("'>u8'", "False", "()"), make([]byte, 8)))
	f.Add(npyBytes(1, "{'shape': ((6),), 'descr': u'<i2', 'fortran_order': False}", make([]byte, 12)))
	f.Add(npyBytes(1, hdr("'|b1'", "False", "(2, 0, 3)"), nil))
	f.Add([]byte(magic))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := Decode(bytes.NewReader(b), "fuzz")
		a2, err2 := Decode(plainReader{bytes.NewReader(b)}, "fuzz")
		if (err == nil) != (err2 == nil) {
			t.Fatalf("sized and streamed decoding disagree: %v / %v", err, err2)
		}
		if err != nil {
			return
		}
		if !sameArray(a, a2) {
			t.Fatal("sized and streamed decoding give different arrays")
		}
		n, ok := product(a.Shape)
		if !ok {
			t.Fatalf("shape %v overflows", a.Shape)
		}
		if (a.Float == nil) == (a.Int == nil) {
			t.Fatalf("Float %v and Int %v: want exactly one", a.Float != nil, a.Int != nil)
		}
		if len(a.Float)+len(a.Int) != n {
			t.Fatalf("shape %v holds %d values, got %d", a.Shape, n, len(a.Float)+len(a.Int))
		}
		_, ferr := a.Floats()
		_, ierr := a.Ints()
		if (ferr == nil) == (ierr == nil) {
			t.Fatalf("Floats error %v, Ints error %v: want exactly one", ferr, ierr)
		}
	})
}
