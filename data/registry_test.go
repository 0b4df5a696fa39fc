package data

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// isolate points the user cache and $EVOPRUNE_DATA at empty places so a
// developer's real downloads cannot leak into a test.
func isolate(t *testing.T) string {
	t.Helper()
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	t.Setenv("HOME", cache)
	t.Setenv(EnvDataDir, "")
	return cache
}

func TestSearchRoots(t *testing.T) {
	cache := isolate(t)
	a, b := t.TempDir(), t.TempDir()
	t.Setenv(EnvDataDir, a+string(os.PathListSeparator)+string(os.PathListSeparator)+b+string(os.PathListSeparator)+a)
	cwd, _ := os.Getwd()
	want := []string{a, b, filepath.Join(cwd, "data"), filepath.Join(cache, "evoprune")}
	if got := SearchRoots(Options{}); !slices.Equal(got, want) {
		t.Errorf("SearchRoots = %q, want %q", got, want)
	}
	if got := SearchRoots(Options{DataDir: b}); !slices.Equal(got, []string{b}) {
		t.Errorf("with DataDir: %q, want only %q", got, b)
	}
}

func TestLoadNotFound(t *testing.T) {
	cache := isolate(t)
	env := filepath.Join(t.TempDir(), "from-env")
	t.Setenv(EnvDataDir, env)
	_, err := Load("cifar100", "train", Options{})
	var nf *NotFoundError
	if !errors.As(err, &nf) {
		t.Fatalf("got %v, want a *NotFoundError", err)
	}
	cwd, _ := os.Getwd()
	msg := err.Error()
	for _, dir := range []string{env, filepath.Join(cwd, "data"), filepath.Join(cache, "evoprune")} {
		if !slices.Contains(nf.Searched, dir) || !strings.Contains(msg, dir) {
			t.Errorf("searched %q; message does not list %s:\n%s", nf.Searched, dir, msg)
		}
	}
	for _, s := range []string{"cifar100", "train.bin", "--data-dir", EnvDataDir, "--download", filepath.Join(cache, "evoprune", "cifar100")} {
		if !strings.Contains(msg, s) {
			t.Errorf("message lacks %q:\n%s", s, msg)
		}
	}

	// An explicit --data-dir is the only place searched, and the message
	// says so.
	dir := t.TempDir()
	_, err = Load("mnist", "test", Options{DataDir: dir})
	wantErr(t, err, "Searched only --data-dir", dir+" (none of the files)", filepath.Join(dir, "mnist")+" (does not exist)",
		"t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz]")
	if strings.Contains(err.Error(), env) {
		t.Errorf("explicit --data-dir search also listed %s:\n%v", env, err)
	}
	t.Logf("example message:\n%v", err)
}

func TestLoadArgs(t *testing.T) {
	_, err := Load("imagenet", "train", Options{DataDir: t.TempDir()})
	wantErr(t, err, `unknown dataset "imagenet" (known: cifar10, cifar100, mnist)`)
	_, err = Load("mnist", "val", Options{DataDir: t.TempDir()})
	wantErr(t, err, `unknown split "val"`)
	info, err := Lookup("cifar100")
	if err != nil || info.Classes != 100 || info.C != 3 || info.Mean[2] != 0.4409 || info.Std[0] != 0.2673 {
		t.Errorf("Lookup(cifar100) = %+v, %v", info, err)
	}
}

func TestLoadMNIST(t *testing.T) {
	// The package directory holds mnist/ with the original .gz files.
	d, err := Load("mnist", "test", Options{DataDir: "."})
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "mnist" || d.N != 10000 || d.C != 1 || d.H != 28 || d.W != 28 || d.Classes != 10 || d.Labels[0] != 7 {
		t.Fatalf("got %s N=%d %dx%dx%d classes=%d first=%d", d.Name, d.N, d.C, d.H, d.W, d.Classes, d.Labels[0])
	}
	if !slices.Equal(d.Mean, []float32{0.1307}) || !slices.Equal(d.Std, []float32{0.3081}) {
		t.Errorf("normalisation %v %v", d.Mean, d.Std)
	}
	if c := d.ClassCounts(); c[0] != 980 || c[1] != 1135 {
		t.Errorf("test class counts %v, want 980 zeros and 1135 ones", c)
	}
}

func TestLoadSharedCIFAR10(t *testing.T) {
	needShared(t, "cifar-10-batches-bin/test_batch.bin")
	// Both the parent of cifar10/ and cifar10/ itself work as a root.
	for _, root := range []string{filepath.Dir(sharedCIFAR10), sharedCIFAR10} {
		d, err := Load("cifar10", "test", Options{DataDir: root})
		if err != nil {
			t.Fatal(err)
		}
		if d.N != 10000 || d.C != 3 || d.H != 32 || d.W != 32 || d.Classes != 10 {
			t.Fatalf("%s: N=%d %dx%dx%d", root, d.N, d.C, d.H, d.W)
		}
		for c, n := range d.ClassCounts() {
			if n != 1000 {
				t.Errorf("class %d has %d test images, want 1000", c, n)
			}
		}
		// The README: the rebuilt test batch is class-interleaved.
		if !slices.Equal(d.Labels[:12], []int32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1}) {
			t.Errorf("first test labels %v", d.Labels[:12])
		}
		if d.Mean[0] != 0.4914 || d.Std[2] != 0.2616 {
			t.Errorf("normalisation %v %v", d.Mean, d.Std)
		}
	}
}

// writeCIFAR10Dir writes the six batch files with one record each; the
// record's label is the batch number so order can be checked.
func writeCIFAR10Dir(t *testing.T, dir string, skip string) {
	for i, name := range []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"} {
		if name != skip {
			writeFile(t, filepath.Join(dir, name), cifarRecord(byte(i), byte(i)))
		}
	}
}

func TestLoadLayouts(t *testing.T) {
	isolate(t)
	for _, rel := range []string{"cifar10/cifar-10-batches-bin", "cifar-10-batches-bin", "."} {
		root := t.TempDir()
		writeCIFAR10Dir(t, filepath.Join(root, rel), "")
		d, err := Load("cifar10", "train", Options{DataDir: root})
		if err != nil {
			t.Fatalf("layout %s: %v", rel, err)
		}
		if !slices.Equal(d.Labels, []int32{0, 1, 2, 3, 4}) {
			t.Errorf("layout %s: labels %v, want the five batches in order", rel, d.Labels)
		}
	}
	for _, rel := range []string{"cifar100/cifar-100-binary", "cifar-100-binary", "."} {
		root := t.TempDir()
		writeFile(t, filepath.Join(root, rel, "test.bin"), slices.Concat(cifarRecord(0, 3, 77), cifarRecord(1, 4, 5)))
		d, err := Load("cifar100", "test", Options{DataDir: root})
		if err != nil {
			t.Fatalf("layout %s: %v", rel, err)
		}
		if d.Classes != 100 || !slices.Equal(d.Labels, []int32{77, 5}) {
			t.Errorf("layout %s: classes %d labels %v, want the fine labels", rel, d.Classes, d.Labels)
		}
	}
	// Un-gzipped MNIST files, found through $EVOPRUNE_DATA.
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "mnist", "t10k-images-idx3-ubyte"), idxBytes(idxImageMagic, []uint32{2, 28, 28}, make([]byte, 2*784)))
	writeFile(t, filepath.Join(root, "mnist", "t10k-labels-idx1-ubyte"), idxBytes(idxLabelMagic, []uint32{2}, []byte{3, 1}))
	t.Setenv(EnvDataDir, root)
	d, err := Load("mnist", "test", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d.N != 2 || !slices.Equal(d.Labels, []int32{3, 1}) {
		t.Errorf("raw MNIST: N=%d labels %v", d.N, d.Labels)
	}
}

func TestLoadBadFiles(t *testing.T) {
	isolate(t)
	// A missing batch is reported as such, not as "nothing found".
	root := t.TempDir()
	dir := filepath.Join(root, "cifar10", "cifar-10-batches-bin")
	writeCIFAR10Dir(t, dir, "data_batch_3.bin")
	_, err := Load("cifar10", "train", Options{DataDir: root})
	wantErr(t, err, dir+" (has some files but lacks data_batch_3.bin)")

	// A truncated batch that is found is an error naming that file, never
	// a silently smaller dataset.
	bad := writeFile(t, filepath.Join(dir, "data_batch_3.bin"), cifarRecord(0, 1)[:1000])
	_, err = Load("cifar10", "train", Options{DataDir: root})
	wantErr(t, err, "load cifar10 train: read "+bad+": size 1000 bytes is not a multiple of the 3073-byte CIFAR-10 record")

	// MNIST images and labels that disagree in count.
	mroot := t.TempDir()
	writeFile(t, filepath.Join(mroot, "t10k-images-idx3-ubyte"), idxBytes(idxImageMagic, []uint32{2, 28, 28}, make([]byte, 2*784)))
	lab := writeFile(t, filepath.Join(mroot, "t10k-labels-idx1-ubyte.gz"), gzipBytes(t, idxBytes(idxLabelMagic, []uint32{3}, []byte{3, 1, 2})))
	_, err = Load("mnist", "test", Options{DataDir: mroot})
	wantErr(t, err, lab, "3 labels for the 2 images")
	// MNIST-format files of the wrong size.
	img := writeFile(t, filepath.Join(mroot, "t10k-images-idx3-ubyte"), idxBytes(idxImageMagic, []uint32{3, 32, 32}, make([]byte, 3*1024)))
	_, err = Load("mnist", "test", Options{DataDir: mroot})
	wantErr(t, err, img, "images are 32x32, want 28x28")
}
