package bench

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/evoprune/evoprune/evolve"
	"github.com/evoprune/evoprune/internal/jsonl"
	"github.com/evoprune/evoprune/metrics"
)

// Options is one benchmark: tasks, metrics and seeds, and how to run them.
type Options struct {
	Tasks   []Task
	Metrics []metrics.Metric
	// Seeds runs seeds 1..Seeds for every (task, metric).
	Seeds int
	// Dir holds results.jsonl (read on start: finished evaluations are
	// skipped) and receives the leaderboard files.
	Dir string
	// Workers run evaluations side by side (default 1). CPU seconds are
	// measured only with one worker, where the process's CPU time is the
	// evaluation's.
	Workers int
	// Reference is the label of the metric the others are tested against;
	// empty means the hand-made metric with the best mean on each task.
	Reference string
	// StopAfter, when positive, stops starting evaluations once that many
	// new ones have finished (tests of resuming).
	StopAfter int
	// Progress receives one line per finished evaluation; EvalProgress the
	// pruning logs of every evaluation (usually nil: too chatty).
	Progress, EvalProgress io.Writer
	// Version is recorded with each result.
	Version string
	// SkipDataCheck skips loading each task's dataset before starting.
	SkipDataCheck bool
}

// Record is one finished evaluation, as results.jsonl holds it.
type Record struct {
	// Variant is the task (and schedule) and Metric the label asked for.
	Variant  string `json:"variant"`
	Task     string `json:"task"`
	Schedule string `json:"schedule"`
	Metric   string `json:"metric"`
	Seed     uint64 `json:"seed"`
	// Result is the evaluator's result (accuracies, params, MACs, error).
	Result evolve.Result `json:"result"`
	// CPUSeconds is the process CPU time (user + system) of the evaluation
	// when it ran alone (one worker); 0 when unknown.
	CPUSeconds float64 `json:"cpu_seconds,omitempty"`
	Version    string  `json:"version,omitempty"`
}

// Outcome is what Run did.
type Outcome struct {
	Board *Leaderboard
	// Ran and Skipped count the evaluations done now and found done.
	Ran, Skipped int
	// Stopped is set when StopAfter ended the run early (no leaderboard).
	Stopped bool
}

// ResultsFile is the name of the results log in the output directory.
const ResultsFile = "results.jsonl"

type job struct {
	variant Variant
	metric  metrics.Metric
	seed    uint64
	job     evolve.Job
}

// jobs lists every (variant, metric, seed) evaluation of the options.
func (o *Options) jobs() []job {
	var out []job
	for _, t := range o.Tasks {
		for _, v := range t.Variants() {
			for _, m := range o.Metrics {
				for s := 1; s <= o.Seeds; s++ {
					j := evolve.NewJob(m.Expr, m.Hash, v.Job, uint64(s))
					out = append(out, job{variant: v, metric: m, seed: uint64(s), job: j})
				}
			}
		}
	}
	return out
}

// Check validates the options and prepares every task (see Task.Prepare).
func (o *Options) Check() error {
	if len(o.Tasks) == 0 {
		return errors.New("no tasks")
	}
	if len(o.Metrics) == 0 {
		return errors.New("no metrics")
	}
	if o.Seeds < 1 {
		return fmt.Errorf("seeds must be at least 1, got %d", o.Seeds)
	}
	if o.Dir == "" {
		return errors.New("no output directory")
	}
	if o.Reference != "" {
		found := false
		for _, m := range o.Metrics {
			found = found || m.Label == o.Reference
		}
		if !found {
			return fmt.Errorf("reference %q is not one of the metrics", o.Reference)
		}
	}
	for i := range o.Tasks {
		if err := o.Tasks[i].Prepare(!o.SkipDataCheck); err != nil {
			return err
		}
	}
	return nil
}

// ReadRecords reads a results log; a line torn by a crash is skipped. A
// missing file is no records.
func ReadRecords(path string) (map[string]Record, error) {
	recs, err := jsonl.Read(path, func(r *Record) bool { return r.Result.JobID != "" })
	if err != nil {
		return nil, err
	}
	out := map[string]Record{}
	for _, r := range recs {
		out[r.Result.JobID] = r
	}
	return out, nil
}

// Run checks the options, runs every evaluation not already in
// Dir/results.jsonl (appending each as it finishes), and writes the
// leaderboard (Markdown, CSV, JSON and, for tasks with several schedules,
// PNG pruning curves) into Dir.
func Run(o Options) (*Outcome, error) {
	if err := o.Check(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(o.Dir, ResultsFile)
	done, err := ReadRecords(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	log, err := jsonl.Open(path)
	if err != nil {
		return nil, err
	}
	defer log.Close()
	out := &Outcome{}
	var todo []job
	queued := map[string]bool{}
	for _, j := range o.jobs() {
		if _, ok := done[j.job.ID]; ok || queued[j.job.ID] {
			out.Skipped++
			continue
		}
		queued[j.job.ID] = true // the same function under two labels runs once
		todo = append(todo, j)
	}
	workers := max(o.Workers, 1)
	ev := evolve.NewEvaluator("", 0) // no shared fine-tuned models: CPU time is each metric's own
	ev.Progress = o.EvalProgress
	var (
		mu       sync.Mutex
		firstErr error
		stop     bool
		wg       sync.WaitGroup
		ch       = make(chan job)
	)
	total := len(todo)
	for range min(workers, len(todo)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range ch {
				mu.Lock()
				halt := stop || firstErr != nil
				mu.Unlock()
				if halt {
					continue // drain: a job handed over before the stop is not started
				}
				var cpu0 float64
				if workers == 1 {
					cpu0 = processCPU()
				}
				res := ev.Evaluate(j.job)
				rec := Record{Variant: j.variant.Name, Task: j.variant.Task, Schedule: j.variant.Schedule, Metric: j.metric.Label,
					Seed: j.seed, Result: res, Version: o.Version}
				if workers == 1 {
					rec.CPUSeconds = processCPU() - cpu0
				}
				if res.Refused {
					// The checkpoint or dataset could not be read: not the metric's
					// failure, so it is not recorded (a rerun tries again) and the
					// benchmark stops with the reason.
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("%s, %s, seed %d: %s", j.variant.Name, j.metric.Label, j.seed, res.Error)
					}
					mu.Unlock()
					continue
				}
				mu.Lock()
				if err := log.Append(rec); err != nil && firstErr == nil {
					firstErr = err
				}
				done[res.JobID] = rec
				out.Ran++
				if o.Progress != nil {
					line := fmt.Sprintf("%d/%d %s, %s, seed %d: ", out.Ran, total, j.variant.Name, j.metric.Label, j.seed)
					if res.Error != "" {
						line += "failed: " + res.Error
					} else {
						line += fmt.Sprintf("val acc %.2f %% after pruning, %.2f %% after fine-tuning", 100*res.ValAccPruned, 100*res.ValAcc)
						if j.variant.Job.TestAcc {
							line += fmt.Sprintf(", test %.2f %%", 100*res.TestAcc)
						}
						line += fmt.Sprintf(" (%s)", time.Duration(res.Seconds*float64(time.Second)).Round(100*time.Millisecond))
					}
					fmt.Fprintln(o.Progress, line)
				}
				if o.StopAfter > 0 && out.Ran >= o.StopAfter {
					stop = true
				}
				mu.Unlock()
			}
		}()
	}
	for _, j := range todo {
		mu.Lock()
		halt := stop || firstErr != nil
		mu.Unlock()
		if halt {
			break
		}
		ch <- j
	}
	close(ch)
	wg.Wait()
	if firstErr != nil {
		return out, firstErr
	}
	if stop && out.Ran+out.Skipped < len(o.jobs()) {
		out.Stopped = true
		return out, nil
	}
	board, err := Build(o.Tasks, o.Metrics, o.Seeds, done, o.Reference)
	if err != nil {
		return out, err
	}
	out.Board = board
	return out, board.Save(o.Dir)
}

// processCPU is the process's user plus system CPU time in seconds.
func processCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}
