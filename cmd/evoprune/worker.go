package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/evoprune/evoprune/dist"
	"github.com/evoprune/evoprune/evolve"
	"github.com/spf13/cobra"
)

func newWorkerCmd() *cobra.Command {
	var (
		connect, cacheDir, dataDir string
		workers, cacheModels       int
		connectWait                time.Duration
	)
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run fitness evaluations for an evolve coordinator over NATS JetStream",
		Long: `Pull fitness evaluations queued by "evoprune evolve --nats URL" (or --serve
ADDR) and run them here, until interrupted. Each job is acknowledged only
after its result is stored, with progress heartbeats while it runs, so a
worker that dies mid-job leaves it to another one. Checkpoints missing here
are fetched from the coordinator's object store into --cache-dir; datasets
come from this machine (--data-dir, else the task's data_dir where it
exists, else $EVOPRUNE_DATA, ./data and the user cache). The worker must be
the same build as the coordinator: a job from another version fails with
"version mismatch". Run one worker process per machine, with --workers set
to the evaluations it should run side by side. See docs/DISTRIBUTED.md.`,
		Example: `  evoprune worker --connect nats://coordinator:4222 --token "$TOKEN"
  EVOPRUNE_NATS_TOKEN=... evoprune --threads 8 worker --connect nats://10.0.0.1:4222 --workers 2
  evoprune worker --connect tls://coordinator:4222 --tls-ca ca.pem --creds worker.creds`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if connect == "" {
				return usagef("--connect URL is required (the NATS server of the coordinator)")
			}
			if workers < 1 {
				return usagef("--workers must be at least 1, got %d", workers)
			}
			if cacheModels < 0 {
				return usagef("--cache-models must not be negative, got %d", cacheModels)
			}
			if cacheDir == "" {
				base, err := os.UserCacheDir()
				if err != nil {
					return fmt.Errorf("no user cache dir (%v): give --cache-dir", err)
				}
				cacheDir = filepath.Join(base, "evoprune", "worker")
			}
			host, _ := os.Hostname()
			name := fmt.Sprintf("%s:%d", host, os.Getpid())
			nc, err := dist.ConnectWait(connect, authFromFlags(cmd), "evoprune worker "+name, connectWait)
			if err != nil {
				return err
			}
			defer nc.Close()
			ev := evolve.NewEvaluator("", cacheModels)
			ev.Name = name
			w, err := dist.NewWorker(nc, ev, version())
			if err != nil {
				return err
			}
			w.Concurrency, w.CacheDir, w.DataDir, w.Log = workers, cacheDir, dataDir, os.Stderr
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			fmt.Fprintf(os.Stderr, "worker %s (evoprune %s) connected to %s\n", name, version(), nc.ConnectedUrlRedacted())
			return w.Run(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&connect, "connect", "", "NATS server URL (nats://HOST:4222, tls://HOST:4222)")
	f.IntVar(&workers, "workers", 1, "evaluations run side by side")
	f.DurationVar(&connectWait, "connect-wait", 5*time.Minute, "how long to wait for a server that is not up yet (a wrong token fails at once)")
	f.StringVar(&cacheDir, "cache-dir", "", "where fetched checkpoints are kept (default: the user cache)")
	f.StringVar(&dataDir, "data-dir", "", "dataset root for every task (default: the task's data_dir if it exists here, else the standard roots)")
	f.IntVar(&cacheModels, "cache-models", 8, "fine-tuned models kept in memory for jobs with equal pruning decisions")
	registerAuthFlags(cmd)
	return cmd
}
