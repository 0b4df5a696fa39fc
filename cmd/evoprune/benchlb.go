package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/evoprune/evoprune/bench"
	"github.com/evoprune/evoprune/metrics"
	"github.com/spf13/cobra"
)

// newBenchLeaderboardCmds are the leaderboard verbs under evoprune bench:
// run (every metric on every task, ranked) and tasks (the built-in tasks).
func newBenchLeaderboardCmds() []*cobra.Command {
	return []*cobra.Command{newBenchRunCmd(), newBenchTasksCmd()}
}

func newBenchRunCmd() *cobra.Command {
	var (
		taskSpec, outDir, reference, dataDir string
		metricArgs                           []string
		seeds, workers, stopAfter            int
		ftSteps, ftEpochs, valImages, sample int
		asJSON, verbose                      bool
	)
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Leaderboard: every metric on every task under one protocol, over seeds",
		Long: `Prune every task's pretrained model with every metric, with seeds 1..K (the
seed draws the scoring sample, the fine-tuning batches and the random
criterion; everything else is the task's fixed protocol), and rank the
metrics: accuracy after pruning and after fine-tuning (mean, std, 95 %
t-interval over seeds), params and MACs removed, CPU seconds, and a paired
t-test of every metric against a reference (default: the best hand-made
criterion of each task).

--tasks is a task file (JSON, {"tasks": [...]} with evolution's task fields
plus "schedules" and "train_command") or built-in names separated by commas
(evoprune bench tasks lists them).

--metrics is a list separated by ';' (commas outside parentheses work too),
or the flag repeated: library names (evoprune metric list), native criteria
(random, bn_scale, taylor, apoz, hrank), expressions, and RUN/best, RUN/topK
or RUN/K for an evolution run directory's hall of fame. A metric that fails
on a model (bn_scale without BatchNorm) is a row with the reason.

Every finished evaluation is appended to OUT/results.jsonl at once; running
the same command again skips what is there (a killed run resumes), and a
leaderboard (leaderboard.md, .csv, .json, curves-TASK.png for tasks with
several schedules) is written when all are done. Same seeds, same numbers.`,
		Example: `  evoprune bench run --tasks lenet5-smoke --metrics 'l1;eq3;random' --seeds 3 --out runs/bench-smoke
  evoprune bench run --tasks transfer-cifar10 --data-dir ../shared/data --metrics 'abs_snr;fdr;eq3;runs/evolve-cpu/best;bn_scale;taylor;random' --seeds 3
  evoprune bench run --tasks my-tasks.json --metrics l1 --metrics 'div(abs(sub(g_mean(P), g_mean(Q))), rho1(add(std(P), std(Q))))' --seeds 5 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if taskSpec == "" {
				return usagef("--tasks FILE|NAMES is required (evoprune bench tasks lists the built-in ones)")
			}
			if len(metricArgs) == 0 {
				return usagef("--metrics is required, e.g. --metrics 'l1;eq3;random'")
			}
			if seeds < 1 {
				return usagef("--seeds must be at least 1, got %d", seeds)
			}
			if workers < 1 {
				return usagef("--workers must be at least 1, got %d", workers)
			}
			var list []string
			for _, a := range metricArgs {
				list = append(list, metrics.SplitMetricList(a)...)
			}
			ms, err := metrics.ResolveMetrics(list)
			if err != nil {
				return usageError{err}
			}
			root, _ := repoRoot()
			tasks, err := bench.ResolveTasks(taskSpec, root)
			if err != nil {
				return usageError{err}
			}
			for i := range tasks {
				t := &tasks[i]
				if dataDir != "" && t.DataDir == "" {
					t.DataDir = dataDir
				}
				if cmd.Flags().Changed("finetune-steps") || cmd.Flags().Changed("finetune-epochs") {
					t.FineTuneSteps, t.FineTuneEpochs = ftSteps, ftEpochs
				}
				if cmd.Flags().Changed("val-images") {
					t.ValImages = valImages
				}
				if cmd.Flags().Changed("sample") {
					t.Sample = sample
				}
			}
			if outDir == "" {
				outDir = defaultBenchDir(taskSpec)
			}
			o := bench.Options{Tasks: tasks, Metrics: ms, Seeds: seeds, Dir: outDir, Workers: workers, Reference: reference,
				StopAfter: stopAfter, Progress: os.Stderr, Version: version()}
			if verbose {
				o.EvalProgress = os.Stderr
			}
			fmt.Fprintf(os.Stderr, "bench: %d task(s), %d metric(s), %d seed(s); results in %s\n", len(tasks), len(ms), seeds, filepath.Join(outDir, bench.ResultsFile))
			res, err := bench.Run(o)
			if err != nil {
				return err
			}
			if res.Stopped {
				fmt.Fprintf(os.Stderr, "stopped after %d evaluation(s); run the same command again to continue\n", res.Ran)
				return nil
			}
			fmt.Fprintf(os.Stderr, "%d evaluation(s) run, %d found in %s\n", res.Ran, res.Skipped, bench.ResultsFile)
			if asJSON {
				return printJSON(cmd, res.Board)
			}
			if err := res.Board.WriteMarkdown(cmd.OutOrStdout()); err != nil {
				return err
			}
			files := []string{"leaderboard.md", "leaderboard.csv", "leaderboard.json"}
			for _, t := range res.Board.Curves {
				files = append(files, "curves-"+t+".png")
			}
			fmt.Fprintf(cmd.OutOrStdout(), "\nwrote %s in %s\n", strings.Join(files, ", "), outDir)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&taskSpec, "tasks", "", "task file, or built-in task names separated by commas")
	f.StringArrayVar(&metricArgs, "metrics", nil, "metrics separated by ';' (repeatable): names, expressions, RUN/best, RUN/topK")
	f.IntVar(&seeds, "seeds", 3, "seeds 1..K per (task, metric)")
	f.StringVar(&outDir, "out", "", "directory for results.jsonl and the leaderboard (default runs/bench-TASKS)")
	f.IntVar(&workers, "workers", 1, "evaluations run side by side (CPU seconds are measured only with 1)")
	f.StringVar(&reference, "reference", "", "metric the paired tests compare against (default: each task's best hand-made metric)")
	f.StringVar(&dataDir, "data-dir", "", "dataset root for tasks that name none")
	f.IntVar(&ftSteps, "finetune-steps", 0, "override every task's fine-tuning steps per pruning step")
	f.IntVar(&ftEpochs, "finetune-epochs", 0, "override every task's fine-tuning epochs per pruning step")
	f.IntVar(&valImages, "val-images", 0, "override every task's validation subset (0: the whole split)")
	f.IntVar(&sample, "sample", 0, "override every task's number of scoring images")
	f.BoolVar(&asJSON, "json", false, "print the leaderboard as JSON")
	f.BoolVar(&verbose, "verbose", false, "print every evaluation's pruning log")
	f.IntVar(&stopAfter, "stop-after", 0, "stop after that many new evaluations (to test resuming)")
	f.MarkHidden("stop-after")
	return cmd
}

func newBenchTasksCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "tasks",
		Short:   "List the built-in benchmark tasks and whether their checkpoints exist",
		Example: `  evoprune bench tasks`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			root, _ := repoRoot()
			tasks := bench.Builtin()
			if asJSON {
				return printJSON(cmd, map[string]any{"tasks": tasks, "groups": bench.BuiltinGroups()})
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(w, "TASK\tMODEL\tDATASET\tSCHEDULES\tFINE-TUNE\tCHECKPOINT")
			for _, t := range tasks {
				state := "missing: " + t.TrainCommand
				if root != "" {
					if _, err := os.Stat(filepath.Join(root, t.Model)); err == nil {
						state = "ok"
					}
				}
				ft := fmt.Sprintf("%d steps", t.FineTuneSteps)
				if t.FineTuneEpochs > 0 {
					ft = fmt.Sprintf("%d epochs", t.FineTuneEpochs)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", t.Name, t.Model, t.Dataset, strings.Join(t.AllSchedules(), ","), ft, state)
			}
			w.Flush()
			gs := bench.BuiltinGroups()
			names := make([]string, 0, len(gs))
			for n := range gs {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				fmt.Fprintf(cmd.OutOrStdout(), "group %s: %s\n", n, strings.Join(gs[n], ", "))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}

// defaultBenchDir is runs/bench-TASKS: the same command finds its results
// again (and resumes), and runs/ is where the checkout keeps run outputs.
func defaultBenchDir(spec string) string {
	if st, err := os.Stat(spec); err == nil && !st.IsDir() {
		spec = strings.TrimSuffix(filepath.Base(spec), filepath.Ext(spec))
	}
	slug := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '-'
	}, spec)
	return filepath.Join("runs", "bench-"+slug)
}
