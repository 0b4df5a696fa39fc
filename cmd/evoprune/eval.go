package main

import (
	"fmt"
	"time"

	"github.com/evoprune/evoprune/data"
	"github.com/evoprune/evoprune/models"
	"github.com/evoprune/evoprune/train"
	"github.com/spf13/cobra"
)

func newEvalCmd() *cobra.Command {
	var (
		modelPath, dataset, split, arch string
		batch                           int
		asJSON                          bool
		df                              dataFlags
	)
	cmd := &cobra.Command{
		Use:   "eval",
		Short: "Evaluate a checkpoint on a dataset split",
		Long: `Evaluate a saved model. The dataset defaults to the one recorded in the
checkpoint. --split val rebuilds the validation split with the size and seed
the checkpoint was trained with.`,
		Example: `  evoprune eval --model lenet5.safetensors
  evoprune eval --model r20.safetensors --split val --data-dir ../shared/data --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if modelPath == "" {
				return usagef("--model FILE is required")
			}
			g, info, err := models.Load(modelPath)
			if err != nil {
				return err
			}
			if arch != "" && arch != g.Arch {
				return fmt.Errorf("%s holds a %s, not a %s", modelPath, g.Arch, arch)
			}
			if dataset, err = df.fromCheckpoint(cmd, modelPath, dataset, info); err != nil {
				return err
			}
			var d *data.Dataset
			switch split {
			case "test":
				d, err = data.Load(dataset, "test", df.options())
			case "train", "val":
				var tr, val *data.Dataset
				tr, val, _, err = df.splits(dataset)
				d = tr
				if split == "val" {
					d = val
					if val == nil && err == nil {
						err = usagef("--split val needs --val-size > 0")
					}
				}
			default:
				err = usagef("--split must be train, val or test, got %q", split)
			}
			if err != nil {
				return err
			}
			if g.Output().Channels() != d.Classes || g.Input().Shape[0] != d.C || g.Input().Shape[1] != d.H || g.Input().Shape[2] != d.W {
				return fmt.Errorf("%s (%s, %d classes, input %v) does not fit %s (%d classes, %dx%dx%d images)",
					modelPath, g.Arch, g.Output().Channels(), g.Input().Shape, dataset, d.Classes, d.C, d.H, d.W)
			}
			t0 := time.Now()
			loss, acc := train.Evaluate(g, d, batch)
			secs := time.Since(t0).Seconds()
			if asJSON {
				return printJSON(cmd, map[string]any{"model": modelPath, "arch": g.Arch, "dataset": dataset, "split": split,
					"images": d.N, "loss": loss, "accuracy": acc, "params": g.NumParams(), "macs": g.MACs(), "seconds": secs})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s (%s) on %s %s: accuracy %.2f%% (%d images), loss %.4f, %.0f images/s\n",
				modelPath, g.Arch, dataset, split, 100*acc, d.N, loss, float64(d.N)/secs)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&modelPath, "model", "", "checkpoint file")
	f.StringVar(&dataset, "dataset", "", "dataset (default: the checkpoint's)")
	f.StringVar(&split, "split", "test", "train, val or test")
	f.StringVar(&arch, "arch", "", "fail unless the checkpoint holds this architecture")
	f.IntVar(&batch, "batch", 256, "batch size")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	df.register(cmd)
	return cmd
}
