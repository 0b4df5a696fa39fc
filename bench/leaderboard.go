package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"sort"
	"strings"

	"github.com/evoprune/evoprune/metrics"
	"github.com/evoprune/evoprune/report"
	"github.com/evoprune/evoprune/stats"
)

// SeedResult is one seed's numbers in a row.
type SeedResult struct {
	Seed         uint64  `json:"seed"`
	ValAccPruned float64 `json:"val_acc_pruned"`
	ValAccTuned  float64 `json:"val_acc_finetuned"`
	TestAcc      float64 `json:"test_acc,omitempty"`
	Error        string  `json:"error,omitempty"`
}

// Row is one metric on one task variant, summarised over seeds. Accuracies
// and kept fractions are fractions in [0, 1].
type Row struct {
	Variant string       `json:"variant"`
	Metric  string       `json:"metric"`
	Kind    metrics.Kind `json:"kind"`
	Expr    string       `json:"expr"`
	// Rank orders the rows of a variant by the mean of the ranking
	// accuracy (failed and not comparable rows after the others, rank 0).
	Rank int `json:"rank"`
	// OK of Seeds evaluations succeeded; Error is the first failure's reason.
	Seeds int    `json:"seeds"`
	OK    int    `json:"ok"`
	Error string `json:"error,omitempty"`
	// AccPruned is the validation accuracy right after the first pruning
	// step, before any fine-tuning (the criterion's own quality); AccTuned
	// after the last step's fine-tuning; TestAcc the test accuracy of the
	// final model (when the task measures it).
	AccPruned stats.Stat  `json:"val_acc_pruned"`
	AccTuned  stats.Stat  `json:"val_acc_finetuned"`
	TestAcc   *stats.Stat `json:"test_acc,omitempty"`
	// ParamsKept and MACsKept are the fractions of the original model left.
	ParamsKept stats.Stat `json:"params_kept"`
	MACsKept   stats.Stat `json:"macs_kept"`
	// CPUSeconds per evaluation (when measured) and wall Seconds.
	CPUSeconds *stats.Stat `json:"cpu_seconds,omitempty"`
	Seconds    stats.Stat  `json:"seconds"`
	// Unequal says why the row is not comparable with the others: it
	// removed a different share of what the schedule fixes (MACs, or params
	// for a params:R schedule), as bn_scale does where it cannot score a
	// group and leaves it whole. Such rows are ranked after the comparable
	// ones, without a rank number or a paired test, and never the reference.
	Unequal string `json:"unequal_compression,omitempty"`
	// VsReference is the paired test against the variant's reference.
	VsReference *stats.Paired `json:"vs_reference,omitempty"`
	PerSeed     []SeedResult  `json:"per_seed"`
}

// primary is the accuracy rows are ranked and tested on.
func (r *Row) primary() stats.Stat {
	if r.TestAcc != nil {
		return *r.TestAcc
	}
	return r.AccTuned
}

func (r *Row) primaryBySeed() map[uint64]float64 {
	m := map[uint64]float64{}
	for _, s := range r.PerSeed {
		if s.Error != "" {
			continue
		}
		if r.TestAcc != nil {
			m[s.Seed] = s.TestAcc
		} else {
			m[s.Seed] = s.ValAccTuned
		}
	}
	return m
}

// VariantInfo describes one ranked (task, schedule).
type VariantInfo struct {
	Name     string `json:"name"`
	Task     string `json:"task"`
	Schedule string `json:"schedule"`
	Model    string `json:"model"`
	Dataset  string `json:"dataset"`
	// RankedBy names the accuracy rows are ranked and tested on: the test
	// accuracy when the task measures it, else the validation accuracy
	// after fine-tuning.
	RankedBy string `json:"ranked_by"`
	// Reference is the metric the paired tests compare against.
	Reference string `json:"reference,omitempty"`
	Protocol  string `json:"protocol"`
}

// Leaderboard is the outcome of a benchmark.
type Leaderboard struct {
	Seeds    int           `json:"seeds"`
	Variants []VariantInfo `json:"variants"`
	Rows     []Row         `json:"rows"`
	// Curves lists tasks with several schedules (pruning curves).
	Curves []string `json:"curves,omitempty"`
	tasks  []Task
}

// Significance is the level below which a paired difference is called
// significant.
const Significance = 0.05

// UnequalTolerance is how far (as a fraction of the original model) a row's
// kept MACs (params) may be from the variant's median before the row is
// called not comparable.
const UnequalTolerance = 0.01

// markUnequal flags the rows whose compression differs from the median of
// the successful rows by more than UnequalTolerance. What is compared is
// what the schedule holds fixed: params for params:R, else MACs (a fixed
// schedule removes the same channel counts whatever the metric, so equal
// MACs is what equal treatment means there too).
func markUnequal(rows []Row, schedule string) {
	what, kept := "MACs", func(r *Row) float64 { return r.MACsKept.Mean }
	if strings.HasPrefix(schedule, "params:") {
		what, kept = "params", func(r *Row) float64 { return r.ParamsKept.Mean }
	}
	var ks []float64
	for i := range rows {
		if rows[i].OK > 0 {
			ks = append(ks, kept(&rows[i]))
		}
	}
	if len(ks) < 2 {
		return
	}
	sort.Float64s(ks)
	med := ks[len(ks)/2]
	if len(ks)%2 == 0 {
		med = (ks[len(ks)/2-1] + ks[len(ks)/2]) / 2
	}
	for i := range rows {
		if rows[i].OK == 0 {
			continue
		}
		if k := kept(&rows[i]); math.Abs(k-med) > UnequalTolerance {
			more := "less"
			if k < med {
				more = "more"
			}
			rows[i].Unequal = fmt.Sprintf("not comparable: prunes %s (%s −%.1f %%, the others −%.1f %%)", more, what, 100*(1-k), 100*(1-med))
		}
	}
}

func protocol(t Task, sched string) string {
	ft := "no fine-tuning"
	switch {
	case t.FineTuneEpochs > 0 && t.FineTuneSteps > 0:
		ft = fmt.Sprintf("fine-tune %d epochs (at most %d steps) per pruning step", t.FineTuneEpochs, t.FineTuneSteps)
	case t.FineTuneEpochs > 0:
		ft = fmt.Sprintf("fine-tune %d epochs per pruning step", t.FineTuneEpochs)
	case t.FineTuneSteps > 0:
		ft = fmt.Sprintf("fine-tune %d steps per pruning step", t.FineTuneSteps)
	}
	s := fmt.Sprintf("%s on %s, schedule %s, %d scoring images, %s", filepath.Base(t.Model), t.Dataset, sched, t.Sample, ft)
	if t.TrainImages > 0 {
		s += fmt.Sprintf(" on %d training images", t.TrainImages)
	}
	if t.RecalibrateBN > 0 {
		s += fmt.Sprintf(", BN recalibrated on %d images", t.RecalibrateBN)
	}
	val := fmt.Sprintf("%d held-out", t.ValSize)
	if t.ValImages > 0 && t.ValImages < t.ValSize {
		val = fmt.Sprintf("%d of the %d held-out", t.ValImages, t.ValSize)
	}
	return s + fmt.Sprintf(", validation on %s images", val)
}

// Build summarises records (keyed by job ID) into the leaderboard of the
// tasks, metrics and seeds 1..seeds. reference names the metric every
// other is tested against; empty picks, per variant, the hand-made metric
// whose evaluations all succeeded with the best mean ranking accuracy.
func Build(tasks []Task, ms []metrics.Metric, seeds int, records map[string]Record, reference string) (*Leaderboard, error) {
	lb := &Leaderboard{Seeds: seeds, tasks: tasks}
	o := Options{Tasks: tasks, Metrics: ms, Seeds: seeds}
	byKey := map[string]job{}
	for _, j := range o.jobs() {
		byKey[fmt.Sprintf("%s|%s|%d", j.variant.Name, j.metric.Label, j.seed)] = j
	}
	for _, t := range tasks {
		vs := t.Variants()
		if len(vs) > 1 {
			lb.Curves = append(lb.Curves, t.Name)
		}
		for _, v := range vs {
			info := VariantInfo{Name: v.Name, Task: t.Name, Schedule: v.Schedule, Model: t.Model, Dataset: t.Dataset,
				RankedBy: "val_acc_finetuned", Protocol: protocol(t, v.Schedule)}
			if t.TestAcc {
				info.RankedBy = "test_acc"
			}
			var rows []Row
			for _, m := range ms {
				row := Row{Variant: v.Name, Metric: m.Label, Kind: m.Kind, Expr: m.Expr, Seeds: seeds}
				var pruned, tuned, test, pk, mk, cpu, secs []float64
				cpuKnown := true
				for s := 1; s <= seeds; s++ {
					j, ok := byKey[fmt.Sprintf("%s|%s|%d", v.Name, m.Label, s)]
					if !ok {
						return nil, fmt.Errorf("internal: no job for %s %s seed %d", v.Name, m.Label, s)
					}
					rec, ok := records[j.job.ID]
					if !ok {
						return nil, fmt.Errorf("no result for %s, %s, seed %d (job %s)", v.Name, m.Label, s, j.job.ID)
					}
					r := rec.Result
					sr := SeedResult{Seed: uint64(s), Error: r.Error}
					if r.Error != "" {
						if row.Error == "" {
							row.Error = r.Error
						}
						row.PerSeed = append(row.PerSeed, sr)
						continue
					}
					sr.ValAccPruned, sr.ValAccTuned, sr.TestAcc = r.ValAccPruned, r.ValAcc, r.TestAcc
					row.PerSeed = append(row.PerSeed, sr)
					row.OK++
					pruned, tuned, test = append(pruned, r.ValAccPruned), append(tuned, r.ValAcc), append(test, r.TestAcc)
					pk, mk, secs = append(pk, r.ParamsKept), append(mk, r.MACsKept), append(secs, r.Seconds)
					cpu = append(cpu, rec.CPUSeconds)
					cpuKnown = cpuKnown && rec.CPUSeconds > 0
				}
				row.AccPruned, row.AccTuned = stats.Summarise(pruned), stats.Summarise(tuned)
				if t.TestAcc {
					st := stats.Summarise(test)
					row.TestAcc = &st
				}
				row.ParamsKept, row.MACsKept, row.Seconds = stats.Summarise(pk), stats.Summarise(mk), stats.Summarise(secs)
				if cpuKnown && len(cpu) > 0 {
					st := stats.Summarise(cpu)
					row.CPUSeconds = &st
				}
				rows = append(rows, row)
			}
			markUnequal(rows, v.Schedule)
			// Comparable rows first, then the unequal ones, then the failed.
			class := func(r Row) int {
				switch {
				case r.OK == 0:
					return 2
				case r.Unequal != "":
					return 1
				}
				return 0
			}
			sort.SliceStable(rows, func(a, b int) bool {
				ra, rb := rows[a], rows[b]
				if class(ra) != class(rb) {
					return class(ra) < class(rb)
				}
				if ra.OK == 0 {
					return false
				}
				return ra.primary().Mean > rb.primary().Mean
			})
			for i := range rows {
				if class(rows[i]) == 0 {
					rows[i].Rank = i + 1
				}
			}
			ref := reference
			if ref == "" {
				for _, r := range rows { // sorted: the first complete comparable hand-made row is the best
					if r.Kind == metrics.KindHandMade && r.OK == seeds && r.Unequal == "" {
						ref = r.Metric
						break
					}
				}
			}
			info.Reference = ref
			var refRow *Row
			for i := range rows {
				if rows[i].Metric == ref {
					refRow = &rows[i]
				}
			}
			if refRow != nil && refRow.OK > 0 {
				rb := refRow.primaryBySeed()
				for i := range rows {
					if &rows[i] == refRow || rows[i].OK == 0 || rows[i].Unequal != "" {
						continue
					}
					var a, b []float64
					ra := rows[i].primaryBySeed()
					for _, s := range rows[i].PerSeed {
						av, ok1 := ra[s.Seed]
						bv, ok2 := rb[s.Seed]
						if ok1 && ok2 {
							a, b = append(a, av), append(b, bv)
						}
					}
					p := stats.PairedT(a, b)
					p.Reference = ref
					rows[i].VsReference = &p
				}
			}
			lb.Variants = append(lb.Variants, info)
			lb.Rows = append(lb.Rows, rows...)
		}
	}
	return lb, nil
}

// rowsOf returns the rows of one variant.
func (lb *Leaderboard) rowsOf(variant string) []Row {
	var out []Row
	for _, r := range lb.Rows {
		if r.Variant == variant {
			out = append(out, r)
		}
	}
	return out
}

func pct(s stats.Stat) string {
	if s.N == 0 || math.IsNaN(s.Mean) {
		return "–"
	}
	if math.IsNaN(s.High) {
		return fmt.Sprintf("%.2f", 100*s.Mean)
	}
	return fmt.Sprintf("%.2f ± %.2f", 100*s.Mean, 100*s.HalfWidth())
}

func num(v float64, prec int) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return ""
	}
	return fmt.Sprintf("%.*f", prec, v)
}

// Table is one variant's leaderboard for reading: accuracies in percent as
// mean ± half width of the 95 % interval over seeds.
func (lb *Leaderboard) Table(variant string) report.Table {
	t := report.Table{Header: []string{"rank", "metric", "kind", "seeds ok", "val acc pruned %", "val acc fine-tuned %", "test acc %",
		"std (ranked)", "params −%", "MACs −%", "CPU s/run", "Δ vs ref (pp)", "p", "note"}}
	t.Align = []report.Align{report.AlignRight, report.AlignLeft, report.AlignLeft, report.AlignRight, report.AlignRight, report.AlignRight,
		report.AlignRight, report.AlignRight, report.AlignRight, report.AlignRight, report.AlignRight, report.AlignRight, report.AlignRight, report.AlignLeft}
	for _, r := range lb.rowsOf(variant) {
		rank := "–"
		if r.Rank > 0 {
			rank = fmt.Sprint(r.Rank)
		}
		test := "–"
		if r.TestAcc != nil {
			test = pct(*r.TestAcc)
		}
		std, cpu, diff, p, note := "", "", "", "", ""
		if r.OK > 0 {
			std = num(100*r.primary().Std, 2)
		}
		switch {
		case r.CPUSeconds != nil:
			cpu = num(r.CPUSeconds.Mean, 1)
		case r.OK > 0: // CPU time is not measured when workers share the process
			cpu = num(r.Seconds.Mean, 1) + " wall"
		}
		if r.VsReference != nil && r.VsReference.N > 0 {
			diff = fmt.Sprintf("%+.2f", 100*r.VsReference.MeanDiff)
			p = num(r.VsReference.P, 3)
			if r.VsReference.P < 0.001 {
				p = "<0.001"
			}
			if r.VsReference.P < Significance {
				p += " *"
			}
		}
		for _, v := range lb.Variants {
			if v.Name == variant && v.Reference == r.Metric {
				note = "reference"
			}
		}
		if r.Unequal != "" {
			if note != "" {
				note += "; "
			}
			note += r.Unequal
		}
		if r.Error != "" {
			if note != "" {
				note += "; "
			}
			note += fmt.Sprintf("%d/%d failed: %s", r.Seeds-r.OK, r.Seeds, oneLine(r.Error))
		}
		pk, mk := "", ""
		if r.OK > 0 {
			pk, mk = num(100*(1-r.ParamsKept.Mean), 1), num(100*(1-r.MACsKept.Mean), 1)
		}
		t.AddRow(rank, r.Metric, string(r.Kind), fmt.Sprintf("%d/%d", r.OK, r.Seeds), pct(r.AccPruned), pct(r.AccTuned), test,
			std, pk, mk, cpu, diff, p, note)
	}
	return t
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return s
}

// CSV is every row with raw numbers (fractions, not percent), one column
// per statistic, for spreadsheets and scripts.
func (lb *Leaderboard) CSV() report.Table {
	h := []string{"variant", "task", "schedule", "rank", "metric", "kind", "seeds", "ok"}
	for _, q := range []string{"val_acc_pruned", "val_acc_finetuned", "test_acc"} {
		h = append(h, q+"_mean", q+"_std", q+"_ci95_low", q+"_ci95_high")
	}
	h = append(h, "params_kept", "macs_kept", "cpu_seconds", "seconds", "reference", "diff_vs_reference", "t", "p", "unequal", "error", "expr")
	t := report.Table{Header: h}
	vinfo := map[string]VariantInfo{}
	for _, v := range lb.Variants {
		vinfo[v.Name] = v
	}
	for _, r := range lb.Rows {
		v := vinfo[r.Variant]
		cells := []string{r.Variant, v.Task, v.Schedule, fmt.Sprint(r.Rank), r.Metric, string(r.Kind), fmt.Sprint(r.Seeds), fmt.Sprint(r.OK)}
		test := stats.Stat{Mean: math.NaN(), Std: math.NaN(), Low: math.NaN(), High: math.NaN()}
		if r.TestAcc != nil {
			test = *r.TestAcc
		}
		for _, s := range []stats.Stat{r.AccPruned, r.AccTuned, test} {
			cells = append(cells, num(s.Mean, 6), num(s.Std, 6), num(s.Low, 6), num(s.High, 6))
		}
		cpu := ""
		if r.CPUSeconds != nil {
			cpu = num(r.CPUSeconds.Mean, 2)
		}
		ref, d, tt, p := "", "", "", ""
		if r.VsReference != nil {
			ref, d, tt, p = r.VsReference.Reference, num(r.VsReference.MeanDiff, 6), num(r.VsReference.T, 4), num(r.VsReference.P, 6)
		}
		cells = append(cells, num(r.ParamsKept.Mean, 6), num(r.MACsKept.Mean, 6), cpu, num(r.Seconds.Mean, 2), ref, d, tt, p, r.Unequal, oneLine(r.Error), r.Expr)
		t.Rows = append(t.Rows, cells)
	}
	return t
}

// WriteMarkdown writes every variant's table with its protocol.
func (lb *Leaderboard) WriteMarkdown(w io.Writer) error {
	for i, v := range lb.Variants {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "### %s\n\n%s; seeds 1..%d (scoring sample, fine-tuning batches, random). Ranked by %s",
			v.Name, v.Protocol, lb.Seeds, strings.ReplaceAll(v.RankedBy, "_", " "))
		if v.Reference != "" {
			fmt.Fprintf(w, "; Δ and p: paired t-test over seeds against %s (* p < %.2f)", v.Reference, Significance)
		}
		fmt.Fprint(w, ". Accuracies: mean ± half width of the 95 % t-interval over seeds.\n\n")
		t := lb.Table(v.Name)
		if err := t.WriteMarkdown(w); err != nil {
			return err
		}
	}
	return nil
}

// CurvesOf returns the pruning curve of a task with several schedules: per
// metric, the ranking accuracy (percent, with the 95 % half width as error
// bar when there are several seeds) against the MACs kept (percent).
func (lb *Leaderboard) CurvesOf(task string) (report.LinePlot, error) {
	var t *Task
	for i := range lb.tasks {
		if lb.tasks[i].Name == task {
			t = &lb.tasks[i]
		}
	}
	if t == nil {
		return report.LinePlot{}, fmt.Errorf("no task %s", task)
	}
	var metrics []string
	seen := map[string]bool{}
	for _, r := range lb.Rows {
		if !seen[r.Metric] {
			seen[r.Metric] = true
			metrics = append(metrics, r.Metric)
		}
	}
	var series []report.Series
	for _, m := range metrics {
		type pt struct{ x, y, e float64 }
		var pts []pt
		for _, v := range t.Variants() {
			for _, r := range lb.rowsOf(v.Name) {
				if r.Metric == m && r.OK > 0 {
					p := r.primary()
					pts = append(pts, pt{100 * r.MACsKept.Mean, 100 * p.Mean, 100 * p.HalfWidth()})
				}
			}
		}
		if len(pts) == 0 {
			continue
		}
		sort.Slice(pts, func(a, b int) bool { return pts[a].x < pts[b].x })
		s := report.Series{Name: m}
		withErr := true
		for _, p := range pts {
			s.X, s.Y, s.YErr = append(s.X, p.x), append(s.Y, p.y), append(s.YErr, p.e)
			withErr = withErr && !math.IsNaN(p.e)
		}
		if !withErr {
			s.YErr = nil
		}
		series = append(series, s)
	}
	if len(series) == 0 {
		return report.LinePlot{}, fmt.Errorf("task %s: no successful results to plot", task)
	}
	what := "validation accuracy after fine-tuning"
	if t.TestAcc {
		what = "test accuracy"
	}
	lp := report.PruningCurves(fmt.Sprintf("%s: %s against MACs kept", task, what), series)
	return lp, nil
}

// Save writes leaderboard.md, leaderboard.csv, leaderboard.json and one
// curves-TASK.png per task with several schedules into dir.
func (lb *Leaderboard) Save(dir string) error {
	if err := report.WriteFile(filepath.Join(dir, "leaderboard.md"), lb.WriteMarkdown); err != nil {
		return err
	}
	csv := lb.CSV()
	if err := csv.SaveCSV(filepath.Join(dir, "leaderboard.csv")); err != nil {
		return err
	}
	if err := report.WriteFile(filepath.Join(dir, "leaderboard.json"), func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(lb)
	}); err != nil {
		return err
	}
	for _, task := range lb.Curves {
		lp, err := lb.CurvesOf(task)
		if err != nil {
			continue // every metric failed: the tables say why
		}
		if err := lp.SavePNG(filepath.Join(dir, "curves-"+task+".png")); err != nil {
			return err
		}
	}
	return nil
}
