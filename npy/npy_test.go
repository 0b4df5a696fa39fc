package npy

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// manifest is testdata/manifest.json, written by testdata/make.py.
type manifest struct {
	Readable map[string]struct {
		DType        string   `json:"dtype"`
		Shape        []int    `json:"shape"`
		Values       []string `json:"values"`
		FortranOrder bool     `json:"fortran_order"`
		Version      []int    `json:"version"`
	} `json:"readable"`
	Rejected map[string]string `json:"rejected"`
}

func loadManifest(t testing.TB) manifest {
	b, err := os.ReadFile("testdata/manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Readable) == 0 || len(m.Rejected) == 0 {
		t.Fatal("empty manifest")
	}
	return m
}

// sameFloat reports whether a and b are equal, treating NaNs as equal and
// distinguishing -0 from +0.
func sameFloat(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return a == b && math.Signbit(a) == math.Signbit(b)
}

// plainReader hides the concrete type of a reader, so Decode cannot learn
// the input size and must stream.
type plainReader struct{ r io.Reader }

func (p plainReader) Read(b []byte) (int, error) { return p.r.Read(b) }

// TestNumpyFixtures reads every file numpy wrote and compares it with the
// values numpy recorded in the manifest.
func TestNumpyFixtures(t *testing.T) {
	m := loadManifest(t)
	versions := map[string]bool{}
	for name, want := range m.Readable {
		path := filepath.Join("testdata", name)
		a, err := Read(path)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		versions[fmt.Sprint(want.Version)] = true
		if a.DType != want.DType {
			t.Errorf("%s: dtype %s, want %s", name, a.DType, want.DType)
		}
		if !reflect.DeepEqual(a.Shape, want.Shape) {
			t.Errorf("%s: shape %v, want %v", name, a.Shape, want.Shape)
		}
		if strings.HasPrefix(want.DType, "f") {
			got, err := a.Floats()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if _, err := a.Ints(); err == nil || !strings.Contains(err.Error(), path) {
				t.Errorf("%s: Ints on a float array: error %v", name, err)
			}
			if len(got) != len(want.Values) {
				t.Fatalf("%s: %d values, want %d", name, len(got), len(want.Values))
			}
			for i, s := range want.Values {
				w, err := strconv.ParseFloat(s, 64)
				if err != nil {
					t.Fatal(err)
				}
				if !sameFloat(got[i], w) {
					t.Errorf("%s[%d] = %v, want %v", name, i, got[i], w)
				}
			}
		} else {
			got, err := a.Ints()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if _, err := a.Floats(); err == nil || !strings.Contains(err.Error(), path) {
				t.Errorf("%s: Floats on an integer array: error %v", name, err)
			}
			if len(got) != len(want.Values) {
				t.Fatalf("%s: %d values, want %d", name, len(got), len(want.Values))
			}
			for i, s := range want.Values {
				w, err := strconv.ParseInt(s, 10, 64)
				if err != nil {
					t.Fatal(err)
				}
				if got[i] != w {
					t.Errorf("%s[%d] = %v, want %v", name, i, got[i], w)
				}
			}
		}

		// The streaming path gives the same array.
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		b, err := Decode(plainReader{bytes.NewReader(raw)}, name)
		if err != nil {
			t.Errorf("%s streamed: %v", name, err)
		} else if !sameArray(a, b) {
			t.Errorf("%s: streamed decode differs", name)
		}
	}
	for _, v := range []string{"[1 0]", "[2 0]", "[3 0]"} {
		if !versions[v] {
			t.Errorf("no fixture of format version %s", v)
		}
	}
}

func sameArray(a, b *Array) bool {
	if a.DType != b.DType || !reflect.DeepEqual(a.Shape, b.Shape) || len(a.Float) != len(b.Float) ||
		!reflect.DeepEqual(a.Int, b.Int) || (a.Float == nil) != (b.Float == nil) {
		return false
	}
	for i := range a.Float {
		if !sameFloat(a.Float[i], b.Float[i]) {
			return false
		}
	}
	return true
}

// TestRejectedFixtures: numpy files of unsupported dtypes fail with an error
// naming the file and the dtype.
func TestRejectedFixtures(t *testing.T) {
	m := loadManifest(t)
	want := map[string][]string{
		"unicode_U3.npy":  {"'<U3'", "unicode strings"},
		"bytes_S2.npy":    {"'|S2'", "byte strings"},
		"object.npy":      {"'|O'", "Python objects"},
		"complex_c8.npy":  {"'<c8'", "complex numbers"},
		"datetime_M8.npy": {"'<M8[D]'", "datetime64"},
		"structured.npy":  {"structured dtype", "('x', '<f4')"},
	}
	if len(want) != len(m.Rejected) {
		t.Errorf("manifest rejects %d files, test expects %d", len(m.Rejected), len(want))
	}
	for name, subs := range want {
		path := filepath.Join("testdata", name)
		_, err := Read(path)
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		for _, s := range append(subs, path) {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s: error %q does not mention %q", name, err, s)
			}
		}
	}
}

// TestWriteMatchesNumpy: the writers produce the same bytes as numpy.save.
func TestWriteMatchesNumpy(t *testing.T) {
	m := loadManifest(t)
	dir := t.TempDir()
	for _, name := range []string{"features_f4.npy", "filters_f4.npy", "empty_f4.npy", "features_f8_2d.npy", "scalar_f8.npy", "labels_i8.npy"} {
		fix := m.Readable[name]
		out := filepath.Join(dir, name)
		var err error
		switch fix.DType {
		case "f4":
			data := make([]float32, len(fix.Values))
			for i, s := range fix.Values {
				v, _ := strconv.ParseFloat(s, 64)
				data[i] = float32(v)
			}
			err = WriteFloat32(out, fix.Shape, data)
		case "f8":
			data := make([]float64, len(fix.Values))
			for i, s := range fix.Values {
				data[i], _ = strconv.ParseFloat(s, 64)
			}
			err = WriteFloat64(out, fix.Shape, data)
		case "i8":
			data := make([]int64, len(fix.Values))
			for i, s := range fix.Values {
				data[i], _ = strconv.ParseInt(s, 10, 64)
			}
			err = WriteInt64(out, fix.Shape, data)
		default:
			t.Fatalf("%s: dtype %s", name, fix.DType)
		}
		if err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(out)
		want, _ := os.ReadFile(filepath.Join("testdata", name))
		if !bytes.Equal(got, want) {
			t.Errorf("%s: written bytes differ from numpy's:\n got %q\nwant %q", name, got, want)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	shapes := [][]int{{}, {0}, {5}, {2, 3}, {2, 3, 2, 2}, {0, 4}, {1, 1, 1}}
	for _, shape := range shapes {
		n, _ := product(shape)
		f32 := make([]float32, n)
		f64 := make([]float64, n)
		i64 := make([]int64, n)
		for i := range n {
			f32[i] = float32(i)*0.75 - 3
			f64[i] = float64(i)/3 - 1e10
			i64[i] = int64(i)*1e15 - 7
		}
		if n >= 3 {
			f32[0], f32[1], f32[2] = float32(math.Inf(-1)), float32(math.Copysign(0, -1)), math.MaxFloat32
			f64[0], f64[1], f64[2] = math.NaN(), math.SmallestNonzeroFloat64, math.MaxFloat64
			i64[0], i64[1] = math.MinInt64, math.MaxInt64
		}
		label := fmt.Sprint(shape)

		p := filepath.Join(dir, "f32.npy")
		if err := WriteFloat32(p, shape, f32); err != nil {
			t.Fatal(err)
		}
		a := mustRead(t, p, "f4", shape)
		for i := range f32 {
			if !sameFloat(a.Float[i], float64(f32[i])) {
				t.Errorf("f32 %s [%d]: %v, want %v", label, i, a.Float[i], f32[i])
			}
		}

		p = filepath.Join(dir, "f64.npy")
		if err := WriteFloat64(p, shape, f64); err != nil {
			t.Fatal(err)
		}
		a = mustRead(t, p, "f8", shape)
		for i := range f64 {
			if !sameFloat(a.Float[i], f64[i]) {
				t.Errorf("f64 %s [%d]: %v, want %v", label, i, a.Float[i], f64[i])
			}
		}

		p = filepath.Join(dir, "i64.npy")
		if err := WriteInt64(p, shape, i64); err != nil {
			t.Fatal(err)
		}
		a = mustRead(t, p, "i8", shape)
		if !reflect.DeepEqual(a.Int, i64) {
			t.Errorf("i64 %s: %v, want %v", label, a.Int, i64)
		}
	}
	// Only the three final files remain (no temporaries), readable by others.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 {
		t.Errorf("directory holds %v", entries)
	}
	for _, e := range entries {
		info, _ := e.Info()
		if info.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v, want 0644", e.Name(), info.Mode())
		}
	}
}

func mustRead(t *testing.T, path, dtype string, shape []int) *Array {
	t.Helper()
	a, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if a.DType != dtype || len(a.Shape) != len(shape) || fmt.Sprint(a.Shape) != fmt.Sprint(shape) {
		t.Fatalf("%s: dtype %s shape %v, want %s %v", path, a.DType, a.Shape, dtype, shape)
	}
	return a
}

// TestLargeMultiChunk reads an array larger than one read chunk, through
// both the sized and the streaming paths.
func TestLargeMultiChunk(t *testing.T) {
	const n = chunkBytes/4*2 + 123
	data := make([]float32, n)
	for i := range data {
		data[i] = float32(i % 1000)
	}
	p := filepath.Join(t.TempDir(), "big.npy")
	if err := WriteFloat32(p, []int{n}, data); err != nil {
		t.Fatal(err)
	}
	a, err := Read(p)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(p)
	b, err := Decode(plainReader{bytes.NewReader(raw)}, "big")
	if err != nil {
		t.Fatal(err)
	}
	for i := range data {
		if a.Float[i] != float64(data[i]) || b.Float[i] != float64(data[i]) {
			t.Fatalf("[%d]: %v %v, want %v", i, a.Float[i], b.Float[i], data[i])
		}
	}
	// Truncated by 10 bytes, streamed: the error says how many are missing.
	_, err = Decode(plainReader{bytes.NewReader(raw[:len(raw)-10])}, "big")
	if err == nil || !strings.Contains(err.Error(), "(10 missing)") {
		t.Errorf("truncated stream: %v", err)
	}
}

func TestWriteErrors(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.npy")
	cases := []struct {
		shape []int
		n     int
		want  string
	}{
		{[]int{2, 3}, 5, "holds 6 values but the data has 5"},
		{[]int{}, 0, "holds 1 values but the data has 0"},
		{[]int{-1, 2}, 2, "dimension 0 is negative"},
		{make([]int, 33), 0, "at most 32"},
		{[]int{math.MaxInt, 3}, 0, "too many elements"},
	}
	for _, c := range cases {
		err := WriteFloat32(p, c.shape, make([]float32, c.n))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("shape %v, %d values: error %v, want %q", c.shape, c.n, err, c.want)
		}
	}
	if err := WriteInt64(filepath.Join(dir, "missing", "x.npy"), []int{1}, []int64{1}); err == nil {
		t.Error("write into a missing directory succeeded")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("failed writes left files: %v", entries)
	}
	// Overwriting replaces the file.
	if err := WriteInt64(p, []int{1}, []int64{1}); err != nil {
		t.Fatal(err)
	}
	if err := WriteInt64(p, []int{2}, []int64{4, 5}); err != nil {
		t.Fatal(err)
	}
	if a, err := Read(p); err != nil || !reflect.DeepEqual(a.Int, []int64{4, 5}) {
		t.Errorf("after overwrite: %v %v", a, err)
	}
}

// TestNumpyLoadsOurFiles has the real numpy load files this package wrote.
func TestNumpyLoadsOurFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("runs python3")
	}
	python := "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import numpy").Run(); err != nil {
		t.Skipf("no numpy: %v", err)
	}
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(WriteFloat32(filepath.Join(dir, "a.npy"), []int{2, 1, 2}, []float32{1.5, -2, float32(math.Inf(1)), 0.1}))
	must(WriteFloat64(filepath.Join(dir, "b.npy"), []int{}, []float64{math.Pi}))
	must(WriteInt64(filepath.Join(dir, "c.npy"), []int{3}, []int64{math.MinInt64, 0, 42}))
	must(WriteFloat32(filepath.Join(dir, "d.npy"), []int{0, 5}, nil))
	script := `
import sys, numpy as np
for n in "abcd":
    a = np.load(sys.argv[1] + "/" + n + ".npy", allow_pickle=False)
    print(n, a.dtype.str, a.shape, a.flags.c_contiguous, a.reshape(-1).tolist())
`
	out, err := exec.Command(python, "-c", script, dir).CombinedOutput()
	if err != nil {
		t.Fatalf("numpy.load: %v\n%s", err, out)
	}
	want := `a <f4 (2, 1, 2) True [1.5, -2.0, inf, 0.10000000149011612]
b <f8 () True [3.141592653589793]
c <i8 (3,) True [-9223372036854775808, 0, 42]
d <f4 (0, 5) True []
`
	if string(out) != want {
		t.Errorf("numpy read:\n%s\nwant:\n%s", out, want)
	}
}

// npyBytes lays out a .npy file by hand: version major.0, header text
// padded to 64 bytes, then data.
func npyBytes(major byte, header string, data []byte) []byte {
	lenSize := 2
	if major >= 2 {
		lenSize = 4
	}
	hl := len(header) + 1
	hl += (64 - (6+2+lenSize+hl)%64) % 64
	header += strings.Repeat(" ", hl-len(header)-1) + "\n"
	b := append([]byte(magic), major, 0)
	if lenSize == 2 {
		b = binary.LittleEndian.AppendUint16(b, uint16(hl))
	} else {
		b = binary.LittleEndian.AppendUint32(b, uint32(hl))
	}
	b = append(b, header...)
	return append(b, data...)
}

func hdr(descr, fortran, shape string) string {
	return "{'descr': " + descr + ", 'fortran_order': " + fortran + ", 'shape': " + shape + ", }"
}

// decodeBoth decodes b through the sized and the streaming paths, which
// must agree on success.
func decodeBoth(t *testing.T, b []byte) (*Array, error) {
	t.Helper()
	a, err := Decode(bytes.NewReader(b), "test.npy")
	a2, err2 := Decode(plainReader{bytes.NewReader(b)}, "test.npy")
	if (err == nil) != (err2 == nil) {
		t.Fatalf("sized and streamed decoding disagree: %v / %v", err, err2)
	}
	if err == nil && !sameArray(a, a2) {
		t.Fatalf("sized and streamed decoding give different arrays")
	}
	return a, err
}

func TestDecodeErrors(t *testing.T) {
	f4x6 := make([]byte, 24)
	good := npyBytes(1, hdr("'<f4'", "False", "(2, 3)"), f4x6)
	v2len := append([]byte(magic), 2, 0, 0xff, 0xff, 0xff, 0xff)
	cases := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "empty file"},
		{"wrong magic", append([]byte("\x93NUMPX\x01\x00"), good[8:]...), `not a .npy file: it starts with "\x93NUMPX`},
		{"text", []byte("hello"), `not a .npy file: it starts with "hello"`},
		{"npz", []byte("PK\x03\x04\x14\x00\x00\x00"), "zip archive"},
		{"short magic", []byte("\x93NUM"), "truncated file: it ends after 4 bytes, inside the magic string"},
		{"no version", []byte(magic + "\x01"), "inside the magic string and version"},
		{"version 4.0", append([]byte(magic), 4, 0, 0, 0), "unsupported .npy format version 4.0"},
		{"version 1.1", append([]byte(magic), 1, 1, 0, 0), "unsupported .npy format version 1.1"},
		{"version 0.0", append([]byte(magic), 0, 0, 0, 0), "unsupported .npy format version 0.0"},
		{"truncated length", append([]byte(magic), 2, 0, 5), "inside the header length field (1 of 4 bytes present)"},
		{"truncated header", good[:40], "truncated file"},
		{"header too long", v2len, "header length 4294967295 exceeds the limit"},
		{"truncated data", good[:len(good)-5], "needs 24 bytes but only 19 are present (5 missing)"},
		{"no data", good[:len(good)-24], "(24 missing)"},
		{"trailing data", append(append([]byte{}, good...), 1, 2, 3), "3 unexpected bytes after the data"},
		{"unsupported dtype", npyBytes(1, hdr("'<c16'", "False", "(1,)"), make([]byte, 16)), "unsupported dtype '<c16' (complex numbers)"},
		{"long double", npyBytes(1, hdr("'<f16'", "False", "(1,)"), make([]byte, 16)), "unsupported dtype '<f16' (floats of this size)"},
		{"object dtype", npyBytes(1, hdr("'|O'", "False", "(1,)"), make([]byte, 8)), "unsupported dtype '|O' (Python objects)"},
		{"unicode dtype", npyBytes(1, hdr("'<U3'", "False", "(1,)"), make([]byte, 12)), "'<U3' (unicode strings)"},
		{"structured", npyBytes(1, hdr("[('a', '<f4')]", "False", "(1,)"), make([]byte, 4)), "structured dtype"},
		{"descr not a string", npyBytes(1, hdr("4", "False", "(1,)"), make([]byte, 4)), "'descr' must be a dtype string"},
		{"empty descr", npyBytes(1, hdr("''", "False", "(1,)"), make([]byte, 4)), "empty dtype string"},
		{"no byte order", npyBytes(1, hdr("'f4'", "False", "(1,)"), make([]byte, 4)), "no byte-order character"},
		{"pipe order f4", npyBytes(1, hdr("'|f4'", "False", "(1,)"), make([]byte, 4)), "'|' (not applicable) is only valid for one-byte types"},
		{"native order", npyBytes(1, hdr("'=i8'", "False", "(1,)"), make([]byte, 8)), "native byte order '='"},
		{"u8 overflow", npyBytes(1, hdr("'<u8'", "False", "(2,)"), append(make([]byte, 8), 0, 0, 0, 0, 0, 0, 0, 0x80)), "u8 value 9223372036854775808 at flat index 1 does not fit in int64"},
		{"fortran not bool", npyBytes(1, hdr("'<f4'", "0", "(1,)"), make([]byte, 4)), "'fortran_order' must be True or False, got 0"},
		{"missing colon", npyBytes(1, "{'descr' '<f4', 'fortran_order': False, 'shape': (1,), }", make([]byte, 4)), "expected ':' after key 'descr'"},
		{"unterminated string", npyBytes(1, "{'descr': '<f4, 'fortran_order': False, 'shape': (1,), }", make([]byte, 4)), "header syntax error"},
		{"garbage after dict", npyBytes(1, hdr("'<f4'", "False", "(1,)")+" x", make([]byte, 4)), "unexpected 'x' after the header dict"},
		{"not a dict", npyBytes(1, "[1, 2]", nil), "expected '{' to start the header dict"},
		{"unclosed dict", npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)", make([]byte, 4)), "expected ',' or '}'"},
		{"unquoted key", npyBytes(1, "{descr: '<f4', 'fortran_order': False, 'shape': (1,), }", make([]byte, 4)), "expected a quoted dict key"},
		{"name value", npyBytes(1, hdr("'<f4'", "false", "(1,)"), make([]byte, 4)), `unexpected name "false"`},
		{"expression", npyBytes(1, hdr("'<f4'", "False", "(1+1,)"), make([]byte, 8)), "expected ',' or ')'"},
		{"float dim", npyBytes(1, hdr("'<f4'", "False", "(1.0,)"), make([]byte, 4)), "only decimal integers"},
		{"hex dim", npyBytes(1, hdr("'<f4'", "False", "(0x1,)"), make([]byte, 4)), "only decimal integers"},
		{"leading zero", npyBytes(1, hdr("'<f4'", "False", "(01,)"), make([]byte, 4)), "leading zero"},
		{"double comma", npyBytes(1, hdr("'<f4'", "False", "(1,,)"), make([]byte, 4)), "unexpected ',', expected a value"},
		{"duplicate key", npyBytes(1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", make([]byte, 4)), "key 'descr' appears twice"},
		{"missing key", npyBytes(1, "{'descr': '<f4', 'fortran_order': False}", make([]byte, 4)), "no 'shape' key"},
		{"extra key", npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", make([]byte, 4)), "unexpected header key 'x'"},
		{"shape not tuple", npyBytes(1, hdr("'<f4'", "False", "(5)"), make([]byte, 20)), "(a 1-d shape is written (5,))"},
		{"shape list", npyBytes(1, hdr("'<f4'", "False", "[5]"), make([]byte, 20)), "'shape' must be a tuple of integers, got [5]"},
		{"shape of bools", npyBytes(1, hdr("'<f4'", "False", "(True,)"), make([]byte, 4)), "dimension 0 is True, not an integer"},
		{"negative dim", npyBytes(1, hdr("'<f4'", "False", "(2, -3)"), nil), "dimension 1 is negative (-3)"},
		{"huge dim", npyBytes(1, hdr("'<f4'", "False", "(99999999999999999999,)"), nil), "dimension 0 (99999999999999999999) is too large"},
		{"count overflow", npyBytes(1, hdr("'<f4'", "False", "(4294967296, 4294967296)"), nil), "too many elements"},
		{"bytes overflow", npyBytes(1, hdr("'<f8'", "False", "(4611686018427387904,)"), nil), "needs too many bytes"},
		{"huge but plausible", npyBytes(1, hdr("'<f8'", "False", "(1000000000, 1000)"), make([]byte, 8)), "needs 8000000000000 bytes but only 8 are present"},
		{"deep nesting", npyBytes(1, "{'descr': "+strings.Repeat("(", 100)+"1"+strings.Repeat(")", 100)+"}", nil), "nesting deeper than 32"},
		{"bad escape", npyBytes(1, hdr(`'<f\q'`, "False", "(1,)"), make([]byte, 4)), `unsupported escape \q`},
		{"bad utf-8 in v3", npyBytes(3, hdr("'<f4'", "False", "(1,)")+"\xff", make([]byte, 4)), "not valid UTF-8"},
		{"long suffix in v3", npyBytes(3, hdr("'<f4'", "False", "(1L,)"), make([]byte, 4)), "only decimal integers"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := decodeBoth(t, c.in)
			if err == nil {
				t.Fatalf("no error, want %q", c.want)
			}
			msg := err.Error()
			t.Log(msg)
			if !strings.HasPrefix(msg, "read test.npy: ") || !strings.Contains(msg, c.want) {
				t.Errorf("error %q, want it to name test.npy and contain %q", msg, c.want)
			}
		})
	}
}

// TestHeaderForms: headers numpy or other writers may produce.
func TestHeaderForms(t *testing.T) {
	cases := []struct {
		major  byte
		header string
		shape  []int
	}{
		{1, "{'shape': (2, 3), 'fortran_order': False, 'descr': '<f4'}", []int{2, 3}},
		{1, `{"descr": "<f4", "fortran_order": False, "shape": (2,3,)}`, []int{2, 3}},
		{1, "{ 'descr' : '<f4' ,\n 'fortran_order' : False ,\n 'shape' : ( 6 , ) , }", []int{6}},
		{1, "{'descr': u'<f4', 'fortran_order': False, 'shape': (6L,)}", []int{6}},
		{2, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 1, 3, 1), }", []int{1, 2, 1, 3, 1}},
		{1, "{'descr': '<f4', 'fortran_order': False, 'shape': ((6),), }", []int{6}},
	}
	for _, c := range cases {
		a, err := decodeBoth(t, npyBytes(c.major, c.header, make([]byte, 24)))
		if err != nil {
			t.Errorf("%q: %v", c.header, err)
			continue
		}
		if !reflect.DeepEqual(a.Shape, c.shape) {
			t.Errorf("%q: shape %v, want %v", c.header, a.Shape, c.shape)
		}
	}
	// A header ending without the newline, and not 64-aligned, as numpy
	// accepts it.
	h := hdr("'<i2'", "False", "()")
	b := append([]byte(magic), 1, 0)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(h)))
	b = append(append(b, h...), 0xfe, 0xff)
	a, err := decodeBoth(t, b)
	if err != nil || len(a.Shape) != 0 || !reflect.DeepEqual(a.Int, []int64{-2}) {
		t.Errorf("unpadded 0-d header: %+v %v", a, err)
	}
	// One-byte types accept any byte-order character.
	for _, d := range []string{"'<u1'", "'>u1'", "'|u1'", "'=u1'", "'|b1'"} {
		if _, err := decodeBoth(t, npyBytes(1, hdr(d, "False", "(3,)"), []byte{0, 2, 255})); err != nil {
			t.Errorf("%s: %v", d, err)
		}
	}
}

func TestFortranToC(t *testing.T) {
	// A (2, 3) array [[0 1 2] [3 4 5]] in column-major order.
	got := fortranToC([]int{0, 3, 1, 4, 2, 5}, []int{2, 3})
	if !reflect.DeepEqual(got, []int{0, 1, 2, 3, 4, 5}) {
		t.Errorf("got %v", got)
	}
	// Bools in Fortran order are transposed too.
	a, err := decodeBoth(t, npyBytes(1, hdr("'|b1'", "True", "(2, 2)"), []byte{1, 0, 0, 1}))
	if err != nil || !reflect.DeepEqual(a.Int, []int64{1, 0, 0, 1}) {
		t.Errorf("bools: %+v %v", a, err)
	}
	a, err = decodeBoth(t, npyBytes(1, hdr("'|u1'", "True", "(2, 3)"), []byte{0, 3, 1, 4, 2, 5}))
	if err != nil || !reflect.DeepEqual(a.Int, []int64{0, 1, 2, 3, 4, 5}) {
		t.Errorf("u1: %+v %v", a, err)
	}
}

func TestHalf(t *testing.T) {
	cases := map[uint16]float64{
		0x0000: 0, 0x8000: math.Copysign(0, -1), 0x3c00: 1, 0xc000: -2, 0x7bff: 65504,
		0x0001: math.Ldexp(1, -24), 0x03ff: math.Ldexp(1023, -24), 0x0400: math.Ldexp(1, -14),
		0x7c00: math.Inf(1), 0xfc00: math.Inf(-1), 0x3555: 0.333251953125,
	}
	for h, want := range cases {
		if got := halfToFloat64(h); !sameFloat(got, want) {
			t.Errorf("%#04x: %v, want %v", h, got, want)
		}
	}
	if !math.IsNaN(halfToFloat64(0x7e00)) || !math.IsNaN(halfToFloat64(0xfc01)) {
		t.Error("NaN not decoded")
	}
}

func TestAccessorErrors(t *testing.T) {
	a := &Array{Shape: []int{1}, Int: []int64{1}, DType: "i8"}
	if _, err := a.Floats(); err == nil || !strings.Contains(err.Error(), "dtype i8 is not a float dtype") {
		t.Errorf("Floats: %v", err)
	}
	if v, err := a.Ints(); err != nil || v[0] != 1 {
		t.Errorf("Ints: %v %v", v, err)
	}
	var empty Array
	if _, err := empty.Ints(); err == nil {
		t.Error("Ints on a zero Array succeeded")
	}
	if _, err := empty.Floats(); err == nil {
		t.Error("Floats on a zero Array succeeded")
	}
	if _, err := Read(filepath.Join(t.TempDir(), "nope.npy")); err == nil || !strings.Contains(err.Error(), "nope.npy") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := Read(t.TempDir()); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("directory: %v", err)
	}
}

func BenchmarkReadFloat32(b *testing.B) {
	const n = 1 << 22
	p := filepath.Join(b.TempDir(), "x.npy")
	if err := WriteFloat32(p, []int{n / 64, 64}, make([]float32, n)); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(4 * n)
	for b.Loop() {
		if _, err := Read(p); err != nil {
			b.Fatal(err)
		}
	}
}
