package bench

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/evoprune/evoprune/evolve"
	"github.com/evoprune/evoprune/metrics"
)

func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol || math.IsNaN(got) != math.IsNaN(want) {
		t.Errorf("%s = %.12g, want %.12g", what, got, want)
	}
}

// fakeTask is a task that never touches the disk (Build only reads records).
func fakeTask(name string, test bool, schedules ...string) Task {
	tk := Task{Task: evolve.Task{Name: name, Model: "m.safetensors", Dataset: "mnist", ValSize: 5000, Sample: 10, TestAcc: test}}
	if len(schedules) == 1 {
		tk.Schedule = schedules[0]
	} else {
		tk.Schedules = schedules
	}
	return tk
}

// records makes one successful record per (variant, metric, seed) with the
// accuracies acc[metric][seed-1] (as fine-tuned and test accuracy).
func records(tasks []Task, metrics []metrics.Metric, acc map[string][]float64, fail map[string]string) map[string]Record {
	o := Options{Tasks: tasks, Metrics: metrics, Seeds: len(acc[metrics[0].Label])}
	out := map[string]Record{}
	for _, j := range o.jobs() {
		a := acc[j.metric.Label][j.seed-1]
		r := evolve.Result{JobID: j.job.ID, ValAcc: a, ValAccPruned: a / 2, TestAcc: a - 0.01, ParamsKept: 0.25, MACsKept: 0.4, Seconds: 1}
		if msg, ok := fail[j.metric.Label]; ok {
			r = evolve.Result{JobID: j.job.ID, Error: msg}
		}
		out[j.job.ID] = Record{Variant: j.variant.Name, Metric: j.metric.Label, Seed: j.seed, Result: r, CPUSeconds: 2}
	}
	return out
}

func TestBuildRanksAndTests(t *testing.T) {
	ms, err := metrics.ResolveMetrics([]string{"l1", "eq3", "fdr", "bn_scale", "random"})
	if err != nil {
		t.Fatal(err)
	}
	tasks := []Task{fakeTask("a", false, "uniform:0.4")}
	acc := map[string][]float64{
		"l1":       {0.90, 0.92, 0.97},
		"eq3":      {0.91, 0.93, 0.95},
		"fdr":      {0.90, 0.90, 0.93},
		"bn_scale": {0, 0, 0},
		"random":   {0.50, 0.52, 0.51},
	}
	lb, err := Build(tasks, ms, 3, records(tasks, ms, acc, map[string]string{"bn_scale": "metric bn_scale on layer conv1: no BN"}), "")
	if err != nil {
		t.Fatal(err)
	}
	order := []string{}
	for _, r := range lb.Rows {
		order = append(order, r.Metric)
	}
	// eq3 and l1 tie on the mean (0.93): the stable sort keeps the list order.
	if got := strings.Join(order, " "); got != "l1 eq3 fdr random bn_scale" {
		t.Errorf("order %q", got)
	}
	// The reference is the best hand-made metric: l1 (eq3 is evolved).
	if lb.Variants[0].Reference != "l1" {
		t.Errorf("reference %q, want l1", lb.Variants[0].Reference)
	}
	byName := map[string]Row{}
	for _, r := range lb.Rows {
		byName[r.Metric] = r
	}
	l1 := byName["l1"]
	near(t, "l1 mean", l1.AccTuned.Mean, 0.93, 1e-12)
	near(t, "l1 high", l1.AccTuned.High, 0.93+4.302652729911275*math.Sqrt(0.0013/3), 1e-9)
	near(t, "l1 pruned", l1.AccPruned.Mean, 0.465, 1e-12)
	if l1.VsReference != nil || l1.Rank != 1 {
		t.Errorf("l1 row: rank %d, test %v", l1.Rank, l1.VsReference)
	}
	// fdr against l1: d = 0, -0.02, -0.04: mean -0.02, std 0.02, t = -sqrt 3,
	// p = 1 - sqrt(3/5) (the df-2 closed form).
	f := byName["fdr"].VsReference
	near(t, "fdr diff", f.MeanDiff, -0.02, 1e-12)
	near(t, "fdr t", f.T, -math.Sqrt(3), 1e-9)
	near(t, "fdr p", f.P, 1-math.Sqrt(3.0/5.0), 1e-9)
	bn := byName["bn_scale"]
	if bn.OK != 0 || bn.Rank != 0 || !strings.Contains(bn.Error, "no BN") || bn.VsReference != nil {
		t.Errorf("failed row: %+v", bn)
	}
	tb := lb.Table("a")
	var md strings.Builder
	if err := tb.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"93.00 ± 8.96", "3/3 failed: metric bn_scale", "reference", "0/3"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, md.String())
		}
	}
	// An explicit reference, and a missing result is an error.
	lb2, err := Build(tasks, ms, 3, records(tasks, ms, acc, nil), "random")
	if err != nil || lb2.Variants[0].Reference != "random" {
		t.Fatalf("explicit reference: %v %+v", err, lb2)
	}
	if _, err := Build(tasks, ms, 4, records(tasks, ms, acc, nil), ""); err == nil || !strings.Contains(err.Error(), "seed 4") {
		t.Errorf("missing seed: %v", err)
	}
}

// A metric that prunes less than the schedule asks (bn_scale leaving the
// groups it cannot score whole) is not ranked, tested or taken as the
// reference, however good its accuracy.
func TestBuildSetsAsideUnequalCompression(t *testing.T) {
	ms, _ := metrics.ResolveMetrics([]string{"l1", "bn_scale", "fdr", "random"})
	tasks := []Task{fakeTask("u", false, "preset:resnet56")}
	acc := map[string][]float64{"l1": {0.80, 0.81, 0.82}, "bn_scale": {0.85, 0.86, 0.87}, "fdr": {0.70, 0.72, 0.71}, "random": {0.6, 0.6, 0.6}}
	recs := records(tasks, ms, acc, nil)
	for id, r := range recs {
		switch r.Metric {
		case "bn_scale":
			r.Result.MACsKept = 0.62 // the others keep 0.40
		case "fdr":
			r.Result.MACsKept = 0.395 // within the tolerance
		}
		recs[id] = r
	}
	lb, err := Build(tasks, ms, 3, recs, "")
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, r := range lb.Rows {
		order = append(order, fmt.Sprintf("%s:%d", r.Metric, r.Rank))
	}
	if got := strings.Join(order, " "); got != "l1:1 fdr:2 random:3 bn_scale:0" {
		t.Errorf("order %q", got)
	}
	if lb.Variants[0].Reference != "l1" {
		t.Errorf("reference %q, want l1", lb.Variants[0].Reference)
	}
	bn := lb.Rows[3]
	if bn.VsReference != nil || !strings.Contains(bn.Unequal, "prunes less (MACs −38.0 %, the others −60.0 %)") {
		t.Errorf("bn_scale row: %q %+v", bn.Unequal, bn.VsReference)
	}
	if lb.Rows[1].Unequal != "" || lb.Rows[1].VsReference == nil {
		t.Errorf("fdr row: %+v", lb.Rows[1])
	}
	var md strings.Builder
	tb := lb.Table("u")
	if err := tb.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "not comparable: prunes less") {
		t.Errorf("table:\n%s", md.String())
	}
}

func TestBuildRanksOnTestAccAndCurves(t *testing.T) {
	ms, _ := metrics.ResolveMetrics([]string{"l1", "random"})
	tasks := []Task{fakeTask("c", true, "macs:0.3", "macs:0.6")}
	acc := map[string][]float64{"l1": {0.8, 0.9}, "random": {0.6, 0.7}}
	lb, err := Build(tasks, ms, 2, records(tasks, ms, acc, nil), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(lb.Variants) != 2 || lb.Variants[0].Name != "c@macs:0.3" || lb.Variants[0].RankedBy != "test_acc" {
		t.Fatalf("variants %+v", lb.Variants)
	}
	near(t, "test mean", lb.Rows[0].TestAcc.Mean, 0.84, 1e-12)
	lp, err := lb.CurvesOf("c")
	if err != nil {
		t.Fatal(err)
	}
	if len(lp.Series) != 2 || len(lp.Series[0].X) != 2 || lp.Series[0].X[0] != 40 || math.Abs(lp.Series[0].Y[0]-84) > 1e-9 {
		t.Errorf("curves %+v", lp.Series)
	}
	dir := t.TempDir()
	if err := lb.Save(dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"leaderboard.md", "leaderboard.csv", "leaderboard.json", "curves-c.png"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	csv, _ := os.ReadFile(filepath.Join(dir, "leaderboard.csv"))
	if !strings.Contains(string(csv), "c@macs:0.3,c,macs:0.3,1,l1,") {
		t.Errorf("csv:\n%s", csv)
	}
}
