package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/evoprune/evoprune/blas"
	"github.com/evoprune/evoprune/models"
	"github.com/evoprune/evoprune/nn"
	"github.com/evoprune/evoprune/train"
	"github.com/spf13/cobra"
)

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Benchmarks: engine speed (bench speed) and pruning leaderboards (bench run)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usagef("choose a benchmark: evoprune bench speed --help")
		},
	}
	cmd.AddCommand(newBenchSpeedCmd(), newBenchSpeedChildCmd())
	cmd.AddCommand(newBenchLeaderboardCmds()...)
	return cmd
}

// speedResult is one (model, threads) measurement.
type speedResult struct {
	Model      string  `json:"model"`
	Threads    int     `json:"threads"`
	Batch      int     `json:"batch"`
	TrainIPS   float64 `json:"train_images_per_s"`
	InferIPS   float64 `json:"infer_images_per_s"`
	PeakRSSMiB float64 `json:"peak_rss_mib"`
	GEMM       string  `json:"gemm"`
}

func newBenchSpeedCmd() *cobra.Command {
	var (
		modelList, threadList string
		batch                 int
		seconds               float64
		asJSON                bool
	)
	cmd := &cobra.Command{
		Use:   "speed",
		Short: "Measure training and inference images/s and peak memory",
		Long: `Measure training (forward, loss, backward, SGD step) and inference images/s on
random data, and the peak resident memory, for each model and thread count.
Each measurement runs in a fresh child process, so peak memory and thread
settings do not leak from one to the next.`,
		Example: `  evoprune bench speed --models lenet5,resnet20,vgg16 --batch 128 --threads 1,2
  evoprune bench speed --models resnet20 --threads 1 --seconds 20 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			threadsList, err := parseInts(threadList)
			if err != nil {
				return usagef("--threads: %v", err)
			}
			names := strings.Split(modelList, ",")
			for _, m := range names {
				if _, err := models.Lookup(m); err != nil {
					return usageError{err}
				}
			}
			if batch <= 0 || seconds <= 0 {
				return usagef("--batch and --seconds must be positive")
			}
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			var results []speedResult
			for _, m := range names {
				for _, t := range threadsList {
					fmt.Fprintf(os.Stderr, "measuring %s, %d thread(s), batch %d ...\n", m, t, batch)
					r, err := runSpeedChild(exe, m, batch, t, seconds)
					if err != nil {
						return err
					}
					results = append(results, r)
				}
			}
			if asJSON {
				return printJSON(cmd, results)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(w, "MODEL\tTHREADS\tBATCH\tTRAIN IMG/S\tINFER IMG/S\tPEAK RSS MIB\tGEMM")
			for _, r := range results {
				fmt.Fprintf(w, "%s\t%d\t%d\t%.1f\t%.1f\t%.0f\t%s\n", r.Model, r.Threads, r.Batch, r.TrainIPS, r.InferIPS, r.PeakRSSMiB, r.GEMM)
			}
			return w.Flush()
		},
	}
	f := cmd.Flags()
	f.StringVar(&modelList, "models", "lenet5,resnet20,vgg16", "comma-separated models")
	f.StringVar(&threadList, "threads", "1,2", "comma-separated thread counts (each measured in its own process)")
	f.IntVar(&batch, "batch", 128, "batch size")
	f.Float64Var(&seconds, "seconds", 10, "approximate seconds per measurement (split between train and inference)")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func runSpeedChild(exe, model string, batch, threads int, seconds float64) (speedResult, error) {
	var out, errb bytes.Buffer
	c := exec.Command(exe, "--threads", strconv.Itoa(threads), "--blas", blasBackend, "bench", "speed-child", "--model", model,
		"--batch", strconv.Itoa(batch), "--seconds", fmt.Sprint(seconds))
	c.Stdout, c.Stderr = &out, &errb
	if err := c.Run(); err != nil {
		return speedResult{}, fmt.Errorf("speed measurement of %s failed: %v\n%s", model, err, errb.String())
	}
	var r speedResult
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		return r, fmt.Errorf("speed measurement of %s printed %q: %v", model, out.String(), err)
	}
	return r, nil
}

func newBenchSpeedChildCmd() *cobra.Command {
	var (
		model   string
		batch   int
		seconds float64
	)
	cmd := &cobra.Command{
		Use:    "speed-child",
		Short:  "One speed measurement (used by bench speed)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			g, err := models.Build(model, models.Options{Seed: 1})
			if err != nil {
				return err
			}
			x, y := train.RandomBatch(g, batch, 1)
			st := &train.Stepper{Graph: g, Opt: &nn.SGD{Momentum: 0.9, WeightDecay: 5e-4}}
			timeLoop := func(budget float64, f func()) float64 {
				f() // warm-up: buffers are sized on the first call
				n, t0 := 0, time.Now()
				for n < 2 || time.Since(t0).Seconds() < budget {
					f()
					n++
				}
				return float64(n*batch) / time.Since(t0).Seconds()
			}
			var stepErr error
			trainIPS := timeLoop(seconds/2, func() {
				if _, _, err := st.Step(x, y, 1e-4); err != nil {
					stepErr = err
				}
			})
			if stepErr != nil {
				return stepErr
			}
			ctx := &nn.Context{}
			inferIPS := timeLoop(seconds/2, func() { g.Forward(ctx, x) })
			var ru syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
			return printJSON(cmd, speedResult{Model: model, Threads: runtime.GOMAXPROCS(0), Batch: batch,
				TrainIPS: trainIPS, InferIPS: inferIPS, PeakRSSMiB: float64(ru.Maxrss) / 1024, GEMM: blas.Implementation().Name()})
		},
	}
	cmd.Flags().StringVar(&model, "model", "", "model")
	cmd.Flags().IntVar(&batch, "batch", 128, "batch size")
	cmd.Flags().Float64Var(&seconds, "seconds", 10, "seconds")
	return cmd
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, v)
	}
	return out, nil
}
