package main

import (
	"fmt"
	"os"

	"github.com/evoprune/evoprune/data"
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
