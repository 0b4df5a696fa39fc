package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/evoprune/evoprune/models"
	"github.com/evoprune/evoprune/nn"
	"github.com/evoprune/evoprune/prune"
	"github.com/evoprune/evoprune/train"
	"github.com/spf13/cobra"
)

func newPruneCmd() *cobra.Command {
	var (
		modelPath, dataset, metric, schedule, out, mode, tap string
		steps, ftEpochs, ftSteps, sampleSize, batch          int
		lr, minKeep                                          float64
		seed, sampleSeed                                     uint64
		noBlockInputs, residual, asJSON                      bool
		reduce                                               string
		df                                                   dataFlags
	)
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Prune a model's channels with a metric and a schedule, then fine-tune",
		Long: `Score every prunable channel group of a model with a metric, remove the
lowest-scoring channels into a smaller dense model, and fine-tune after each
step, selecting on the validation split (never the test set).

Metrics: a pfunc library name (evoprune metric list; fpgm = geo_median_dist),
a pfunc expression in prefix form, or a built-in criterion: random, bn_scale,
taylor, apoz, hrank.

Schedules:
  preset:lenet5|vgg16|resnet56  the reference's per-layer removal counts
  uniform:R                     remove the fraction R of every group
  macs:R | params:R             global ranking until the fraction R of the
                                MACs (params) is gone
--steps splits uniform and global schedules into that many steps.
Nothing is written unless the whole run succeeds.`,
		Example: `  evoprune prune --model pretrained/lenet5-mnist.safetensors --metric eq3 --schedule preset:lenet5 --finetune-epochs 1 --out lenet5-eq3.safetensors
  evoprune prune --model r20.safetensors --data-dir ../shared/data --metric l1 --schedule macs:0.5 --finetune-epochs 5 --out r20-l1.safetensors
  evoprune prune --model r20.safetensors --metric 'div(abs(sub(g_mean(P), g_mean(Q))), rho1(add(std(P), std(Q))))' --schedule uniform:0.4 --out r20-snr.safetensors --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if modelPath == "" {
				return usagef("--model FILE is required")
			}
			if metric == "" {
				return usagef("--metric is required (see evoprune metric list)")
			}
			if out == "" {
				return usagef("--out FILE is required")
			}
			if ftEpochs < 0 || ftSteps < 0 || sampleSize < 0 || steps < 0 {
				return usagef("--finetune-epochs, --finetune-steps, --sample and --steps must not be negative")
			}
			crit, err := prune.ParseCriterion(metric)
			if err != nil {
				return usageError{err}
			}
			sched, err := prune.ParseSchedule(schedule, steps)
			if err != nil {
				return usageError{err}
			}
			if cmd.Flags().Changed("min-keep") {
				if !(minKeep > 0 && minKeep < 1) {
					return usagef("--min-keep must be in (0, 1), got %g", minKeep)
				}
				sched.MinKeep = minKeep
			}
			tp, err := prune.ParseTapPolicy(tap)
			if err != nil {
				return usageError{err}
			}
			g, info, err := models.Load(modelPath)
			if err != nil {
				return err
			}
			if dataset, err = df.fromCheckpoint(cmd, modelPath, dataset, info); err != nil {
				return err
			}
			trainSet, valSet, testSet, err := df.splits(dataset)
			if err != nil {
				return err
			}
			if g.Output().Channels() != trainSet.Classes || g.Input().Shape[0] != trainSet.C || g.Input().Shape[1] != trainSet.H {
				return fmt.Errorf("%s (%s, %d classes, input %v) does not fit %s (%d classes, %dx%dx%d images)",
					modelPath, g.Arch, g.Output().Channels(), g.Input().Shape, dataset, trainSet.Classes, trainSet.C, trainSet.H, trainSet.W)
			}
			ft := prune.FineTuneRecipe(g.Arch, ftEpochs, ftSteps, seed)
			if cmd.Flags().Changed("lr") {
				ft.LR = lr
			}
			if cmd.Flags().Changed("batch") {
				ft.Batch = batch
			}
			cfg := prune.Config{Criterion: crit, Schedule: sched, Mode: prune.Mode(mode), Seed: seed,
				Sample:   prune.Sample{Size: sampleSize, Seed: sampleSeed},
				Options:  prune.Options{Tap: tp, NoBlockInputs: noBlockInputs, Residual: residual, Reduce: reduce},
				FineTune: ft, Progress: os.Stderr}
			fmt.Fprintf(os.Stderr, "pruning %s (%s params, %s MACs) with %s, schedule %s, %d scoring images, fine-tune %s\n",
				modelPath, commas(g.NumParams()), commas(g.MACs()), crit.Name(), sched, min(max(sampleSize, 1), trainSet.N), budgetText(ftEpochs, ftSteps))
			pruned, rep, err := prune.Run(g, trainSet, valSet, cfg)
			if err != nil {
				return err
			}
			_, testAcc := train.Evaluate(pruned, testSet, 256)
			newInfo := models.Info{Dataset: dataset, Classes: trainSet.Classes, Seed: seed, Version: version(),
				Command: "evoprune " + strings.Join(os.Args[1:], " "), CreatedAt: time.Now().UTC().Format(time.RFC3339),
				Metrics: map[string]float64{"test_acc": testAcc, "params_kept": rep.Comparison.ParamsKept, "macs_kept": rep.Comparison.MACsKept},
				Extra: map[string]string{"val_size": fmt.Sprint(df.valSize), "split_seed": fmt.Sprint(df.splitSeed),
					"pruned_from": modelPath, "metric": crit.Name(), "schedule": sched.String()}}
			if n := len(rep.Steps); n > 0 {
				last := rep.Steps[n-1]
				newInfo.Metrics["val_acc"] = last.ValAccPruned
				if ftEpochs > 0 || ftSteps > 0 {
					newInfo.Metrics["val_acc"] = last.ValAccTuned
				}
			}
			if err := models.Save(out, pruned, newInfo); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd, map[string]any{"model": modelPath, "out": out, "test_acc": testAcc, "report": rep})
			}
			printPruneReport(cmd.OutOrStdout(), rep, testAcc, out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&modelPath, "model", "", "checkpoint to prune")
	f.StringVar(&dataset, "dataset", "", "dataset (default: the one the checkpoint records)")
	f.StringVar(&metric, "metric", "", "library name, pfunc expression, or random|bn_scale|taylor|apoz|hrank")
	f.StringVar(&schedule, "schedule", "uniform:0.4", "preset:NAME, uniform:R, macs:R or params:R")
	f.IntVar(&steps, "steps", 0, "pruning steps (default: the preset's, else 1)")
	f.IntVar(&ftEpochs, "finetune-epochs", 0, "fine-tuning epochs after each step")
	f.IntVar(&ftSteps, "finetune-steps", 0, "fine-tuning optimisation steps after each step (instead of or capping epochs)")
	f.Float64Var(&lr, "lr", 0, "fine-tuning learning rate (default per architecture)")
	f.IntVar(&batch, "batch", 0, "fine-tuning batch size (default per architecture)")
	f.IntVar(&sampleSize, "sample", 500, "training images whose feature maps score channels (class-balanced)")
	f.Uint64Var(&sampleSeed, "sample-seed", 0, "seed of the scoring sample")
	f.Uint64Var(&seed, "seed", 1, "seed of fine-tuning and of the random criterion")
	f.StringVar(&mode, "mode", "auto", "auto, one-pass (all layers scored on one model) or sequential (layer after layer)")
	f.StringVar(&tap, "tap", "auto", "feature maps that stand for a layer: auto, input (what the next layer reads) or norm (after BN / its pool)")
	f.BoolVar(&noBlockInputs, "no-block-inputs", false, "ResNets: do not prune the residual-stream channels a block's first conv reads")
	f.BoolVar(&residual, "residual", false, "ResNets: prune each residual stream as one coupled group (instead of block inputs)")
	f.StringVar(&reduce, "reduce", "mean", "--residual: how the stream's writers' scores combine: mean or sum")
	f.Float64Var(&minKeep, "min-keep", 0.1, "global schedules: fraction of its channels every layer keeps")
	f.StringVar(&out, "out", "", "where to write the pruned model")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	df.register(cmd)
	return cmd
}

func budgetText(epochs, steps int) string {
	switch {
	case epochs == 0 && steps == 0:
		return "none"
	case steps == 0:
		return fmt.Sprintf("%d epochs per step", epochs)
	case epochs == 0:
		return fmt.Sprintf("%d steps per pruning step", steps)
	}
	return fmt.Sprintf("%d epochs (at most %d steps) per step", epochs, steps)
}

func printPruneReport(w io.Writer, rep *prune.Report, testAcc float64, out string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "layer\tin\tout\tin after\tout after\tparams\tparams after\tMACs\tMACs after\t")
	for _, l := range rep.Comparison.Layers {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t\n", l.Name, l.Before.In, l.Before.Out, l.After.In, l.After.Out,
			commas(l.Before.Params), commas(l.After.Params), commas(l.Before.MACs), commas(l.After.MACs))
	}
	c := rep.Comparison
	fmt.Fprintf(tw, "total\t\t\t\t\t%s\t%s\t%s\t%s\t\n", commas(c.Before.Params), commas(c.After.Params), commas(c.Before.MACs), commas(c.After.MACs))
	tw.Flush()
	fmt.Fprintf(w, "params kept %.2f %% (-%.2f %%), MACs kept %.2f %% (-%.2f %%)\n", 100*c.ParamsKept, 100*(1-c.ParamsKept), 100*c.MACsKept, 100*(1-c.MACsKept))
	fmt.Fprintf(w, "val acc before %.2f %%\n", 100*rep.ValAccBase)
	for _, s := range rep.Steps {
		line := fmt.Sprintf("step %d: val acc %.2f %% after pruning", s.Step, 100*s.ValAccPruned)
		if s.FineTuneSteps > 0 {
			line += fmt.Sprintf(", %.2f %% after fine-tuning (%d steps, %s)", 100*s.ValAccTuned, s.FineTuneSteps, time.Duration(s.TuneSeconds*float64(time.Second)).Round(time.Second))
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintf(w, "test acc %.2f %%; saved %s (%s)\n", 100*testAcc, out, time.Duration(rep.Seconds*float64(time.Second)).Round(time.Second))
}

func newInfoCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "info FILE",
		Short: "Show a checkpoint's layers, widths, params and MACs",
		Example: `  evoprune info pretrained/lenet5-mnist.safetensors
  evoprune info r20-pruned.safetensors --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			g, info, err := models.Load(args[0])
			if err != nil {
				return err
			}
			layers := prune.Count(g)
			groups, skipped := prune.Groups(g, prune.Options{})
			if asJSON {
				var gs []map[string]any
				for _, grp := range groups {
					gs = append(gs, map[string]any{"name": grp.Name, "kind": grp.Kind.String(), "channels": grp.Channels, "tap": grp.Tap.Name})
				}
				return printJSON(cmd, map[string]any{"file": args[0], "arch": g.Arch, "params": g.NumParams(), "macs": g.MACs(),
					"layers": layers, "groups": gs, "unprunable": skipped, "info": info})
			}
			printInfo(cmd.OutOrStdout(), args[0], g, info, layers, groups)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}

func printInfo(w io.Writer, file string, g *nn.Graph, info models.Info, layers []prune.LayerCount, groups []*prune.Group) {
	fmt.Fprintf(w, "%s: %s, %s params, %s MACs per image", file, g.Arch, commas(g.NumParams()), commas(g.MACs()))
	if info.Dataset != "" {
		fmt.Fprintf(w, ", trained on %s", info.Dataset)
	}
	fmt.Fprintln(w)
	for _, k := range []string{"val_acc", "test_acc", "params_kept", "macs_kept"} {
		if v, ok := info.Metrics[k]; ok {
			fmt.Fprintf(w, "  %s %.4f\n", k, v)
		}
	}
	for _, k := range []string{"pruned_from", "metric", "schedule"} {
		if v, ok := info.Extra[k]; ok {
			fmt.Fprintf(w, "  %s %s\n", k, v)
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "layer\tkind\tin\tout\tparams\tMACs\t")
	for _, l := range layers {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t\n", l.Name, l.Kind, l.In, l.Out, commas(l.Params), commas(l.MACs))
	}
	tw.Flush()
	var names []string
	for _, grp := range groups {
		names = append(names, fmt.Sprintf("%s(%d)", grp.Name, grp.Channels))
	}
	fmt.Fprintf(w, "prunable groups (%d): %s\n", len(groups), strings.Join(names, " "))
}
