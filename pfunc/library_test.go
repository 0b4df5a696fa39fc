package pfunc

import (
	"errors"
	"math"
	"math/rand/v2"
	"sort"
	"testing"
)

func TestLibraryParsesChecksAndRoundTrips(t *testing.T) {
	names := map[string]bool{}
	for _, f := range Library() {
		if names[f.Name] {
			t.Errorf("duplicate name %s", f.Name)
		}
		names[f.Name] = true
		if f.Description == "" || f.Source == "" {
			t.Errorf("%s: missing description or source", f.Name)
		}
		n, err := Parse(f.Expr)
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		if got := Prefix(n); got != f.Expr {
			t.Errorf("%s: round trip\n got %s\nwant %s", f.Name, got, f.Expr)
		}
		if _, err := Check(n); err != nil {
			t.Errorf("%s: %v", f.Name, err)
		}
		if ext := f.Name == "bn_scale" || f.Name == "taylor"; n.UsesExtended() != ext {
			t.Errorf("%s: UsesExtended = %v", f.Name, !ext)
		}
		if g, ok := Lookup(f.Name); !ok || !g.Tree.Equal(n) {
			t.Errorf("%s: Lookup disagrees", f.Name)
		}
	}
	want := []string{"abs_snr", "fdr", "sym_div", "t_stat", "l1", "l2", "geo_median_dist", "di", "eq3", "ga1", "ga3", "ga4", "bn_scale", "taylor"}
	lib := Library()
	if len(lib) != len(want) {
		t.Fatalf("library has %d functions, want %d", len(lib), len(want))
	}
	for i, f := range lib {
		if f.Name != want[i] {
			t.Errorf("library[%d] = %s, want %s", i, f.Name, want[i])
		}
	}
	if _, ok := Lookup("nope"); ok {
		t.Error("Lookup(nope) succeeded")
	}
}

// The closed forms below are written from METHOD.md and the reference's NumPy functions
// with plain loops over the raw data, sharing nothing with the evaluator.

type classStats struct {
	np, nq           float64
	muP, muQ         float64
	varP, varQ       float64
	meanRowsP, meanQ []float64 // column means of P and Q
}

func closedStats(l layer) (classes []int, stats []classStats, mX []float64) {
	seen := map[int]bool{}
	for _, y := range l.labels {
		if !seen[y] {
			seen[y] = true
			classes = append(classes, y)
		}
	}
	sort.Ints(classes)
	d := len(l.x[0])
	mX = make([]float64, d)
	for _, row := range l.x {
		for j, v := range row {
			mX[j] += v / float64(len(l.x))
		}
	}
	for _, c := range classes {
		var s classStats
		s.meanRowsP, s.meanQ = make([]float64, d), make([]float64, d)
		var sumP, sumQ float64
		for i, row := range l.x {
			for j, v := range row {
				if l.labels[i] == c {
					sumP += v
					s.meanRowsP[j] += v
				} else {
					sumQ += v
					s.meanQ[j] += v
				}
			}
			if l.labels[i] == c {
				s.np++
			} else {
				s.nq++
			}
		}
		s.muP, s.muQ = sumP/(s.np*float64(d)), sumQ/(s.nq*float64(d))
		for i, row := range l.x {
			for _, v := range row {
				if l.labels[i] == c {
					s.varP += (v - s.muP) * (v - s.muP) / (s.np * float64(d))
				} else {
					s.varQ += (v - s.muQ) * (v - s.muQ) / (s.nq * float64(d))
				}
			}
		}
		for j := range s.meanQ {
			s.meanRowsP[j] /= s.np
			s.meanQ[j] /= s.nq
		}
		stats = append(stats, s)
	}
	return classes, stats, mX
}

func popStd(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m += x / float64(len(v))
	}
	s := 0.0
	for _, x := range v {
		s += (x - m) * (x - m) / float64(len(v))
	}
	return math.Sqrt(s)
}

// perClass sums f over classes.
func perClass(l layer, f func(s classStats, mX []float64) float64) float64 {
	_, stats, mX := closedStats(l)
	total := 0.0
	for _, s := range stats {
		total += f(s, mX)
	}
	return total
}

// filterRows returns the PyTorch-layout filters, one flat row per output channel.
func filterRows(l layer) [][]float64 {
	per := len(l.w) / l.wshape[0]
	rows := make([][]float64, l.wshape[0])
	for o := range rows {
		rows[o] = l.w[o*per : (o+1)*per]
	}
	return rows
}

func dist(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += (a[i] - b[i]) * (a[i] - b[i])
	}
	return math.Sqrt(s)
}

// invert is Gauss-Jordan elimination with partial pivoting.
func invert(a [][]float64) [][]float64 {
	n := len(a)
	m := make([][]float64, n)
	for i := range m {
		m[i] = make([]float64, 2*n)
		copy(m[i], a[i])
		m[i][n+i] = 1
	}
	for col := 0; col < n; col++ {
		p := col
		for r := col + 1; r < n; r++ {
			if math.Abs(m[r][col]) > math.Abs(m[p][col]) {
				p = r
			}
		}
		m[col], m[p] = m[p], m[col]
		piv := m[col][col]
		for j := range m[col] {
			m[col][j] /= piv
		}
		for r := 0; r < n; r++ {
			if r != col && m[r][col] != 0 {
				f := m[r][col]
				for j := range m[r] {
					m[r][j] -= f * m[col][j]
				}
			}
		}
	}
	inv := make([][]float64, n)
	for i := range inv {
		inv[i] = m[i][n:]
	}
	return inv
}

var closedForms = map[string]func(l layer) float64{
	"abs_snr": func(l layer) float64 {
		return perClass(l, func(s classStats, _ []float64) float64 {
			return math.Abs(s.muP-s.muQ) / (math.Sqrt(s.varP) + math.Sqrt(s.varQ) + 1e-4)
		})
	},
	"fdr": func(l layer) float64 {
		return perClass(l, func(s classStats, _ []float64) float64 {
			return (s.muP - s.muQ) * (s.muP - s.muQ) / (s.varP + s.varQ + 1e-4)
		})
	},
	"sym_div": func(l layer) float64 {
		return perClass(l, func(s classStats, _ []float64) float64 {
			return s.varP/(s.varQ+0.05) + s.varQ/(s.varP+0.05) + (s.muP-s.muQ)*(s.muP-s.muQ)/(s.varP+s.varQ+0.05)
		})
	},
	"t_stat": func(l layer) float64 {
		return perClass(l, func(s classStats, _ []float64) float64 {
			return math.Abs(s.muP-s.muQ) / math.Sqrt(s.varP/s.np+s.varQ/s.nq+1e-4)
		})
	},
	"l1": func(l layer) float64 {
		s := 0.0
		for _, v := range filterRows(l)[l.k] {
			s += math.Abs(v)
		}
		return s * float64(numClasses(l))
	},
	"l2": func(l layer) float64 {
		s := 0.0
		for _, v := range filterRows(l)[l.k] {
			s += v * v
		}
		return math.Sqrt(s) * float64(numClasses(l))
	},
	"geo_median_dist": func(l layer) float64 {
		rows := filterRows(l)
		best, bestScore := 0, math.Inf(1)
		for i := range rows {
			s := 0.0
			for j := range rows {
				if j != i {
					s += dist(rows[i], rows[j])
				}
			}
			if s < bestScore {
				best, bestScore = i, s
			}
		}
		return dist(rows[l.k], rows[best]) * float64(numClasses(l))
	},
	"di": func(l layer) float64 {
		_, stats, mX := closedStats(l)
		d := len(mX)
		S := make([][]float64, d)
		SB := make([][]float64, d)
		for i := range S {
			S[i], SB[i] = make([]float64, d), make([]float64, d)
		}
		for _, row := range l.x {
			for i := 0; i < d; i++ {
				for j := 0; j < d; j++ {
					S[i][j] += (row[i] - mX[i]) * (row[j] - mX[j])
				}
			}
		}
		for _, s := range stats {
			for i := 0; i < d; i++ {
				for j := 0; j < d; j++ {
					SB[i][j] += s.np * (s.meanRowsP[i] - mX[i]) * (s.meanRowsP[j] - mX[j])
				}
			}
		}
		for i := 0; i < d; i++ {
			S[i][i] += 1e-4
		}
		inv := invert(S)
		tr := 0.0
		for i := 0; i < d; i++ {
			for j := 0; j < d; j++ {
				tr += inv[i][j] * SB[j][i]
			}
		}
		return tr
	},
	"eq3": func(l layer) float64 {
		return perClass(l, func(s classStats, mX []float64) float64 {
			sX := popStd(mX)
			total := 0.0
			for _, m := range mX {
				e := sX*s.varQ*m + s.varP - s.muQ
				total += s.varP/(s.varQ+0.05) + s.varQ/(s.varP+0.05) + e*e/(s.varP+s.varQ+0.05)
			}
			return total
		})
	},
	"ga1": func(l layer) float64 {
		return perClass(l, func(s classStats, mX []float64) float64 {
			total := 0.0
			for _, m := range mX {
				total += s.varP + (s.varQ-m)*(s.varQ-m)/(s.varQ+s.varP+0.05)
			}
			return total
		})
	},
	"ga3": func(l layer) float64 {
		return perClass(l, func(s classStats, mX []float64) float64 {
			total := 0.0
			for _, m := range mX {
				total += (m - s.varQ) * (m - s.varQ) / math.Sqrt(s.varP/s.np+s.varQ/s.nq+1e-4)
			}
			return total
		})
	},
	"bn_scale": func(l layer) float64 {
		return math.Abs(l.bn.Gamma) * float64(numClasses(l))
	},
	"taylor": func(l layer) float64 {
		s := 0.0
		for i, row := range l.x {
			for j, v := range row {
				s += v * l.g[i][j]
			}
		}
		return math.Abs(s) * float64(numClasses(l))
	},
	"ga4": func(l layer) float64 {
		return perClass(l, func(s classStats, _ []float64) float64 {
			total := 0.0
			for _, mq := range s.meanQ {
				total += s.varP/(s.varQ/s.nq+0.05) + math.Abs(s.muP-s.muQ) + 0.05 + mq
			}
			return total
		})
	},
}

func numClasses(l layer) int {
	seen := map[int]bool{}
	for _, y := range l.labels {
		seen[y] = true
	}
	return len(seen)
}

func TestLibraryMatchesClosedForms(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	layers := map[string]layer{
		"conv":      randLayer(r, []int{17, 23, 12, 30}, 9, []int{6, 3, 3, 3}, 2),
		"conv-rect": randLayer(r, []int{40, 25}, 12, []int{5, 4, 2, 3}, 4),
		"fc":        randLayer(r, []int{31, 9, 14}, 1, []int{7, 11}, 0),
	}
	r2 := rand.New(rand.NewPCG(5, 6))
	for _, name := range []string{"conv", "conv-rect", "fc"} {
		layers[name] = withExtended(r2, layers[name])
	}
	for lname, l := range layers {
		envs := l.envs(t)
		s := l.stats(t)
		wi, w := l.filters(t)
		for _, f := range Library() {
			closed, ok := closedForms[f.Name]
			if !ok {
				t.Fatalf("no closed form for %s", f.Name)
			}
			want := closed(l)
			// The direct evaluator and the fast one, each against the closed form.
			got, err := ScoreEnvs(f.Tree, envs)
			if err != nil {
				t.Errorf("%s/%s: %v", lname, f.Name, err)
			} else if d := relDiff(got, want); d > 1e-9 {
				t.Errorf("%s/%s: direct %.17g, closed form %.17g (rel diff %.2g)", lname, f.Name, got, want, d)
			}
			fast, err := s.Score(f.Tree, 0, wi, w)
			if err != nil {
				t.Errorf("%s/%s: fast: %v", lname, f.Name, err)
			} else if d := relDiff(fast, want); d > 1e-9 {
				t.Errorf("%s/%s: fast %.17g, closed form %.17g (rel diff %.2g)", lname, f.Name, fast, want, d)
			}
		}
	}
}

// stats is the layer's channel as a one-channel LayerStats, with its extended operands
// if it has them.
func (l layer) stats(t testing.TB) *LayerStats {
	t.Helper()
	n, d := len(l.x), len(l.x[0])
	feat := make([]float64, 0, n*d)
	for _, row := range l.x {
		feat = append(feat, row...)
	}
	s, err := NewLayerStats(feat, n, 1, d, l.labels, nil)
	if err != nil {
		t.Fatal(err)
	}
	if l.bn != nil {
		var g []float64
		for _, row := range l.g {
			g = append(g, row...)
		}
		if err := s.SetExtended([]float64{l.bn.Gamma}, []float64{l.bn.Beta}, g); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func TestScoreArguments(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	l := randLayer(r, []int{5, 6}, 4, []int{3, 2, 1, 1}, 1)
	wi, w := l.filters(t)
	abs, _ := Lookup("abs_snr")
	got, err := Score(abs.Tree, l.x, l.labels, nil, wi, w)
	if err != nil || relDiff(got, closedForms["abs_snr"](l)) > 1e-12 {
		t.Fatalf("Score = %v, %v", got, err)
	}
	// Explicit classes in another order give the same sum.
	if got2, err := Score(abs.Tree, l.x, l.labels, []int{11, 10}, wi, w); err != nil || relDiff(got, got2) > 1e-12 {
		t.Errorf("explicit classes: %v, %v", got2, err)
	}
	l1, _ := Lookup("l1")
	if _, err := Score(l1.Tree, l.x, l.labels, nil, Value{}, Value{}); !errors.Is(err, ErrOperand) {
		t.Errorf("missing filters: %v", err)
	}
	if _, err := Score(abs.Tree, l.x, l.labels[1:], nil, wi, w); err == nil {
		t.Error("label count mismatch accepted")
	}
	if _, err := Score(abs.Tree, l.x, l.labels, []int{10, 99}, wi, w); err == nil {
		t.Error("class without samples accepted")
	}
	one := make([]int, len(l.labels))
	if _, err := Score(abs.Tree, l.x, one, nil, wi, w); err == nil {
		t.Error("a single class (empty Q) accepted")
	}
	// A zero denominator makes the score infinite: reported, with the value.
	bad := mustParse(t, "div(g_mean(P), sub(g_mean(P), g_mean(P)))")
	v, err := Score(bad, l.x, l.labels, nil, wi, w)
	if !errors.Is(err, ErrNonFinite) || !math.IsInf(v, 0) && !math.IsNaN(v) {
		t.Errorf("non-finite score: %v, %v", v, err)
	}
}
