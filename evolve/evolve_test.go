package evolve

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/evoprune/evoprune/gp"
	"github.com/evoprune/evoprune/pfunc"
)

// tinyConfig is a real but small search: LeNet-5 pruned by the reference's
// three-step schedule on a slice of MNIST with two fine-tuning steps.
func tinyConfig(t testing.TB) *Config {
	t.Helper()
	raw := `{
	  "gp": {"population": 6, "generations": 2, "seeds": ["abs_snr", "l1", "fdr"], "seed_copies": 1, "elites": 2},
	  "tasks": [{"name": "lenet", "model": "pretrained/lenet5-mnist.safetensors", "dataset": "mnist", "data_dir": "../data",
	             "schedule": "preset:lenet5", "sample": 40, "finetune_steps": 2, "train_images": 600, "val_images": 200, "val_size": 1000}],
	  "seed": 3, "eval_seed": 1
	}`
	c, err := ParseConfig([]byte(raw), "..")
	if err != nil {
		t.Fatal(err)
	}
	c.Tasks[0].DataDir, _ = filepath.Abs("../data")
	if err := c.Resolve(); err != nil {
		t.Fatal(err)
	}
	return c
}

var (
	fullOnce sync.Once
	fullRun  *Outcome
)

// uninterrupted is the reference run the other tests compare with, made once.
func uninterrupted(t *testing.T) *Outcome {
	fullOnce.Do(func() { fullRun = runTiny(t, tinyConfig(t), t.TempDir(), 1, 0) })
	if fullRun == nil {
		t.Fatal("the reference run failed")
	}
	return fullRun
}

func runTiny(t *testing.T, c *Config, dir string, workers, stopAfter int) *Outcome {
	t.Helper()
	s, err := Create(dir, c)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, err := Run(c, s, Options{Executor: &Pool{Eval: NewEvaluator(c.BaseDir, 8), Workers: workers}, StopAfter: stopAfter})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func populations(gens []gp.State) string {
	var b strings.Builder
	for _, st := range gens {
		j, _ := json.Marshal(st)
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

func TestJoint(t *testing.T) {
	for _, tc := range []struct {
		mean string
		acc  []float64
		w    []float64
		want float64
	}{
		{"", []float64{0.81, 0.64}, []float64{1, 1}, 0.72},
		{"geometric", []float64{0.5, 0.8}, []float64{3, 1}, math.Pow(0.5, 0.75) * math.Pow(0.8, 0.25)},
		{"arithmetic", []float64{0.5, 0.8}, []float64{3, 1}, 0.575},
		{"geometric", []float64{0, 0.9}, []float64{1, 1}, 0},
	} {
		got, err := Joint(tc.mean, tc.acc, tc.w)
		if err != nil || math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("Joint(%q, %v, %v) = %v, %v; want %v", tc.mean, tc.acc, tc.w, got, err, tc.want)
		}
	}
	if _, err := Joint("median", []float64{1}, []float64{1}); err == nil {
		t.Error("unknown mean accepted")
	}
}

func TestConfigErrors(t *testing.T) {
	base := `"tasks": [{"name": "a", "model": "pretrained/lenet5-mnist.safetensors", "dataset": "mnist", "schedule": "preset:lenet5"}]`
	for _, tc := range []struct{ raw, want string }{
		{`{"gp": {"population": -3}, ` + base + `}`, "population"},
		{`{"gp": {"seeds": ["abs_snr", "nosuch"]}, ` + base + `}`, "nosuch"},
		{`{"popsize": 3, ` + base + `}`, "popsize"},
		{`{"tasks": []}`, "at least one fitness task"},
		{`{"tasks": [{"name": "a", "dataset": "mnist", "schedule": "uniform:0.5"}]}`, "model is required"},
		{`{"mean": "median", ` + base + `}`, "median"},
	} {
		_, err := ParseConfig([]byte(tc.raw), "..")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one mentioning %q", tc.raw, err, tc.want)
		}
	}
	c, err := ParseConfig([]byte(`{"tasks": [{"name": "a", "model": "nowhere.safetensors", "dataset": "mnist", "schedule": "preset:lenet5"}]}`), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Resolve(); err == nil || !strings.Contains(err.Error(), "nowhere.safetensors") {
		t.Errorf("missing checkpoint: %v", err)
	}
}

// The search is a function of its seeds: one worker and two give the same
// generations, elites survive unchanged, and nothing is evaluated twice.
func TestWorkersAgreeAndElitesSurvive(t *testing.T) {
	c := tinyConfig(t)
	one := uninterrupted(t)
	two := runTiny(t, c, t.TempDir(), 2, 0)
	if a, b := populations(one.Generations), populations(two.Generations); a != b {
		t.Fatalf("1 and 2 workers differ:\n%s\n%s", a, b)
	}
	if len(one.Generations) != 3 {
		t.Fatalf("%d generations, want the initial one and 2 more", len(one.Generations))
	}
	for g := 1; g < len(one.Generations); g++ {
		prev, cur := one.Generations[g-1].Population, one.Generations[g].Population
		best := prev[gp.Best(prev)]
		if pfunc.Prefix(cur[0].Tree) != pfunc.Prefix(best.Tree) || cur[0].Fitness != best.Fitness {
			t.Errorf("generation %d does not start with the previous best %s", g, pfunc.Prefix(best.Tree))
		}
	}
	seen := map[string]bool{}
	for _, r := range one.Results {
		if seen[r.Hash] {
			t.Errorf("%s evaluated twice", r.Expr)
		}
		seen[r.Hash] = true
		if r.Error != "" {
			t.Errorf("%s failed: %s", r.Expr, r.Error)
		}
	}
}

// A run stopped after its first generation and resumed ends as an
// uninterrupted run does, without re-running finished evaluations.
func TestResumeAfterStop(t *testing.T) {
	c := tinyConfig(t)
	full := uninterrupted(t)
	dir := t.TempDir()
	runTiny(t, c, dir, 1, 1)
	s, c2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := s.Results()
	out, err := Run(c2, s, Options{Executor: &Pool{Eval: NewEvaluator(c2.BaseDir, 8), Workers: 1}})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if a, b := populations(full.Generations), populations(out.Generations); a != b {
		t.Fatalf("resumed run differs:\n%s\n%s", a, b)
	}
	if len(out.Results) != len(full.Results) || len(before) == 0 {
		t.Fatalf("%d results after resuming (%d before), %d uninterrupted", len(out.Results), len(before), len(full.Results))
	}
	if a, b := counts(full.Logs), counts(out.Logs); a != b {
		t.Fatalf("resumed run's generation statistics differ:\n%s\nuninterrupted:\n%s", b, a)
	}
}

// refuseJobs is an executor for runs that must not evaluate anything.
type refuseJobs struct{}

func (refuseJobs) Run(jobs []Job, done func(Result)) error {
	if len(jobs) > 0 {
		return fmt.Errorf("%d evaluations run again, first %s on %s", len(jobs), jobs[0].Expr, jobs[0].Task.Name)
	}
	return nil
}

// counts is what a run's reports say each generation cost, wall time aside.
func counts(logs []GenerationLog) string {
	var b strings.Builder
	for _, l := range logs {
		fmt.Fprintf(&b, "gen %d: best %.6f mean %.6f, %d evaluated, %d from earlier results, %d failed, %d screened\n",
			l.Generation, l.Best, l.Mean, l.Evaluations, l.CacheHits, l.Failures, l.Screened)
	}
	return b.String()
}

// A crash after a generation's evaluations were logged but before its
// checkpoint was written: the resumed run replays that generation from the
// log, runs nothing again, and reports it as the uninterrupted run did
// (its evaluations as evaluated, not as served from earlier results).
func TestResumeReplaysALostCheckpoint(t *testing.T) {
	full := uninterrupted(t)
	dir := t.TempDir()
	c := tinyConfig(t)
	runTiny(t, c, dir, 1, 0)
	last := filepath.Join(dir, fmt.Sprintf("gen-%03d.json", c.GP.Generations))
	if err := os.Remove(last); err != nil {
		t.Fatal(err)
	}
	s, c2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, err := Run(c2, s, Options{Executor: refuseJobs{}})
	if err != nil {
		t.Fatal(err)
	}
	if a, b := counts(full.Logs), counts(out.Logs); a != b {
		t.Fatalf("replayed run's generation statistics differ:\n%s\nuninterrupted:\n%s", b, a)
	}
	if full.Logs[len(full.Logs)-1].Evaluations == 0 {
		t.Fatal("the last generation evaluated nothing: the test proves nothing")
	}
}

// A run on a budget stops before the first generation that would start past
// it, with the generations of an unbudgeted run; resumed without the budget
// it ends exactly as the uninterrupted run.
func TestBudgetStopsAndResumes(t *testing.T) {
	full := uninterrupted(t)
	c := tinyConfig(t)
	c.BudgetHours = 1e-9 // past as soon as one evaluation is on record
	dir := t.TempDir()
	out := runTiny(t, c, dir, 1, 0)
	if !out.BudgetReached || len(out.Generations) != 1 {
		t.Fatalf("budget run: reached %v after %d generations, want after the initial one", out.BudgetReached, len(out.Generations))
	}
	if a, b := populations(full.Generations[:1]), populations(out.Generations); a != b {
		t.Fatalf("budget run's generation 0 differs:\n%s\n%s", a, b)
	}
	s, c2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if c2.BudgetHours != c.BudgetHours {
		t.Fatalf("config.json kept budget %v, want %v", c2.BudgetHours, c.BudgetHours)
	}
	c2.BudgetHours = 0
	rest, err := Run(c2, s, Options{Executor: &Pool{Eval: NewEvaluator(c2.BaseDir, 8), Workers: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if rest.BudgetReached || populations(full.Generations) != populations(rest.Generations) {
		t.Fatalf("resumed without a budget: reached %v, generations differ from the uninterrupted run", rest.BudgetReached)
	}
	bad := tinyConfig(t)
	bad.BudgetHours = -1
	if err := bad.Check(); err == nil || !strings.Contains(err.Error(), "budget_hours") {
		t.Errorf("negative budget: %v", err)
	}
}

// A finished run given more generations on resume (evoprune evolve
// --resume DIR --generations N) continues as if it had been asked for them
// from the start: the generation count only bounds the loop.
func TestMoreGenerationsExtendAFinishedRun(t *testing.T) {
	full := uninterrupted(t)
	c := tinyConfig(t)
	c.GP.Generations = 1
	dir := t.TempDir()
	short := runTiny(t, c, dir, 1, 0)
	if len(short.Generations) != 2 {
		t.Fatalf("%d generations, want 2", len(short.Generations))
	}
	s, c2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c2.GP.Generations = 2
	out, err := Run(c2, s, Options{Executor: &Pool{Eval: NewEvaluator(c2.BaseDir, 8), Workers: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if a, b := populations(full.Generations), populations(out.Generations); a != b {
		t.Fatalf("extended run differs:\n%s\n%s", a, b)
	}
	if a, b := counts(full.Logs), counts(out.Logs); a != b {
		t.Fatalf("extended run's statistics differ:\n%s\nuninterrupted:\n%s", b, a)
	}
}

// TestKillAndResume kills a running evolution with SIGKILL in the middle of
// a generation, resumes it and gets the final population of an
// uninterrupted run.
func TestKillAndResume(t *testing.T) {
	if os.Getenv("EVOPRUNE_EVOLVE_CHILD") != "" {
		return
	}
	c := tinyConfig(t)
	full := uninterrupted(t)
	dir := t.TempDir()
	s, err := Create(dir, c)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestEvolveChild$", "-test.v")
	cmd.Env = append(os.Environ(), "EVOPRUNE_EVOLVE_CHILD="+dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill once generation 0 is checkpointed and generation 1 has recorded
	// at least one evaluation, so the kill lands mid-generation.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		gens, _ := filepath.Glob(filepath.Join(dir, "gen-*.json"))
		st, _, _ := Open(dir)
		n := 0
		if st != nil {
			rs, _ := st.Results()
			n = len(rs)
			st.Close()
		}
		if len(gens) == 1 && n > len(full.Generations[0].Population)/2+1 {
			break
		}
		if len(gens) > 1 || time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("could not catch the run mid-generation (%d generations, %d results)", len(gens), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	s, c2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Run(c2, s, Options{Executor: &Pool{Eval: NewEvaluator(c2.BaseDir, 8), Workers: 2}})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if a, b := populations(full.Generations), populations(out.Generations); a != b {
		t.Fatalf("killed and resumed run differs:\n%s\n%s", a, b)
	}
}

// TestEvolveChild is the process TestKillAndResume kills.
func TestEvolveChild(t *testing.T) {
	dir := os.Getenv("EVOPRUNE_EVOLVE_CHILD")
	if dir == "" {
		t.Skip("runs only as TestKillAndResume's child process")
	}
	s, c, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Run(c, s, Options{Executor: &Pool{Eval: NewEvaluator(c.BaseDir, 8), Workers: 1}}); err != nil {
		t.Fatal(err)
	}
}

func TestFailedEvaluationScoresZero(t *testing.T) {
	c := tinyConfig(t)
	e := NewEvaluator(c.BaseDir, 0)
	tree := pfunc.Call(pfunc.OpDiv, pfunc.Call(pfunc.OpSub, pfunc.Call(pfunc.OpGMean, pfunc.Leaf(pfunc.OpP)), pfunc.Call(pfunc.OpGMean, pfunc.Leaf(pfunc.OpP))),
		pfunc.Call(pfunc.OpSub, pfunc.Call(pfunc.OpGMean, pfunc.Leaf(pfunc.OpQ)), pfunc.Call(pfunc.OpGMean, pfunc.Leaf(pfunc.OpQ))))
	r := e.Evaluate(NewJob(pfunc.Prefix(tree), pfunc.Hash(tree), c.Tasks[0], 1))
	if r.Error == "" || !strings.Contains(r.Error, "conv1") || r.Accuracy() != 0 {
		t.Fatalf("0/0 metric: error %q, accuracy %v", r.Error, r.Accuracy())
	}
	bad := c.Tasks[0]
	bad.ModelSHA256 = strings.Repeat("0", 64)
	r = e.Evaluate(NewJob("sum(abs(WI))", "x", bad, 1))
	if !strings.Contains(r.Error, "different checkpoint") {
		t.Fatalf("checkpoint mismatch: %q", r.Error)
	}
}

// A dataset that cannot be found stops the run with the reason; nothing is
// scored 0 and nothing is recorded.
func TestMissingDatasetStopsTheRun(t *testing.T) {
	c := tinyConfig(t)
	c.Tasks[0].DataDir = filepath.Join(t.TempDir(), "nowhere")
	s, err := Create(t.TempDir(), c)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = Run(c, s, Options{Executor: &Pool{Eval: NewEvaluator(c.BaseDir, 0), Workers: 2}})
	if err == nil || !strings.Contains(err.Error(), "refused") || !strings.Contains(err.Error(), "nowhere") {
		t.Fatalf("error %v, want a refusal naming the data directory", err)
	}
	if rs, _ := s.Results(); len(rs) != 0 {
		t.Fatalf("%d results recorded", len(rs))
	}
}
