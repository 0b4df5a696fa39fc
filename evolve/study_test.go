package evolve

import (
	"math"
	"testing"
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

// A study over the tiny task ranks functions and counts every evaluation.
func TestStudyRuns(t *testing.T) {
	c := tinyConfig(t)
	st, err := RunStudy(c, []string{"l1", "random"}, 2, &Pool{Eval: NewEvaluator(c.BaseDir, 8), Workers: 2}, nil)
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
	if _, err := RunStudy(c, []string{"nosuch("}, 1, &Pool{Eval: NewEvaluator(c.BaseDir, 0)}, nil); err == nil {
		t.Fatal("a bad function was accepted")
	}
}
