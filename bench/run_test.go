package bench

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/evoprune/evoprune/data"
	"github.com/evoprune/evoprune/metrics"
	"github.com/evoprune/evoprune/models"
	"github.com/evoprune/evoprune/stats"
)

// root is the checkout (pretrained/ and data/ of the built-in tasks).
const root = ".."

// smokeTask is lenet5-smoke with budgets small enough for a test.
func smokeTask(t *testing.T) Task {
	t.Helper()
	ts, err := ResolveTasks("lenet5-smoke", root)
	if err != nil {
		t.Fatal(err)
	}
	tk := ts[0]
	tk.Sample, tk.FineTuneSteps, tk.ValImages, tk.TrainImages, tk.TestAcc = 60, 15, 300, 2000, false
	return tk
}

// numbers are the leaderboard's results without timings.
func numbers(t *testing.T, lb *Leaderboard) string {
	t.Helper()
	var rows []Row
	for _, r := range lb.Rows {
		r.Seconds, r.CPUSeconds = stats.Stat{}, nil
		rows = append(rows, r)
	}
	b, err := json.Marshal(rows)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSmokeLeaderboardReproducibleAndResumable(t *testing.T) {
	ms, err := metrics.ResolveMetrics([]string{"abs_snr", "random", "bn_scale"})
	if err != nil {
		t.Fatal(err)
	}
	opts := func(dir string) Options {
		return Options{Tasks: []Task{smokeTask(t)}, Metrics: ms, Seeds: 2, Dir: dir, Workers: 1}
	}
	start := time.Now()
	dirA := t.TempDir()
	a, err := Run(opts(dirA))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("3 metrics x 2 seeds in %v", time.Since(start))
	if a.Ran != 6 || a.Board == nil {
		t.Fatalf("outcome %+v", a)
	}
	rows := map[string]Row{}
	for _, r := range a.Board.Rows {
		rows[r.Metric] = r
	}
	for _, m := range []string{"abs_snr", "random"} {
		r := rows[m]
		if r.OK != 2 || !(r.AccTuned.Mean > 0.3) || !(r.MACsKept.Mean < 0.5) || r.CPUSeconds == nil || !(r.CPUSeconds.Mean > 0) {
			t.Errorf("%s row: %+v", m, r)
		}
	}
	// random draws with the seed: its two seeds prune differently.
	if r := rows["random"]; r.PerSeed[0].ValAccPruned == r.PerSeed[1].ValAccPruned {
		t.Errorf("random gives the same accuracy for both seeds: %+v", r.PerSeed)
	}
	// LeNet-5 has no BatchNorm: bn_scale is a row with the reason, not a crash.
	if r := rows["bn_scale"]; r.OK != 0 || !strings.Contains(r.Error, "BatchNorm") {
		t.Errorf("bn_scale row: %+v", r)
	}
	if rows["random"].VsReference == nil || rows["abs_snr"].VsReference != nil || a.Board.Variants[0].Reference != "abs_snr" {
		t.Errorf("reference %q", a.Board.Variants[0].Reference)
	}
	for _, f := range []string{"leaderboard.md", "leaderboard.csv", "leaderboard.json", ResultsFile} {
		if st, err := os.Stat(filepath.Join(dirA, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}

	// Stopped after two results, then resumed in the same directory: the
	// finished evaluations are skipped and the numbers equal the first run's
	// (every evaluation of the second directory is computed afresh, so this
	// is also the same-seed-same-numbers check, across worker counts too).
	dirB := t.TempDir()
	o := opts(dirB)
	o.StopAfter = 2
	b, err := Run(o)
	if err != nil {
		t.Fatal(err)
	}
	recs, _ := ReadRecords(filepath.Join(dirB, ResultsFile))
	if !b.Stopped || b.Ran != 2 || len(recs) != 2 || b.Board != nil {
		t.Fatalf("stopped run: %+v, %d records", b, len(recs))
	}
	if _, err := os.Stat(filepath.Join(dirB, "leaderboard.md")); err == nil {
		t.Error("a stopped run wrote a leaderboard")
	}
	// The rest runs on two workers: the numbers must not depend on it.
	o = opts(dirB)
	o.Workers = 2
	c, err := Run(o)
	if err != nil {
		t.Fatal(err)
	}
	if c.Skipped != 2 || c.Ran != 4 {
		t.Errorf("resumed: ran %d, skipped %d; want 4 and 2", c.Ran, c.Skipped)
	}
	if na, nc := numbers(t, a.Board), numbers(t, c.Board); na != nc {
		t.Errorf("same seeds, different numbers:\n%s\n%s", na, nc)
	}
	// A third run has nothing left to do.
	d, err := Run(opts(dirB))
	if err != nil || d.Ran != 0 || d.Skipped != 6 {
		t.Errorf("complete rerun: %+v %v", d, err)
	}
}

func TestBadInput(t *testing.T) {
	if _, err := metrics.ResolveMetric("no_such_metric"); err == nil || !strings.Contains(err.Error(), `unknown metric "no_such_metric"`) {
		t.Errorf("unknown metric: %v", err)
	}
	if _, err := metrics.ResolveMetric("div(P, nope)"); err == nil || !strings.Contains(err.Error(), "div(P, nope)") {
		t.Errorf("bad expression: %v", err)
	}
	if _, err := ResolveTasks("no-such-task", root); err == nil || !strings.Contains(err.Error(), `unknown task "no-such-task"`) || !strings.Contains(err.Error(), "lenet5-smoke") {
		t.Errorf("unknown task: %v", err)
	}
	// A checkpoint that is not there names the command that trains it.
	empty := t.TempDir()
	ts, err := ResolveTasks("resnet56-cifar10", empty)
	if err != nil {
		t.Fatal(err)
	}
	err = ts[0].Prepare(false)
	if err == nil || !strings.Contains(err.Error(), "does not exist; train it with: evoprune train --model resnet56 --dataset cifar10") {
		t.Errorf("missing checkpoint: %v", err)
	}
	ms, _ := metrics.ResolveMetrics([]string{"l1"})
	if _, err := Run(Options{Tasks: ts, Metrics: ms, Seeds: 1, Dir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "train it with") {
		t.Errorf("Run with a missing checkpoint: %v", err)
	}
	if _, err := Run(Options{Tasks: []Task{smokeTask(t)}, Metrics: ms, Seeds: 0, Dir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "seeds") {
		t.Errorf("zero seeds: %v", err)
	}
	if _, err := Run(Options{Tasks: []Task{smokeTask(t)}, Metrics: ms, Seeds: 1, Dir: t.TempDir(), Reference: "eq3"}); err == nil || !strings.Contains(err.Error(), "reference") {
		t.Errorf("reference not in the list: %v", err)
	}
	// A task file with a typo is rejected with the field.
	if _, err := ParseTaskFile([]byte(`{"tasks":[{"name":"x","modle":"m"}]}`), "."); err == nil || !strings.Contains(err.Error(), "modle") {
		t.Errorf("unknown field: %v", err)
	}
	// A model that does not fit the dataset.
	tk := smokeTask(t)
	tk.Dataset = "cifar10"
	if err := tk.Prepare(false); err == nil || !strings.Contains(err.Error(), "does not fit cifar10") {
		t.Errorf("wrong dataset: %v", err)
	}
}

// writeCIFAR100 writes n records of the CIFAR-100 binary layout (coarse
// label, fine label, 3072 pixels) with pixels that depend on the class.
func writeCIFAR100(t *testing.T, path string, n int) {
	t.Helper()
	rec := make([]byte, 0, n*(2+3072))
	for i := range n {
		fine := byte(i % 100)
		rec = append(rec, fine/5, fine)
		for p := range 3072 {
			rec = append(rec, byte((int(fine)*37+p*(1+i%3))%256))
		}
	}
	if err := os.WriteFile(path, rec, 0o644); err != nil {
		t.Fatal(err)
	}
}

// A CIFAR-100 task runs end to end on synthetic files in the layout the
// loader expects.
func TestCIFAR100Task(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "cifar100", "cifar-100-binary")
	os.MkdirAll(bin, 0o755)
	writeCIFAR100(t, filepath.Join(bin, "train.bin"), 300)
	writeCIFAR100(t, filepath.Join(bin, "test.bin"), 100)
	g, err := models.Build("resnet20", models.Options{Classes: 100, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(dir, "r20-c100.safetensors")
	if err := models.Save(model, g, models.Info{Dataset: "cifar100", Classes: 100}); err != nil {
		t.Fatal(err)
	}
	file := []byte(`{"tasks":[{"name":"r20-c100","model":"r20-c100.safetensors","dataset":"cifar100","data_dir":".",
		"schedule":"preset:resnet56","val_size":100,"sample":20,"finetune_steps":1,"test_acc":true}]}`)
	if err := os.WriteFile(filepath.Join(dir, "tasks.json"), file, 0o644); err != nil {
		t.Fatal(err)
	}
	ts, err := ResolveTasks(filepath.Join(dir, "tasks.json"), root)
	if err != nil {
		t.Fatal(err)
	}
	ms, _ := metrics.ResolveMetrics([]string{"l1"})
	out, err := Run(Options{Tasks: ts, Metrics: ms, Seeds: 1, Dir: filepath.Join(dir, "out")})
	if err != nil {
		t.Fatal(err)
	}
	r := out.Board.Rows[0]
	if r.OK != 1 || r.TestAcc == nil || !(r.MACsKept.Mean < 0.7) {
		t.Errorf("row %+v", r)
	}
	if info, _ := data.Lookup("cifar100"); info.Classes != 100 {
		t.Errorf("cifar100 classes %d", info.Classes)
	}
	// The loader rejects a damaged file: a task on it fails before any work.
	os.WriteFile(filepath.Join(bin, "train.bin"), make([]byte, 3074*2+5), 0o644)
	ts[0].ModelSHA256 = ""
	if err := ts[0].Prepare(true); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("damaged file: %v", err)
	}
}

// A dataset that disappears after the checks is the environment's failure,
// not the metric's: the benchmark stops with the reason and records nothing,
// so a rerun (with the data back) does the evaluation.
func TestEnvironmentFailureIsNotRecorded(t *testing.T) {
	tk := smokeTask(t)
	tk.DataDir = t.TempDir() // no MNIST here
	ms, _ := metrics.ResolveMetrics([]string{"l1"})
	dir := t.TempDir()
	_, err := Run(Options{Tasks: []Task{tk}, Metrics: ms, Seeds: 1, Dir: dir, SkipDataCheck: true})
	if err == nil || !strings.Contains(err.Error(), "lenet5-smoke, l1, seed 1") || !strings.Contains(err.Error(), "mnist") {
		t.Fatalf("err %v", err)
	}
	if recs, _ := ReadRecords(filepath.Join(dir, ResultsFile)); len(recs) != 0 {
		t.Errorf("%d records of a refused evaluation", len(recs))
	}
	// Without SkipDataCheck the same problem is found before any work.
	if _, err := Run(Options{Tasks: []Task{tk}, Metrics: ms, Seeds: 1, Dir: dir}); err == nil || !strings.Contains(err.Error(), "task lenet5-smoke") {
		t.Errorf("checked run: %v", err)
	}
}
