package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/evoprune/evoprune/evolve"
	"github.com/evoprune/evoprune/metrics"
	"github.com/evoprune/evoprune/pfunc"
	"github.com/spf13/cobra"
)

// executorHook lets the distributed backend (dist.go) replace the
// in-process pool when its flags are given; evolveFlagsHook adds its flags.
var (
	executorHook    func(cmd *cobra.Command, ev *evolve.Evaluator, workers int, runDir string) (evolve.Executor, func(), error)
	evolveFlagsHook func(cmd *cobra.Command)
)

func newEvolveCmd() *cobra.Command {
	var (
		configPath, preset, outDir, resume, dataDir string
		workers                                     int
		budget                                      float64
		generations                                 int
	)
	cmd := &cobra.Command{
		Use:   "evolve",
		Short: "Evolve pruning functions with genetic programming",
		Long: `Evolve a population of pruning functions (pfunc trees). Each function's
fitness is the validation accuracy of the fitness tasks' networks pruned with
it and fine-tuned (weighted geometric mean over tasks). Every finished
evaluation is stored at once in the run directory and every generation is
checkpointed: a killed run continues with --resume DIR without redoing
finished work, and ends where an uninterrupted run would.

Presets: demo (LeNet-5 on MNIST, about ten minutes on two cores), cpu
(LeNet-5 and VGG-16 at width 0.5, the documented CPU protocol), paper (the
reference settings; for large machines). A configuration file is JSON:
{"gp": {...gp settings...}, "tasks": [{"name", "model", "dataset",
"schedule", "sample", "finetune_steps", ...}], "seed", "eval_seed"}.`,
		Example: `  evoprune evolve --preset demo --out runs/demo
  evoprune evolve --config evolve.json --workers 2 --out runs/cpu
  evoprune evolve --resume runs/cpu
  evoprune evolve --config configs/transfer-direct.json --budget-hours 6 --out runs/direct
  evoprune evolve --resume runs/direct --generations 100 --budget-hours 3.24   # extend, stop at a cost`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if workers < 0 {
				return usagef("--workers must be positive, got %d", workers)
			}
			if workers == 0 {
				workers = runtime.GOMAXPROCS(0)
			}
			var (
				c     *evolve.Config
				store *evolve.Store
				err   error
			)
			switch {
			case resume != "":
				if configPath != "" || preset != "" {
					return usagef("--resume continues a run with its own configuration; drop --config and --preset")
				}
				store, c, err = evolve.Open(resume)
				if err != nil {
					return err
				}
			case configPath != "" && preset != "":
				return usagef("give --config or --preset, not both")
			case configPath != "":
				if c, err = evolve.LoadConfig(configPath); err != nil {
					return usageError{err}
				}
			case preset != "":
				root, err := repoRoot()
				if err != nil {
					return err
				}
				if c, err = evolve.Preset(preset, root); err != nil {
					return usageError{err}
				}
			default:
				return usagef("give --config FILE, --preset demo|cpu|paper or --resume DIR")
			}
			if dataDir != "" {
				if resume != "" {
					return usagef("--data-dir: a resumed run keeps its own data directories")
				}
				c.SetDataDir(dataDir)
			}
			if cmd.Flags().Changed("budget-hours") {
				// A stopping rule, not part of what an evaluation computes:
				// a resumed run may be given a new one.
				c.BudgetHours = budget
			}
			if cmd.Flags().Changed("generations") {
				// Also only a bound on the loop: the generations already run do
				// not depend on it, so a finished run can be extended.
				c.GP.Generations = generations
			}
			if err := c.Check(); err != nil {
				return usageError{err}
			}
			if err := c.Resolve(); err != nil {
				return err
			}
			if store == nil {
				if outDir == "" {
					outDir = filepath.Join("runs", "evolve-"+time.Now().Format("20060102-150405"))
				}
				if store, err = evolve.Create(outDir, c); err != nil {
					return err
				}
			}
			defer store.Close()
			ev := evolve.NewEvaluator(c.BaseDir, max(c.CacheModels, 0))
			var exec evolve.Executor = &evolve.Pool{Eval: ev, Workers: workers}
			if executorHook != nil {
				e, stop, err := executorHook(cmd, ev, workers, store.Dir)
				if err != nil {
					return err
				}
				if e != nil {
					exec = e
					defer stop()
				}
			}
			fmt.Fprintf(os.Stderr, "evolving into %s: population %d, %d generations, tasks %s\n",
				store.Dir, c.GP.Population, c.GP.Generations, taskNames(c))
			out, err := evolve.Run(c, store, evolve.Options{Executor: exec, Progress: os.Stderr, Version: version()})
			if err != nil {
				return err
			}
			fame := evolve.HallOfFame(out.Generations, c.HallOfFame)
			w := cmd.OutOrStdout()
			if out.BudgetReached {
				fmt.Fprintf(w, "stopped on the budget of %g evaluation hours after generation %d (continue with --resume %s --budget-hours H)\n",
					c.BudgetHours, len(out.Generations)-1, store.Dir)
			}
			fmt.Fprintf(w, "best functions (fitness, infix), reports in %s:\n", store.Dir)
			for i, ind := range fame {
				fmt.Fprintf(w, "%d. %.4f  %s\n   %s\n", i+1, ind.Fitness, pfunc.Infix(ind.Tree), pfunc.Prefix(ind.Tree))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&configPath, "config", "", "run configuration (JSON)")
	f.StringVar(&preset, "preset", "", "built-in configuration: demo, cpu or paper")
	f.StringVar(&outDir, "out", "", "run directory (default runs/evolve-TIME)")
	f.StringVar(&resume, "resume", "", "continue the run in this directory")
	f.IntVar(&workers, "workers", 0, "evaluations run side by side (default: one per core)")
	f.StringVar(&dataDir, "data-dir", "", "dataset root for tasks that name none (default: $EVOPRUNE_DATA, ./data, the user cache)")
	f.IntVar(&generations, "generations", 0, "bred generations after the initial one; overrides the configuration's, also on --resume (to extend a finished run: the generations already run are unchanged)")
	f.Float64Var(&budget, "budget-hours", 0, "stop before the first generation that would start past this many evaluation hours (core-hours with single-threaded workers); overrides the configuration's budget_hours, also on --resume")
	if evolveFlagsHook != nil {
		evolveFlagsHook(cmd)
	}
	cmd.AddCommand(newStudyCmd())
	return cmd
}

func taskNames(c *evolve.Config) string {
	var ns []string
	for _, t := range c.Tasks {
		ns = append(ns, t.Name)
	}
	return strings.Join(ns, ", ")
}

// repoRoot finds the checkout holding pretrained/ (the presets' base
// models): the working directory or one of its parents, else the
// directory of the executable.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "pretrained")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	if exe, err := os.Executable(); err == nil {
		if _, err := os.Stat(filepath.Join(filepath.Dir(exe), "pretrained")); err == nil {
			return filepath.Dir(exe), nil
		}
	}
	return "", fmt.Errorf("presets need the pretrained/ folder of an evoprune checkout; run from inside one, or use --config")
}

func newStudyCmd() *cobra.Command {
	var (
		configPath, preset, funcs, outPath, dataDir, logPath, reference string
		seeds, workers, ftSteps                                         int
	)
	cmd := &cobra.Command{
		Use:   "study",
		Short: "Check that a fitness protocol separates known functions",
		Long: `Evaluate known pruning functions under a run's fitness tasks with several
evaluation seeds and report, per function, the fitness over seeds; the spread
between functions against the spread between seeds of one function; and how
well accuracy right after pruning predicts the final accuracy (what the
screen relies on). Use it to choose budgets before a long evolution.

With --log, every finished evaluation is appended to that file at once, and
running the same command again skips what is there: a long study can be
killed at any moment and resumed (only the very same evaluation is reused:
same function, task protocol, checkpoint content and seed).

With --reference NAME (one of the functions), every other function is also
compared with it seed by seed: the mean difference of the fitness and of each
task's accuracy, with the p-value of the paired t-test.`,
		Example: `  evoprune evolve study --preset demo --seeds 3
  evoprune evolve study --preset demo --finetune-steps 30 --seeds 3
  evoprune evolve study --preset cpu --data-dir ../shared/data --log runs/study-cpu.jsonl --out runs/study-cpu.json
  evoprune evolve study --preset cpu --functions 'runs/evolve-cpu/top3;abs_snr;fdr;sym_div;t_stat;l1;l2;fpgm;eq3;random' --seeds 3
  evoprune evolve study --config cpu.json --functions 'abs_snr;fdr;l1;eq3;random' --seeds 3 --out study.json
  evoprune evolve study --preset cpu --functions 'runs/evolve-cpu/best;l1;l2;eq3' --reference runs/evolve-cpu/best --log runs/study.jsonl`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var c *evolve.Config
			var err error
			switch {
			case configPath != "" && preset != "":
				return usagef("give --config or --preset, not both")
			case configPath != "":
				c, err = evolve.LoadConfig(configPath)
			case preset != "":
				var root string
				if root, err = repoRoot(); err == nil {
					c, err = evolve.Preset(preset, root)
				}
			default:
				return usagef("give --config FILE or --preset NAME")
			}
			if err != nil {
				return usageError{err}
			}
			if seeds < 1 {
				return usagef("--seeds must be at least 1, got %d", seeds)
			}
			if dataDir != "" {
				c.SetDataDir(dataDir)
			}
			if ftSteps < 0 {
				return usagef("--finetune-steps must not be negative, got %d", ftSteps)
			}
			if ftSteps > 0 {
				for i := range c.Tasks {
					c.Tasks[i].FineTuneSteps, c.Tasks[i].FineTuneEpochs = ftSteps, 0
				}
			}
			if err := c.Resolve(); err != nil {
				return err
			}
			if workers <= 0 {
				workers = runtime.GOMAXPROCS(0)
			}
			fns, err := metrics.ResolveMetrics(metrics.SplitMetricList(funcs))
			if err != nil {
				return usageError{fmt.Errorf("--functions: %w", err)}
			}
			if reference != "" && !slices.ContainsFunc(fns, func(m metrics.Metric) bool { return m.Label == reference }) {
				return usagef("--reference %q is not one of --functions", reference)
			}
			ev := evolve.NewEvaluator(c.BaseDir, max(c.CacheModels, 0))
			st, err := evolve.RunStudy(c, fns, seeds, &evolve.Pool{Eval: ev, Workers: workers}, os.Stderr, logPath)
			if err != nil {
				return err
			}
			if reference != "" {
				if err := st.Compare(reference); err != nil {
					return err
				}
			}
			if outPath != "" {
				if err := writeJSONFile(outPath, st); err != nil {
					return err
				}
			}
			w := cmd.OutOrStdout()
			tb := st.Table(c.Tasks)
			if err := tb.WriteMarkdown(w); err != nil {
				return err
			}
			fmt.Fprintf(w, "\nspread between functions (std of means) %.4f, between seeds of a function (mean std) %.4f\n", st.Between, st.Within)
			fmt.Fprintf(w, "accuracy right after pruning vs final: Pearson %.3f, Spearman %.3f over %d evaluations\n", st.ScreenPearson, st.ScreenSpearman, len(st.Results))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&configPath, "config", "", "run configuration whose tasks to use")
	f.StringVar(&preset, "preset", "", "built-in configuration: demo, cpu or paper")
	f.StringVar(&funcs, "functions", "abs_snr;fdr;sym_div;t_stat;l1;l2;geo_median_dist;eq3;random", "';'-separated library names, expressions, native criteria (random, bn_scale, taylor, apoz, hrank) or RUN/best, RUN/topK")
	f.IntVar(&seeds, "seeds", 3, "evaluation seeds per function")
	f.IntVar(&workers, "workers", 0, "evaluations side by side (default: one per core)")
	f.StringVar(&outPath, "out", "", "also write the study as JSON here")
	f.StringVar(&logPath, "log", "", "append each finished evaluation here and skip those already in it (resumable)")
	f.StringVar(&dataDir, "data-dir", "", "dataset root for tasks that name none")
	f.IntVar(&ftSteps, "finetune-steps", 0, "fine-tuning steps per pruning step for every task (default: the configuration's)")
	f.StringVar(&reference, "reference", "", "compare every function with this one (a --functions entry) by paired t-tests over seeds")
	return cmd
}

func writeJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
