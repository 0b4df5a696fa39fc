// Command evoprune discovers, explains and applies channel-pruning
// functions for convolutional networks. Each verb lives in a file of its
// own; this file holds the root command and what the verbs share.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"

	"github.com/evoprune/evoprune/blas"
	"github.com/spf13/cobra"
)

func main() {
	root := newRoot()
	err := root.Execute()
	if stopProfile != nil {
		stopProfile()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "evoprune:", err)
		var ue usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// usageError marks errors in how the command was called (exit status 2).
type usageError struct{ error }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

var (
	threads     int
	blasBackend string
	cpuProfile  string
	stopProfile func() // set while --cpuprofile records
)

// startProfile records a CPU profile of the whole command into path (for
// go tool pprof), until stopProfile.
func startProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return usagef("--cpuprofile: %v", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return fmt.Errorf("--cpuprofile %s: %w", path, err)
	}
	stopProfile = func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "evoprune: --cpuprofile %s: %v\n", path, err)
		}
	}
	return nil
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "evoprune",
		Short: "Evolve, explain and apply channel-pruning functions for CNNs",
		Long: `evoprune trains convolutional networks, scores their channels with closed-form
pruning functions, and evolves such functions with genetic programming
(Liu, Kung, Wentzlaff, "Evolving Transferable Neural Pruning Functions", GECCO 2022).`,
		Example: `  evoprune models
  evoprune train --model lenet5 --dataset mnist --epochs 1 --out lenet5.safetensors
  evoprune eval --model lenet5.safetensors`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if threads < 0 {
				return usagef("--threads must be positive, got %d", threads)
			}
			if threads > 0 {
				runtime.GOMAXPROCS(threads)
			}
			if err := selectBLAS(blasBackend); err != nil {
				return err
			}
			if cpuProfile != "" {
				return startProfile(cpuProfile)
			}
			return nil
		},
	}
	root.PersistentFlags().IntVar(&threads, "threads", 0, "CPU threads to use (default: all cores)")
	defBLAS := os.Getenv("EVOPRUNE_BLAS")
	if defBLAS == "" {
		defBLAS = "go"
	}
	root.PersistentFlags().StringVar(&blasBackend, "blas", defBLAS, "GEMM backend: go (pure Go) or openblas (needs a build with -tags openblas); $EVOPRUNE_BLAS sets the default")
	root.PersistentFlags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the command to this file (see go tool pprof)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newExportCmd())
	root.AddCommand(newImportCmd())
	root.AddCommand(newModelsCmd(), newTrainCmd(), newEvalCmd(), newMetricCmd(), newBenchCmd(), newVersionCmd())
	root.AddCommand(newPruneCmd(), newInfoCmd(), newEvolveCmd())
	root.AddCommand(newTransferCmd())
	root.AddCommand(newWorkerCmd())
	return root
}

// selectBLAS installs the GEMM backend the user asked for. OpenBLAS gets the
// --threads budget, so it is loaded after GOMAXPROCS is set.
func selectBLAS(name string) error {
	switch name {
	case "go", "":
		return nil
	case "openblas":
		f, err := blas.LoadOpenBLAS()
		if err != nil {
			return fmt.Errorf("--blas openblas: %w", err)
		}
		blas.Use(f)
		return nil
	}
	return usagef("--blas must be go or openblas, got %q", name)
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		rev, dirty := "", ""
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "+dirty"
				}
			}
		}
		if rev != "" {
			if len(rev) > 12 {
				rev = rev[:12]
			}
			return "dev-" + rev + dirty
		}
		if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			return bi.Main.Version
		}
	}
	return "dev"
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "evoprune %s (%s, %s/%s)\n", version(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
		},
	}
}

func printJSON(cmd *cobra.Command, v any) error {
	enc := json.NewEncoder(cmd.OutOrStdout())
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
