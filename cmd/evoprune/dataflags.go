package main

import (
	"fmt"
	"os"

	"github.com/evoprune/evoprune/data"
	"github.com/evoprune/evoprune/models"
	"github.com/spf13/cobra"
)

// dataFlags are the flags every verb that reads a dataset shares.
type dataFlags struct {
	dir       string
	download  bool
	valSize   int
	splitSeed uint64
}

func (f *dataFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.dir, "data-dir", "", "dataset root (default: $"+data.EnvDataDir+", ./data, the user cache)")
	cmd.Flags().BoolVar(&f.download, "download", false, "download a missing dataset into the user cache (checksums verified)")
	cmd.Flags().IntVar(&f.valSize, "val-size", 5000, "training images held out as the validation split (0: none)")
	cmd.Flags().Uint64Var(&f.splitSeed, "split-seed", 0, "seed of the validation split")
}

func (f *dataFlags) options() data.Options {
	return data.Options{DataDir: f.dir, Download: f.download, Progress: os.Stderr}
}

// splits loads a dataset's training split, holds out the validation split,
// and loads the test split.
func (f *dataFlags) splits(name string) (train, val, test *data.Dataset, err error) {
	if f.valSize < 0 {
		return nil, nil, nil, usagef("--val-size must not be negative, got %d", f.valSize)
	}
	full, err := data.Load(name, "train", f.options())
	if err != nil {
		return nil, nil, nil, err
	}
	train = full
	if f.valSize > 0 {
		train, val, err = data.SplitValidation(full, f.valSize, f.splitSeed)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("--val-size: %w", err)
		}
	}
	test, err = data.Load(name, "test", f.options())
	if err != nil {
		return nil, nil, nil, err
	}
	return train, val, test, nil
}

// fromCheckpoint completes a verb's data settings from what a checkpoint
// recorded: its dataset unless one was given, and the validation split it
// was trained with unless --val-size or --split-seed say otherwise, so that
// "val" means the same images it was selected on.
func (f *dataFlags) fromCheckpoint(cmd *cobra.Command, path, dataset string, info models.Info) (string, error) {
	if dataset == "" {
		dataset = info.Dataset
	}
	if dataset == "" {
		return "", usagef("--dataset is required: %s records none", path)
	}
	if !cmd.Flags().Changed("val-size") {
		if v, ok := info.Extra["val_size"]; ok {
			fmt.Sscan(v, &f.valSize)
		}
	}
	if !cmd.Flags().Changed("split-seed") {
		if v, ok := info.Extra["split_seed"]; ok {
			fmt.Sscan(v, &f.splitSeed)
		}
	}
	return dataset, nil
}
