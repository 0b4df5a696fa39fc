package main

import (
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/evoprune/evoprune/npy"
)

// writeLayer writes features [N, C, 2, 2], labels [N] and filters [C, 2, 1, 1].
func writeLayer(t *testing.T) (dir string, w []float32) {
	dir = t.TempDir()
	const n, c = 12, 3
	feat := make([]float32, n*c*4)
	for i := range feat {
		feat[i] = float32(math.Sin(float64(i)*1.3) + float64(i%5))
	}
	labels := make([]int64, n)
	for i := range labels {
		labels[i] = int64(i % 3)
	}
	w = []float32{1, -2, 0.5, 0.25, -3, 4}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(npy.WriteFloat32(filepath.Join(dir, "f.npy"), []int{n, c, 2, 2}, feat))
	must(npy.WriteInt64(filepath.Join(dir, "y.npy"), []int{n}, labels))
	must(npy.WriteFloat32(filepath.Join(dir, "w.npy"), []int{c, 2, 1, 1}, w))
	must(npy.WriteFloat32(filepath.Join(dir, "yf.npy"), []int{n}, make([]float32, n)))
	must(npy.WriteInt64(filepath.Join(dir, "y5.npy"), []int{5}, make([]int64, 5)))
	must(npy.WriteFloat32(filepath.Join(dir, "f3.npy"), []int{n, c, 4}, feat))
	return dir, w
}

func TestMetricEvalL1(t *testing.T) {
	dir, w := writeLayer(t)
	out, err := run(t, "metric", "eval", "--expr", "l1", "--features", filepath.Join(dir, "f.npy"),
		"--labels", filepath.Join(dir, "y.npy"), "--filters", filepath.Join(dir, "w.npy"), "--json")
	if err != nil {
		t.Fatal(err)
	}
	var res struct{ Scores []float64 }
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	// l1 = sum |WI| per class, summed over the 3 classes present.
	for k := 0; k < 3; k++ {
		want := 3 * (math.Abs(float64(w[2*k])) + math.Abs(float64(w[2*k+1])))
		if math.Abs(res.Scores[k]-want) > 1e-9 {
			t.Fatalf("channel %d: l1 %g, want %g", k, res.Scores[k], want)
		}
	}
	// A statistics-based metric runs without filters.
	if _, err := run(t, "metric", "eval", "--expr", "abs_snr", "--features", filepath.Join(dir, "f.npy"),
		"--labels", filepath.Join(dir, "y.npy")); err != nil {
		t.Fatal(err)
	}
}

func TestMetricEvalErrors(t *testing.T) {
	dir, _ := writeLayer(t)
	f, y := filepath.Join(dir, "f.npy"), filepath.Join(dir, "y.npy")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--expr", "l1", "--features", filepath.Join(dir, "missing.npy"), "--labels", y}, "missing.npy"},
		{[]string{"--expr", "abs_snr", "--features", f, "--labels", filepath.Join(dir, "yf.npy")}, "yf.npy"},
		{[]string{"--expr", "abs_snr", "--features", f, "--labels", filepath.Join(dir, "y5.npy")}, "y5.npy"},
		{[]string{"--expr", "abs_snr", "--features", filepath.Join(dir, "f3.npy"), "--labels", y}, "f3.npy"},
		{[]string{"--expr", "no_such_metric", "--features", f, "--labels", y}, "no_such_metric"},
		{[]string{"--expr", "add(P", "--features", f, "--labels", y}, ""},
	} {
		_, err := run(t, append([]string{"metric", "eval"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one naming %q", tc.args, err, tc.want)
		}
	}
}

func TestMetricShow(t *testing.T) {
	out, err := run(t, "metric", "show", "abs_snr", "--json")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"prefix"`, `"latex"`, `"hash"`, `"type"`} {
		if !strings.Contains(out, want) {
			t.Errorf("metric show lacks %s: %s", want, out)
		}
	}
	if _, err := run(t, "metric", "show", "sub(P"); err == nil {
		t.Error("malformed expression accepted")
	}
}
