package evolve

import (
	"fmt"
	"io"
	"math"
	"sort"

	"github.com/evoprune/evoprune/internal/jsonl"
	"github.com/evoprune/evoprune/metrics"
	"github.com/evoprune/evoprune/report"
	"github.com/evoprune/evoprune/stats"
)

// A protocol study evaluates known functions under a run's fitness tasks
// with several evaluation seeds, to check that the budgets are big enough
// for fitness to tell functions apart: the spread between functions must
// exceed the spread between the seeds of one function, and random must come
// last. It also measures how well accuracy right after pruning predicts the
// final accuracy (what the screen relies on).

// StudyRow is one function's fitness over seeds.
type StudyRow struct {
	Name    string               `json:"name"`
	Expr    string               `json:"expr"`
	Fitness []float64            `json:"fitness"` // per seed
	Mean    float64              `json:"mean"`
	Std     float64              `json:"std"`
	Tasks   map[string][]float64 `json:"val_acc"` // per task, per seed
	// VsReference pairs the row's fitness with the reference function's by
	// seed (Study.Compare), TasksVsReference each task's accuracy.
	VsReference      *stats.Paired           `json:"vs_reference,omitempty"`
	TasksVsReference map[string]stats.Paired `json:"tasks_vs_reference,omitempty"`
}

// Study is the outcome of RunStudy.
type Study struct {
	Rows []StudyRow `json:"rows"`
	// Between is the standard deviation of the functions' mean fitness;
	// Within the mean over functions of the standard deviation over seeds.
	Between float64 `json:"between"`
	Within  float64 `json:"within"`
	// ScreenPearson and ScreenSpearman correlate accuracy right after the
	// first pruning step with the final accuracy, over every evaluation.
	ScreenPearson  float64 `json:"screen_pearson"`
	ScreenSpearman float64 `json:"screen_spearman"`
	// Reference is the function Compare tested the others against.
	Reference string   `json:"reference,omitempty"`
	Results   []Result `json:"results"`
}

// Compare tests every other row against the row named reference with the
// paired t-test over seeds (the same seed draws the same scoring sample and
// fine-tuning batches for every function): on the joint fitness and on each
// task's accuracy.
func (st *Study) Compare(reference string) error {
	var ref *StudyRow
	for i := range st.Rows {
		if st.Rows[i].Name == reference {
			ref = &st.Rows[i]
		}
	}
	if ref == nil {
		return fmt.Errorf("study: reference %q is not one of the functions", reference)
	}
	st.Reference = reference
	for i := range st.Rows {
		r := &st.Rows[i]
		if r == ref {
			continue
		}
		p := stats.PairedT(r.Fitness, ref.Fitness)
		p.Reference = reference
		r.VsReference = &p
		r.TasksVsReference = map[string]stats.Paired{}
		for task, acc := range r.Tasks {
			pt := stats.PairedT(acc, ref.Tasks[task])
			pt.Reference = reference
			r.TasksVsReference[task] = pt
		}
	}
	return nil
}

// RunStudy evaluates each function (resolved by package metrics: library
// names, expressions, native criteria such as random, a run's hall of fame)
// with evaluation seeds 1..seeds on every task of c, through exec.
//
// With logPath set, every finished evaluation is appended to that log
// (internal/jsonl) as it arrives, and evaluations already in it are not run
// again: a study killed after hours resumes where it stopped. A logged
// result is reused only for the very same job (its ID hashes the function,
// the task's whole protocol, the checkpoint's content and the seed), so a
// study with other budgets or another model never picks up stale numbers.
// Refused results (an environment error) are not logged, so they are
// retried.
func RunStudy(c *Config, fns []metrics.Metric, seeds int, exec Executor, progress io.Writer, logPath string) (*Study, error) {
	if len(fns) == 0 {
		return nil, fmt.Errorf("study: no functions")
	}
	var jobs []Job
	for _, f := range fns {
		for s := 1; s <= seeds; s++ {
			for _, t := range c.Tasks {
				jobs = append(jobs, NewJob(f.Expr, f.Hash, t, uint64(s)))
			}
		}
	}
	idx := fitnessIndex{}
	st := &Study{}
	n := 0
	record := func(r Result) {
		idx[indexKey(r.Hash, r.Task, r.Seed)] = r
		st.Results = append(st.Results, r)
		n++
	}
	todo := jobs
	var log *jsonl.Log
	if logPath != "" {
		var err error
		if todo, err = reuseLogged(logPath, jobs, record); err != nil {
			return nil, err
		}
		if n > 0 {
			logf(progress, "%s: %d of %d evaluations already done", logPath, n, len(jobs))
		}
		if log, err = jsonl.Open(logPath); err != nil {
			return nil, err
		}
		defer log.Close()
	}
	var logErr error
	if err := exec.Run(todo, func(r Result) {
		if log != nil && !r.Refused && logErr == nil {
			logErr = log.Append(r)
		}
		record(r)
		logf(progress, "%d/%d: %s on %s, seed %d: val acc %.4f (%.4f right after pruning) %s", n, len(jobs), short(r.Expr), r.Task, r.Seed, r.ValAcc, r.ValAccPruned, r.Error)
	}); err != nil {
		return nil, err
	}
	if logErr != nil {
		return nil, logErr
	}
	for _, r := range st.Results {
		if r.Refused {
			return nil, fmt.Errorf("%s on %s, seed %d: %s", short(r.Expr), r.Task, r.Seed, r.Error)
		}
	}
	var means, stds []float64
	for _, f := range fns {
		row := StudyRow{Name: f.Label, Expr: f.Expr, Tasks: map[string][]float64{}}
		for s := 1; s <= seeds; s++ {
			acc := make([]float64, len(c.Tasks))
			w := make([]float64, len(c.Tasks))
			for i, t := range c.Tasks {
				r, ok := idx[indexKey(f.Hash, t.Name, uint64(s))]
				if !ok {
					return nil, fmt.Errorf("no result for %s on %s seed %d", f.Label, t.Name, s)
				}
				acc[i], w[i] = r.Accuracy(), t.Weight
				row.Tasks[t.Name] = append(row.Tasks[t.Name], r.Accuracy())
			}
			j, err := Joint(c.Mean, acc, w)
			if err != nil {
				return nil, err
			}
			row.Fitness = append(row.Fitness, j)
		}
		row.Mean, row.Std = meanStd(row.Fitness)
		means, stds = append(means, row.Mean), append(stds, row.Std)
		st.Rows = append(st.Rows, row)
	}
	sort.SliceStable(st.Rows, func(i, j int) bool { return st.Rows[i].Mean > st.Rows[j].Mean })
	_, st.Between = meanStd(means)
	st.Within, _ = meanStd(stds)
	var pruned, final []float64
	for _, r := range st.Results {
		if r.Error == "" && !r.Screened {
			pruned, final = append(pruned, r.ValAccPruned), append(final, r.ValAcc)
		}
	}
	st.ScreenPearson = pearson(pruned, final)
	st.ScreenSpearman = pearson(ranks(pruned), ranks(final))
	return st, nil
}

// reuseLogged hands every job the log at path already holds a result for to
// record, and returns the jobs still to run. A line cut short by a kill is
// skipped by jsonl.Read.
func reuseLogged(path string, jobs []Job, record func(Result)) ([]Job, error) {
	prior, err := jsonl.Read(path, func(r *Result) bool { return r.JobID != "" && !r.Refused })
	if err != nil {
		return nil, err
	}
	byID := map[string]Result{}
	for _, r := range prior {
		byID[r.JobID] = r
	}
	var todo []Job
	for _, j := range jobs {
		if r, ok := byID[j.ID]; ok {
			record(r)
			continue
		}
		todo = append(todo, j)
	}
	return todo, nil
}

func meanStd(v []float64) (mean, std float64) {
	if len(v) == 0 {
		return math.NaN(), math.NaN()
	}
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	if len(v) < 2 {
		return mean, 0
	}
	for _, x := range v {
		std += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(std / float64(len(v)-1))
}

func pearson(a, b []float64) float64 {
	if len(a) < 3 {
		return math.NaN()
	}
	ma, _ := meanStd(a)
	mb, _ := meanStd(b)
	var sab, saa, sbb float64
	for i := range a {
		sab += (a[i] - ma) * (b[i] - mb)
		saa += (a[i] - ma) * (a[i] - ma)
		sbb += (b[i] - mb) * (b[i] - mb)
	}
	return sab / math.Sqrt(saa*sbb)
}

// ranks gives average ranks (ties share their mean rank).
func ranks(v []float64) []float64 {
	idx := make([]int, len(v))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(i, j int) bool { return v[idx[i]] < v[idx[j]] })
	r := make([]float64, len(v))
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && v[idx[j+1]] == v[idx[i]] {
			j++
		}
		for k := i; k <= j; k++ {
			r[idx[k]] = float64(i+j)/2 + 1
		}
		i = j + 1
	}
	return r
}

// Table renders the study for docs; after Compare, with the paired
// differences from the reference (Δ, p) of the fitness and of each task.
func (st *Study) Table(tasks []Task) report.Table {
	h := []string{"function", "fitness mean", "std over seeds"}
	for _, t := range tasks {
		h = append(h, t.Name+" val acc (per seed)")
	}
	if st.Reference != "" {
		h = append(h, "Δ fitness vs "+st.Reference+" (p)")
		for _, t := range tasks {
			h = append(h, "Δ "+t.Name+" (p)")
		}
	}
	tb := report.Table{Header: h}
	for _, r := range st.Rows {
		cells := []any{r.Name, fmt.Sprintf("%.4f", r.Mean), fmt.Sprintf("%.4f", r.Std)}
		for _, t := range tasks {
			s := ""
			for i, a := range r.Tasks[t.Name] {
				if i > 0 {
					s += " "
				}
				s += fmt.Sprintf("%.4f", a)
			}
			cells = append(cells, s)
		}
		if st.Reference != "" {
			if r.VsReference == nil {
				cells = append(cells, "reference")
				for range tasks {
					cells = append(cells, "")
				}
			} else {
				cells = append(cells, pairedCell(*r.VsReference))
				for _, t := range tasks {
					cells = append(cells, pairedCell(r.TasksVsReference[t.Name]))
				}
			}
		}
		tb.AddRow(cells...)
	}
	return tb
}

// pairedCell is a difference with its p-value, "+0.0049 (p 0.114)".
func pairedCell(p stats.Paired) string {
	if p.N < 2 || math.IsNaN(p.P) {
		return fmt.Sprintf("%+.4f", p.MeanDiff)
	}
	if p.P < 0.001 {
		return fmt.Sprintf("%+.4f (p < 0.001)", p.MeanDiff)
	}
	return fmt.Sprintf("%+.4f (p %.3f)", p.MeanDiff, p.P)
}
