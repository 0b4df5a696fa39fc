package evolve

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/evoprune/evoprune/metrics"
)

func TestStudyStatistics(t *testing.T) {
	m, s := meanStd([]float64{1, 2, 3, 4})
	if m != 2.5 || math.Abs(s-math.Sqrt(5.0/3)) > 1e-15 {
		t.Errorf("meanStd = %v, %v; want 2.5, sqrt(5/3)", m, s)
	}
	if r := ranks([]float64{10, 30, 20, 20}); r[0] != 1 || r[1] != 4 || r[2] != 2.5 || r[3] != 2.5 {
		t.Errorf("ranks = %v, want [1 4 2.5 2.5]", r)
	}
	if p := pearson([]float64{1, 2, 3}, []float64{2, 4, 6}); math.Abs(p-1) > 1e-15 {
		t.Errorf("pearson of a line = %v", p)
	}
	if p := pearson([]float64{1, 2, 3}, []float64{3, 2, 1}); math.Abs(p+1) > 1e-15 {
		t.Errorf("pearson of a falling line = %v", p)
	}
	// x = 1..4, y = 1, 3, 2, 4: cov 1.25*... by hand: dx = -1.5 -0.5 0.5 1.5,
	// dy = -1.5 0.5 -0.5 1.5; sum dx*dy = 2.25-0.25-0.25+2.25 = 4, sum dx^2 = 5.
	if p := pearson([]float64{1, 2, 3, 4}, []float64{1, 3, 2, 4}); math.Abs(p-0.8) > 1e-15 {
		t.Errorf("pearson = %v, want 0.8", p)
	}
}

// Compare pairs rows by seed against the reference, on the fitness and on
// each task, with the numbers the paired t-test gives by hand.
func TestStudyCompareByHand(t *testing.T) {
	st := &Study{Rows: []StudyRow{
		{Name: "ref", Fitness: []float64{0.90, 0.90, 0.93}, Tasks: map[string][]float64{"a": {0.25, 0.5, 0}}},
		{Name: "x", Fitness: []float64{0.91, 0.93, 0.95}, Tasks: map[string][]float64{"a": {0.5, 0.75, 0.25}}},
	}}
	if err := st.Compare("nope"); err == nil {
		t.Fatal("an unknown reference was accepted")
	}
	if err := st.Compare("ref"); err != nil {
		t.Fatal(err)
	}
	if st.Rows[0].VsReference != nil {
		t.Errorf("the reference was compared with itself: %+v", st.Rows[0].VsReference)
	}
	// d = 0.01, 0.03, 0.02: mean 0.02, t = 2 sqrt 3, p = 1 - sqrt(12/14) (2 df).
	p := st.Rows[1].VsReference
	if p == nil || math.Abs(p.MeanDiff-0.02) > 1e-12 || math.Abs(p.P-(1-math.Sqrt(12.0/14.0))) > 1e-9 || p.Reference != "ref" {
		t.Fatalf("fitness test %+v", p)
	}
	// A constant difference of 0.25 on task a (exact in binary): p = 0.
	if a := st.Rows[1].TasksVsReference["a"]; a.MeanDiff != 0.25 || a.P != 0 {
		t.Errorf("task test %+v", a)
	}
	var md bytes.Buffer
	tb := st.Table([]Task{{Name: "a"}})
	if err := tb.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Δ fitness vs ref (p)", "+0.0200 (p 0.074)", "+0.2500 (p < 0.001)", "reference"} {
		if !bytes.Contains(md.Bytes(), []byte(want)) {
			t.Errorf("table lacks %q:\n%s", want, md.String())
		}
	}
}

// A study over the tiny task ranks functions and counts every evaluation.
func TestStudyRuns(t *testing.T) {
	c := tinyConfig(t)
	st, err := RunStudy(c, resolve(t, "l1", "random"), 2, &Pool{Eval: NewEvaluator(c.BaseDir, 8), Workers: 2}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Rows) != 2 || len(st.Results) != 4 || len(st.Rows[0].Fitness) != 2 {
		t.Fatalf("study %+v", st)
	}
	for _, r := range st.Results {
		if r.Error != "" {
			t.Fatalf("%s: %s", r.Expr, r.Error)
		}
	}
	if st.Rows[0].Mean < st.Rows[1].Mean {
		t.Fatal("rows not sorted by mean fitness")
	}
	if _, err := RunStudy(c, nil, 1, &Pool{Eval: NewEvaluator(c.BaseDir, 0)}, nil, ""); err == nil {
		t.Fatal("a study of no functions was accepted")
	}
}

func resolve(t *testing.T, names ...string) []metrics.Metric {
	t.Helper()
	ms, err := metrics.ResolveMetrics(names)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// countingExec runs jobs through an inner executor and remembers which ran.
type countingExec struct {
	inner Executor
	ran   []string
}

func (e *countingExec) Run(jobs []Job, done func(Result)) error {
	for _, j := range jobs {
		e.ran = append(e.ran, j.ID)
	}
	return e.inner.Run(jobs, done)
}

// A study with a log resumes: a rerun runs nothing and reports the same
// study; a log cut short (the last line torn by a kill) reruns only what
// is missing; a study with another budget reuses nothing.
func TestStudyResumesFromLog(t *testing.T) {
	c := tinyConfig(t)
	log := filepath.Join(t.TempDir(), "study.jsonl")
	names := resolve(t, "l1", "random")
	pool := &Pool{Eval: NewEvaluator(c.BaseDir, 8), Workers: 2}
	first := &countingExec{inner: pool}
	st, err := RunStudy(c, names, 2, first, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.ran) != 4 {
		t.Fatalf("first run ran %d jobs, want 4", len(first.ran))
	}
	again := &countingExec{inner: pool}
	st2, err := RunStudy(c, names, 2, again, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.ran) != 0 {
		t.Fatalf("rerun ran %d jobs, want 0", len(again.ran))
	}
	if !reflect.DeepEqual(st.Rows, st2.Rows) {
		t.Fatalf("resumed study differs:\n%+v\n%+v", st.Rows, st2.Rows)
	}

	// Keep two complete lines and half of the third, as a kill would.
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	var kept [][]byte
	for _, l := range lines {
		if len(bytes.TrimSpace(l)) > 0 {
			kept = append(kept, l)
		}
	}
	torn := append(bytes.Join(kept[:2], []byte("\n")), '\n')
	torn = append(torn, kept[2][:len(kept[2])/2]...)
	if err := os.WriteFile(log, torn, 0o644); err != nil {
		t.Fatal(err)
	}
	partial := &countingExec{inner: pool}
	st3, err := RunStudy(c, names, 2, partial, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	if len(partial.ran) != 2 {
		t.Fatalf("resume after a torn log ran %d jobs, want 2", len(partial.ran))
	}
	if !reflect.DeepEqual(st.Rows, st3.Rows) {
		t.Fatalf("study resumed from a torn log differs:\n%+v\n%+v", st.Rows, st3.Rows)
	}

	other := *c
	other.Tasks = append([]Task(nil), c.Tasks...)
	other.Tasks[0].FineTuneSteps++
	changed := &countingExec{inner: pool}
	if _, err := RunStudy(&other, names[:1], 1, changed, nil, log); err != nil {
		t.Fatal(err)
	}
	if len(changed.ran) != 1 {
		t.Fatalf("a study with another budget reused a logged result")
	}
}
