package evolve

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"

	"github.com/evoprune/evoprune/pfunc"
	"github.com/evoprune/evoprune/report"
)

// Fame is one hall-of-fame entry with its closed forms and per-task results.
type Fame struct {
	Rank    int                `json:"rank"`
	Fitness float64            `json:"fitness"`
	Prefix  string             `json:"prefix"`
	Infix   string             `json:"infix"`
	LaTeX   string             `json:"latex"`
	Size    int                `json:"size"`
	Origin  string             `json:"origin"`
	Tasks   map[string]float64 `json:"val_acc"`
}

// Summary is summary.json.
type Summary struct {
	Generations []GenerationLog `json:"generations"`
	HallOfFame  []Fame          `json:"hall_of_fame"`
	Evaluations int             `json:"evaluations"`
	Failures    int             `json:"failures"`
	Screened    int             `json:"screened"`
	CacheHits   int             `json:"cache_hits"`
	CachedSteps int             `json:"cached_fine_tunes"`
	CPUSeconds  float64         `json:"evaluation_seconds"`
}

func summarise(c *Config, out *Outcome) Summary {
	var sum Summary
	sum.Generations = out.Logs
	idx := fitnessIndex{}
	for _, r := range out.Results {
		idx[indexKey(r.Hash, r.Task, r.Seed)] = r
		sum.Evaluations++
		sum.CPUSeconds += r.Seconds
		sum.CachedSteps += r.CachedSteps
		if r.Error != "" {
			sum.Failures++
		}
		if r.Screened {
			sum.Screened++
		}
	}
	for _, lg := range out.Logs {
		sum.CacheHits += lg.CacheHits
	}
	for i, ind := range HallOfFame(out.Generations, c.HallOfFame) {
		f := Fame{Rank: i + 1, Fitness: ind.Fitness, Prefix: pfunc.Prefix(ind.Tree), Infix: pfunc.Infix(ind.Tree),
			LaTeX: pfunc.LaTeX(ind.Tree), Size: ind.Tree.Size(), Origin: ind.Origin, Tasks: map[string]float64{}}
		for _, t := range c.Tasks {
			if r, ok := idx[indexKey(pfunc.Hash(ind.Tree), t.Name, c.EvalSeed)]; ok {
				f.Tasks[t.Name] = r.Accuracy()
			}
		}
		sum.HallOfFame = append(sum.HallOfFame, f)
	}
	return sum
}

// writeReports refreshes the run's reports after a generation.
func writeReports(c *Config, s *Store, out *Outcome) error {
	sum := summarise(c, out)
	b, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		return err
	}
	if err := writeAtomic(filepath.Join(s.Dir, "summary.json"), append(b, '\n')); err != nil {
		return err
	}
	if err := report.WriteFile(filepath.Join(s.Dir, "summary.md"), func(w io.Writer) error { return writeMarkdown(w, c, sum) }); err != nil {
		return err
	}
	var gens []report.GenerationFitness
	var sizes []int
	var fits []float64
	for _, st := range out.Generations {
		f := make([]float64, len(st.Population))
		for i, ind := range st.Population {
			f[i] = ind.Fitness
			sizes = append(sizes, ind.Tree.Size())
			fits = append(fits, ind.Fitness)
		}
		g, err := report.SummariseGeneration(st.Generation, f)
		if err != nil {
			return err
		}
		gens = append(gens, g)
	}
	lp, err := report.FitnessByGeneration("fitness by generation", gens)
	if err != nil {
		return err
	}
	if err := lp.SavePNG(filepath.Join(s.Dir, "fitness.png")); err != nil {
		return err
	}
	sp, err := report.FitnessVsSize("fitness against tree size", sizes, fits)
	if err != nil {
		return err
	}
	return sp.SavePNG(filepath.Join(s.Dir, "fitness_vs_size.png"))
}

func writeMarkdown(w io.Writer, c *Config, sum Summary) error {
	fmt.Fprintf(w, "# Evolution run\n\nTasks:")
	for _, t := range c.Tasks {
		fmt.Fprintf(w, " %s (%s, %s, weight %g)", t.Name, t.Model, t.Schedule, t.Weight)
	}
	fmt.Fprintf(w, "; %s mean; population %d, %d generations, seed %d, evaluation seed %d.\n\n",
		orDefault(c.Mean, "geometric"), c.GP.Population, c.GP.Generations, c.Seed, c.EvalSeed)
	fmt.Fprintf(w, "Evaluations run: %d (%d failed, %d screened out); individuals served from earlier results: %d; "+
		"fine-tunes skipped for equal decisions: %d; evaluation time %.0f s.\n\n",
		sum.Evaluations, sum.Failures, sum.Screened, sum.CacheHits, sum.CachedSteps, sum.CPUSeconds)
	fmt.Fprintf(w, "## Hall of fame\n\n")
	t := report.Table{Header: []string{"rank", "fitness", "size", "function (infix)", "prefix"}}
	for _, f := range sum.HallOfFame {
		t.AddRow(f.Rank, fmt.Sprintf("%.4f", f.Fitness), f.Size, "`"+f.Infix+"`", "`"+f.Prefix+"`")
	}
	if err := t.WriteMarkdown(w); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nLaTeX:\n\n")
	for _, f := range sum.HallOfFame {
		fmt.Fprintf(w, "%d. $%s$\n", f.Rank, f.LaTeX)
	}
	fmt.Fprintf(w, "\n## Generations\n\n")
	g := report.Table{Header: []string{"generation", "best", "mean", "evaluated", "from earlier results", "failed", "seconds", "best function"}}
	for _, lg := range sum.Generations {
		g.AddRow(lg.Generation, fmt.Sprintf("%.4f", lg.Best), fmt.Sprintf("%.4f", lg.Mean), lg.Evaluations, lg.CacheHits, lg.Failures, fmt.Sprintf("%.0f", lg.Seconds), "`"+lg.BestExpr+"`")
	}
	if err := g.WriteMarkdown(w); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n![fitness by generation](fitness.png)\n![fitness against size](fitness_vs_size.png)\n")
	return nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
