package evolve

import (
	"fmt"
	"io"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/evoprune/evoprune/gp"
	"github.com/evoprune/evoprune/pfunc"
)

// Executor runs a batch of jobs and reports each result as it finishes
// (done is called from one goroutine at a time). The in-process Pool is the
// default; package dist runs the same jobs on other machines.
type Executor interface {
	Run(jobs []Job, done func(Result)) error
}

// Pool runs jobs on Workers goroutines of one Evaluator. The order of
// completion varies; the results do not.
type Pool struct {
	Eval    *Evaluator
	Workers int
}

// Run implements Executor.
func (p *Pool) Run(jobs []Job, done func(Result)) error {
	w := max(p.Workers, 1)
	ch := make(chan Job)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range min(w, len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range ch {
				r := p.Eval.Evaluate(j)
				mu.Lock()
				done(r)
				mu.Unlock()
			}
		}()
	}
	for _, j := range jobs {
		ch <- j
	}
	close(ch)
	wg.Wait()
	return nil
}

// Options are the run's execution settings (not part of its identity:
// changing them never changes the results).
type Options struct {
	Executor Executor
	Progress io.Writer
	Version  string
	// StopAfter, in tests, ends the run after that many generations have
	// been checkpointed, as if killed.
	StopAfter int
}

// GenerationLog summarises one generation for reports.
type GenerationLog struct {
	Generation  int     `json:"generation"`
	Best        float64 `json:"best"`
	Mean        float64 `json:"mean"`
	BestExpr    string  `json:"best_expr"`
	Evaluations int     `json:"evaluations"` // jobs run
	CacheHits   int     `json:"cache_hits"`  // individuals served from earlier results
	Failures    int     `json:"failures"`
	Screened    int     `json:"screened"`
	Seconds     float64 `json:"seconds"`
}

// Outcome is what a run returns: every generation and every result.
type Outcome struct {
	Generations []gp.State      `json:"-"`
	Logs        []GenerationLog `json:"generations"`
	Results     []Result        `json:"-"`
	// BudgetReached says the run ended on Config.BudgetHours.
	BudgetReached bool `json:"budget_reached,omitempty"`
}

// evaluationHours is the time of every evaluation on record.
func evaluationHours(rs []Result) float64 {
	s := 0.0
	for _, r := range rs {
		s += r.Seconds
	}
	return s / 3600
}

// fitnessIndex finds finished evaluations by (hash, task, seed).
type fitnessIndex map[string]Result

func indexKey(hash, task string, seed uint64) string {
	return fmt.Sprintf("%s|%s|%d", hash, task, seed)
}

// Run evolves from the store's state: it starts a new run or continues a
// checkpointed one, and never evaluates a (function, task, seed) twice.
func Run(c *Config, s *Store, o Options) (*Outcome, error) {
	tb, err := gp.NewToolbox(c.GP)
	if err != nil {
		return nil, err
	}
	done, err := s.Results()
	if err != nil {
		return nil, err
	}
	gens, logs, err := s.Generations()
	if err != nil {
		return nil, err
	}
	idx := fitnessIndex{}
	for _, r := range done {
		idx[indexKey(r.Hash, r.Task, r.Seed)] = r
	}
	// Results the checkpointed generations used are theirs; a result on
	// record that none of them used was run for the generation a crash
	// interrupted, and counts as evaluated there when it is replayed.
	claimed := map[string]bool{}
	out := &Outcome{Generations: gens, Results: done}
	for i, st := range gens {
		for _, ind := range st.Population {
			for _, t := range c.Tasks {
				claimed[indexKey(pfunc.Hash(ind.Tree), t.Name, c.EvalSeed)] = true
			}
		}
		if logs[i] != nil {
			out.Logs = append(out.Logs, *logs[i])
		} else {
			out.Logs = append(out.Logs, logOf(st, 0, 0, 0, 0, 0)) // an older checkpoint: no statistics
		}
	}
	if len(gens) > 0 {
		logf(o.Progress, "resuming %s: %d generations checkpointed, %d evaluations on record", s.Dir, len(gens), len(done))
	}
	for gen := len(gens); gen <= c.GP.Generations; gen++ {
		if o.StopAfter > 0 && gen >= o.StopAfter {
			return out, nil
		}
		if spent := evaluationHours(out.Results); c.BudgetHours > 0 && gen > 0 && spent >= c.BudgetHours {
			logf(o.Progress, "budget reached: %.2f evaluation hours spent of %.2f; stopping before generation %d", spent, c.BudgetHours, gen)
			out.BudgetReached = true
			return out, nil
		}
		t0 := time.Now()
		rng := gp.GenerationRand(c.Seed, gen)
		var pop []gp.Individual
		if gen == 0 {
			pop, err = tb.Initial(rng)
		} else {
			pop, err = tb.Next(gens[gen-1].Population, rng)
		}
		if err != nil {
			return nil, fmt.Errorf("generation %d: %w", gen, err)
		}
		best := math.Inf(-1)
		for _, l := range out.Logs {
			best = max(best, l.Best)
		}
		lg, err := evaluate(c, s, o, gen, pop, idx, claimed, &out.Results, best)
		if err != nil {
			return nil, err
		}
		st := gp.State{Seed: c.Seed, Generation: gen, Population: pop}
		lg = logOf(st, lg.Evaluations, lg.CacheHits, lg.Failures, lg.Screened, lg.Seconds+time.Since(t0).Seconds())
		if err := s.SaveGeneration(st, lg); err != nil {
			return nil, err
		}
		gens = append(gens, st)
		out.Generations = gens
		out.Logs = append(out.Logs, lg)
		logf(o.Progress, "generation %d/%d: best %.4f (%s), mean %.4f, %d evaluated, %d from earlier results, %d failed, %.0fs",
			gen, c.GP.Generations, lg.Best, lg.BestExpr, lg.Mean, lg.Evaluations, lg.CacheHits, lg.Failures, lg.Seconds)
		if err := writeReports(c, s, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func logOf(st gp.State, evals, hits, fails, screened int, secs float64) GenerationLog {
	lg := GenerationLog{Generation: st.Generation, Evaluations: evals, CacheHits: hits, Failures: fails, Screened: screened, Seconds: secs}
	b := gp.Best(st.Population)
	lg.Best, lg.BestExpr = st.Population[b].Fitness, pfunc.Prefix(st.Population[b].Tree)
	for _, ind := range st.Population {
		lg.Mean += ind.Fitness
	}
	lg.Mean /= float64(len(st.Population))
	return lg
}

func logf(w io.Writer, format string, a ...any) {
	if w != nil {
		fmt.Fprintf(w, format+"\n", a...)
	}
}

// evaluate gives every unevaluated individual its fitness: from earlier
// results where the same function (canonical hash) met the same task and
// seed, else by running jobs, each distinct function once. claimed holds
// the keys earlier generations (and this one, as it goes) used; a result on
// record outside it was run for this generation before a crash, and is
// counted as this generation's evaluation (its Seconds span goes to
// lg.Seconds).
func evaluate(c *Config, s *Store, o Options, gen int, pop []gp.Individual, idx fitnessIndex, claimed map[string]bool, all *[]Result, bestSoFar float64) (GenerationLog, error) {
	lg := GenerationLog{Generation: gen}
	var jobs []Job
	var recoveredFrom, recoveredTo float64 // unix seconds spanned by recovered results
	for i := range pop {
		if pop[i].Evaluated {
			continue
		}
		hash := pfunc.Hash(pop[i].Tree)
		expr := pfunc.Prefix(pop[i].Tree)
		fresh := false
		for _, t := range c.Tasks {
			k := indexKey(hash, t.Name, c.EvalSeed)
			if claimed[k] {
				continue
			}
			claimed[k], fresh = true, true
			if r, ok := idx[k]; ok {
				lg.Evaluations++
				if r.Error != "" {
					lg.Failures++
				}
				if r.Screened {
					lg.Screened++
				}
				end := float64(r.FinishedUnix)
				if recoveredTo == 0 || end-r.Seconds < recoveredFrom {
					recoveredFrom = end - r.Seconds
				}
				recoveredTo = max(recoveredTo, end)
				continue
			}
			j := NewJob(expr, hash, t, c.EvalSeed)
			j.Version = o.Version
			jobs = append(jobs, j)
		}
		if !fresh {
			lg.CacheHits++ // the same function was evaluated before (or just now)
		}
	}
	start := time.Now()
	var appendErr, refused error
	finished := 0
	err := o.Executor.Run(jobs, func(r Result) {
		if _, dup := idx[indexKey(r.Hash, r.Task, r.Seed)]; dup {
			return // a redelivered job: counted once
		}
		if r.Refused {
			if refused == nil {
				refused = fmt.Errorf("evaluation of %s on %s refused: %s (fix it and continue with --resume %s)", short(r.Expr), r.Task, r.Error, s.Dir)
			}
			return
		}
		if err := s.Append(r); err != nil && appendErr == nil {
			appendErr = err
		}
		idx[indexKey(r.Hash, r.Task, r.Seed)] = r
		*all = append(*all, r)
		finished++
		lg.Evaluations++
		if r.Error != "" {
			lg.Failures++
		}
		if r.Screened {
			lg.Screened++
		}
		eta := time.Duration(float64(time.Since(start)) / float64(finished) * float64(len(jobs)-finished)).Round(time.Second)
		status := fmt.Sprintf("val acc %.4f", r.ValAcc)
		if r.Error != "" {
			status = "failed: " + r.Error
		}
		best := "-"
		if !math.IsInf(bestSoFar, -1) {
			best = fmt.Sprintf("%.4f", bestSoFar)
		}
		logf(o.Progress, "generation %d/%d: %d/%d evaluated, %d from earlier results, best so far %s; %s on %s: %s (%.0fs); generation ETA %s",
			gen, c.GP.Generations, finished, len(jobs), lg.CacheHits, best, short(r.Expr), r.Task, status, r.Seconds, eta)
	})
	if err != nil {
		return lg, err
	}
	if refused != nil {
		return lg, refused
	}
	if appendErr != nil {
		return lg, fmt.Errorf("results log: %w", appendErr)
	}
	lg.Seconds = recoveredTo - recoveredFrom
	for i := range pop {
		if pop[i].Evaluated {
			continue
		}
		f, err := fitnessOf(c, pfunc.Hash(pop[i].Tree), idx)
		if err != nil {
			return lg, err
		}
		pop[i].Fitness, pop[i].Evaluated = f, true
	}
	return lg, nil
}

func fitnessOf(c *Config, hash string, idx fitnessIndex) (float64, error) {
	acc := make([]float64, len(c.Tasks))
	w := make([]float64, len(c.Tasks))
	for i, t := range c.Tasks {
		r, ok := idx[indexKey(hash, t.Name, c.EvalSeed)]
		if !ok {
			return 0, fmt.Errorf("no result for %s on task %s", hash, t.Name)
		}
		acc[i], w[i] = r.Accuracy(), t.Weight
	}
	return Joint(c.Mean, acc, w)
}

func short(expr string) string {
	if len(expr) > 60 {
		return expr[:57] + "..."
	}
	return expr
}

// HallOfFame returns the best distinct functions (by canonical hash) seen
// in any generation, best first; ties go to the smaller tree.
func HallOfFame(gens []gp.State, n int) []gp.Individual {
	seen := map[string]bool{}
	var all []gp.Individual
	for _, st := range gens {
		for _, ind := range st.Population {
			h := pfunc.Hash(ind.Tree)
			if !seen[h] && ind.Evaluated {
				seen[h] = true
				all = append(all, ind)
			}
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return gp.Better(all[i], all[j]) })
	if len(all) > n {
		all = all[:n]
	}
	return all
}
