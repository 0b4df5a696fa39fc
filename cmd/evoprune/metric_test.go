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
	must(npy.WriteInt64(filepath.Join(dir, "fi.npy"), []int{n, c, 2, 2}, make([]int64, n*c*4)))
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
		{[]string{"--expr", "abs_snr", "--features", filepath.Join(dir, "fi.npy"), "--labels", y}, "not a float dtype"},
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

// TestMetricEvalExtended: bn_scale and taylor from --bn and --grads, checked against
// their definitions computed here; wrong shapes and missing inputs give clear errors.
func TestMetricEvalExtended(t *testing.T) {
	dir, _ := writeLayer(t)
	const n, c = 12, 3
	f, y := filepath.Join(dir, "f.npy"), filepath.Join(dir, "y.npy")
	feat := make([]float32, n*c*4)
	for i := range feat {
		feat[i] = float32(math.Sin(float64(i)*1.3) + float64(i%5)) // as writeLayer
	}
	grads := make([]float64, n*c*4)
	for i := range grads {
		grads[i] = math.Cos(float64(i) * 0.7)
	}
	bn := []float64{0.5, -2, 1.25, 0.1, 0.2, 0.3} // gamma row, then beta row
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(npy.WriteFloat64(filepath.Join(dir, "g.npy"), []int{n, c, 2, 2}, grads))
	must(npy.WriteFloat64(filepath.Join(dir, "bn.npy"), []int{2, c}, bn))
	must(npy.WriteFloat64(filepath.Join(dir, "bn3.npy"), []int{3, c}, make([]float64, 3*c)))
	must(npy.WriteFloat64(filepath.Join(dir, "bnc.npy"), []int{2, c + 1}, make([]float64, 2*c+2)))
	must(npy.WriteFloat64(filepath.Join(dir, "g2.npy"), []int{n, c * 4}, grads))
	must(npy.WriteInt64(filepath.Join(dir, "gi.npy"), []int{n, c, 2, 2}, make([]int64, n*c*4)))
	scores := func(args ...string) []float64 {
		t.Helper()
		out, err := run(t, append([]string{"metric", "eval", "--features", f, "--labels", y, "--json"}, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		var res struct{ Scores []float64 }
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		return res.Scores
	}
	got := scores("--expr", "bn_scale", "--bn", filepath.Join(dir, "bn.npy"))
	for k := 0; k < c; k++ {
		if want := 3 * math.Abs(bn[k]); math.Abs(got[k]-want) > 1e-12 {
			t.Errorf("bn_scale channel %d: %g, want %g", k, got[k], want)
		}
	}
	got = scores("--expr", "add(gamma, beta)", "--bn", filepath.Join(dir, "bn.npy"))
	for k := 0; k < c; k++ {
		if want := 3 * (bn[k] + bn[c+k]); math.Abs(got[k]-want) > 1e-12 {
			t.Errorf("gamma + beta channel %d: %g, want %g", k, got[k], want)
		}
	}
	got = scores("--expr", "taylor", "--grads", filepath.Join(dir, "g.npy"))
	for k := 0; k < c; k++ {
		s := 0.0
		for i := 0; i < n; i++ {
			for j := 0; j < 4; j++ {
				idx := (i*c+k)*4 + j
				s += float64(feat[idx]) * grads[idx]
			}
		}
		if want := 3 * math.Abs(s); math.Abs(got[k]-want) > 1e-9*want {
			t.Errorf("taylor channel %d: %g, want %g", k, got[k], want)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--expr", "bn_scale"}, "--bn"},
		{[]string{"--expr", "taylor"}, "--grads"},
		{[]string{"--expr", "taylor", "--bn", filepath.Join(dir, "bn.npy")}, "--grads"},
		{[]string{"--expr", "bn_scale", "--bn", filepath.Join(dir, "nobn.npy")}, "nobn.npy"},
		{[]string{"--expr", "bn_scale", "--bn", filepath.Join(dir, "bn3.npy")}, "bn3.npy: shape [3 3], want [2, 3]"},
		{[]string{"--expr", "bn_scale", "--bn", filepath.Join(dir, "bnc.npy")}, "bnc.npy: shape [2 4], want [2, 3]"},
		{[]string{"--expr", "taylor", "--grads", filepath.Join(dir, "g2.npy")}, "g2.npy: shape [12 12], want [12 3 2 2]"},
		{[]string{"--expr", "taylor", "--grads", filepath.Join(dir, "gi.npy")}, "gi.npy"},
	} {
		_, err := run(t, append([]string{"metric", "eval", "--features", f, "--labels", y}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one containing %q", tc.args, err, tc.want)
		}
	}
	out, err := run(t, "metric", "show", "taylor")
	if err != nil || !strings.Contains(out, "extended") || !strings.Contains(out, "--grads") {
		t.Errorf("metric show taylor: %v\n%s", err, out)
	}
}
