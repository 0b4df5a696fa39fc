package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// idxBytes builds an IDX file in memory: magic, big-endian dims, body.
func idxBytes(magic uint32, dims []uint32, body []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, magic)
	for _, d := range dims {
		binary.Write(&b, binary.BigEndian, d)
	}
	b.Write(body)
	return b.Bytes()
}

func gzipBytes(t *testing.T, raw []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func writeFile(t *testing.T, path string, b []byte) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// wantErr fails unless err is non-nil and contains every fragment.
func wantErr(t *testing.T, err error, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", fragments)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Fatalf("error %q does not contain %q", err, f)
		}
	}
}

func TestIDXRoundTrip(t *testing.T) {
	const n, h, w = 3, 2, 4
	pix := make([]byte, n*h*w)
	for i := range pix {
		pix[i] = byte(i * 7)
	}
	labels := []byte{9, 0, 4}
	img := idxBytes(idxImageMagic, []uint32{n, h, w}, pix)
	lab := idxBytes(idxLabelMagic, []uint32{n}, labels)
	dir := t.TempDir()
	for _, gz := range []bool{false, true} {
		// The name deliberately lies about compression in both cases: the
		// reader must go by content.
		ip, lp := filepath.Join(dir, "img.gz"), filepath.Join(dir, "lab.gz")
		ib, lb := img, lab
		if gz {
			ip, lp = filepath.Join(dir, "img-raw"), filepath.Join(dir, "lab-raw")
			ib, lb = gzipBytes(t, img), gzipBytes(t, lab)
		}
		writeFile(t, ip, ib)
		writeFile(t, lp, lb)
		got, gn, gh, gw, err := ReadIDXImages(ip)
		if err != nil {
			t.Fatalf("gz=%v: %v", gz, err)
		}
		if gn != n || gh != h || gw != w || !bytes.Equal(got, pix) {
			t.Fatalf("gz=%v: got %d %dx%d %v, want %d %dx%d %v", gz, gn, gh, gw, got, n, h, w, pix)
		}
		gl, err := ReadIDXLabels(lp)
		if err != nil {
			t.Fatalf("gz=%v: %v", gz, err)
		}
		if !slices.Equal(gl, []int32{9, 0, 4}) {
			t.Fatalf("gz=%v: labels %v", gz, gl)
		}
	}
}

func TestIDXErrors(t *testing.T) {
	dir := t.TempDir()
	pix := make([]byte, 2*3*3)
	good := idxBytes(idxImageMagic, []uint32{2, 3, 3}, pix)
	cases := []struct {
		name   string
		data   []byte
		labels bool
		want   []string
	}{
		{"t10k-images-idx3-ubyte.gz", idxBytes(idxLabelMagic, []uint32{2}, []byte{1, 2}), false,
			[]string{"t10k-images-idx3-ubyte.gz: wrong magic 0x00000801, want 0x00000803 (an IDX image file)"}},
		{"labels-wrong-magic", good, true, []string{"wrong magic 0x00000803, want 0x00000801 (an IDX label file)"}},
		{"truncated", good[:len(good)-5], false, []string{"truncated", "2 images of 3x3 (18 bytes)", "only 13 bytes"}},
		{"truncated-gz", gzipBytes(t, good[:len(good)-5]), false, []string{"truncated", "only 13 bytes"}},
		{"trailing", append(slices.Clone(good), 1, 2, 3), false, []string{"3 trailing bytes", "2 images of 3x3"}},
		{"trailing-gz", gzipBytes(t, append(slices.Clone(good), 7)), false, []string{"1 trailing bytes"}},
		{"short-header", good[:9], false, []string{"file ends 9 bytes into the 16-byte header"}},
		{"empty", nil, false, []string{"empty file"}},
		{"zero-images", idxBytes(idxImageMagic, []uint32{0, 28, 28}, nil), false, []string{"0 images of 28x28"}},
		{"huge-header", idxBytes(idxImageMagic, []uint32{1 << 31, 1 << 31, 1 << 31}, nil), false, []string{"header is corrupt"}},
		{"bad-label", idxBytes(idxLabelMagic, []uint32{3}, []byte{1, 10, 2}), true, []string{"label 1 is 10, want 0..9"}},
		{"cut-gzip-stream", cutGzip(t), false, []string{"gzip stream is damaged or truncated"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := writeFile(t, filepath.Join(dir, c.name), c.data)
			var err error
			if c.labels {
				_, err = ReadIDXLabels(p)
			} else {
				_, _, _, _, err = ReadIDXImages(p)
			}
			wantErr(t, err, append([]string{p}, c.want...)...)
		})
	}

	missing := filepath.Join(dir, "nope-idx3-ubyte")
	_, _, _, _, err := ReadIDXImages(missing)
	wantErr(t, err, "read "+missing+": file does not exist")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing-file error %v does not match fs.ErrNotExist", err)
	}
	_, err = ReadIDXLabels(dir)
	wantErr(t, err, dir, "is a directory")
}

// cutGzip returns a gzip stream of a valid IDX file cut off mid-data.
func cutGzip(t *testing.T) []byte {
	pix := make([]byte, 100*28*28)
	for i := range pix {
		pix[i] = byte(i * 31 % 251)
	}
	z := gzipBytes(t, idxBytes(idxImageMagic, []uint32{100, 28, 28}, pix))
	return z[:len(z)/2]
}

// The four original MNIST files ship with the repository (data/mnist/).
func TestRealMNIST(t *testing.T) {
	for _, c := range []struct {
		prefix     string
		n          int
		firstLabel int32
	}{{"train", 60000, 5}, {"t10k", 10000, 7}} {
		imgs, n, h, w, err := ReadIDXImages(filepath.Join("mnist", c.prefix+"-images-idx3-ubyte.gz"))
		if err != nil {
			t.Fatal(err)
		}
		labels, err := ReadIDXLabels(filepath.Join("mnist", c.prefix+"-labels-idx1-ubyte.gz"))
		if err != nil {
			t.Fatal(err)
		}
		if n != c.n || h != 28 || w != 28 || len(imgs) != c.n*784 || len(labels) != c.n {
			t.Fatalf("%s: %d images %dx%d (%d bytes), %d labels; want %d 28x28", c.prefix, n, h, w, len(imgs), len(labels), c.n)
		}
		if labels[0] != c.firstLabel {
			t.Errorf("%s: first label %d, want %d", c.prefix, labels[0], c.firstLabel)
		}
		// The border of a centred MNIST digit is blank; a byte-order or
		// offset bug would put ink there.
		for _, i := range []int{0, 27, 28 * 27, 783} {
			if imgs[i] != 0 {
				t.Errorf("%s: corner pixel %d of image 0 is %d, want 0", c.prefix, i, imgs[i])
			}
		}
	}
}
