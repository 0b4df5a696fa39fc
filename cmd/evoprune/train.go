package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/evoprune/evoprune/data"
	"github.com/evoprune/evoprune/models"
	"github.com/evoprune/evoprune/nn"
	"github.com/evoprune/evoprune/tensor"
	"github.com/evoprune/evoprune/train"
	"github.com/spf13/cobra"
)

// recipe is a model family's default training settings; flags override them.
type recipe struct {
	optimizer   string
	lr          float64
	momentum    float64
	weightDecay float64
	batch       int
	epochs      int
	augment     string
}

func recipeFor(arch string) recipe {
	switch {
	case arch == "lenet5":
		return recipe{"sgd", 0.05, 0.9, 5e-4, 128, 5, "none"}
	case strings.HasPrefix(arch, "resnet"):
		return recipe{"sgd", 0.1, 0.9, 1e-4, 128, 30, "crop4,flip"}
	default: // vgg16 and models loaded from files
		return recipe{"sgd", 0.05, 0.9, 5e-4, 128, 30, "crop4,flip"}
	}
}

func parseAugment(s string) (data.Augment, error) {
	var a data.Augment
	for _, part := range strings.Split(s, ",") {
		switch p := strings.TrimSpace(part); {
		case p == "none" || p == "":
		case p == "flip":
			a.Flip = true
		case strings.HasPrefix(p, "crop"):
			var n int
			if _, err := fmt.Sscanf(p, "crop%d", &n); err != nil || n < 0 {
				return a, usagef("--augment: %q is not cropN (e.g. crop4)", p)
			}
			a.PadCrop = n
		default:
			return a, usagef("--augment: unknown augmentation %q (none, flip, cropN)", p)
		}
	}
	return a, nil
}

// loadOrBuild returns a model from a checkpoint file or builds one by name.
func loadOrBuild(spec string, o models.Options) (*nn.Graph, models.Info, error) {
	if st, err := os.Stat(spec); err == nil && !st.IsDir() {
		return models.Load(spec)
	}
	if strings.HasSuffix(spec, ".safetensors") {
		return nil, models.Info{}, fmt.Errorf("model file %s does not exist", spec)
	}
	g, err := models.Build(spec, o)
	return g, models.Info{}, err
}

func newTrainCmd() *cobra.Command {
	var (
		modelName, dataset, out, optimizer, schedule, augment, shortcut string
		epochs, batch, classes, maxSteps                                int
		lr, momentum, wd, width, clip                                   float64
		nesterov, asJSON, resume                                        bool
		seed                                                            uint64
		df                                                              dataFlags
	)
	cmd := &cobra.Command{
		Use:   "train",
		Short: "Train a model and save the best-on-validation checkpoint",
		Long: `Train a built-in architecture (or continue from a checkpoint) on a dataset.
A validation split is held out of the training set (--val-size); the weights
of the epoch with the best validation accuracy are saved to --out as they
appear, and test accuracy is measured once, on those weights, at the end.
After every epoch the full training state goes to OUT.state; if the run is
killed, the same command with --resume continues it exactly.
Defaults (optimizer, lr, schedule, augmentation) follow each model family's
usual recipe; every flag given overrides it.`,
		Example: `  evoprune train --model lenet5 --dataset mnist --epochs 5 --out lenet5.safetensors
  evoprune train --model resnet20 --dataset cifar10 --data-dir ../shared/data --epochs 1
  evoprune train --model vgg16 --width 0.5 --dataset cifar10 --schedule multistep:15,25 --lr 0.05
  evoprune train --model resnet20 --epochs 60 --out r20.safetensors --resume   # after a kill`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if modelName == "" {
				return usagef("--model is required (see `evoprune models`)")
			}
			g, prevInfo, err := loadOrBuild(modelName, models.Options{Classes: classes, Width: width, Shortcut: shortcut, Seed: seed})
			if err != nil {
				return err
			}
			r := recipeFor(g.Arch)
			set := func(name string) bool { return cmd.Flags().Changed(name) }
			if !set("optimizer") {
				optimizer = r.optimizer
			}
			if !set("lr") {
				lr = r.lr
			}
			if !set("momentum") {
				momentum = r.momentum
			}
			if !set("weight-decay") {
				wd = r.weightDecay
			}
			if !set("batch") {
				batch = r.batch
			}
			if !set("epochs") {
				epochs = r.epochs
			}
			if !set("augment") {
				augment = r.augment
			}
			if dataset == "" {
				dataset = prevInfo.Dataset
				if e, err := models.Lookup(g.Arch); dataset == "" && err == nil {
					dataset = e.Dataset
				}
			}
			if dataset == "" {
				return usagef("--dataset is required for a model loaded from a file without a recorded dataset")
			}
			aug, err := parseAugment(augment)
			if err != nil {
				return err
			}
			if maxSteps < 0 {
				return usagef("--max-steps must not be negative, got %d", maxSteps)
			}
			sched, err := train.ParseSchedule(schedule, epochs)
			if err != nil {
				return usageError{err}
			}
			if out == "" {
				out = fmt.Sprintf("%s-%s.safetensors", g.Arch, dataset)
			}
			trainSet, valSet, testSet, err := df.splits(dataset)
			if err != nil {
				return err
			}
			if !tensor.SameShape(g.Input().Shape, []int{trainSet.C, trainSet.H, trainSet.W}) {
				return fmt.Errorf("model %s takes %v inputs but %s images are %dx%dx%d", g.Arch, g.Input().Shape, dataset, trainSet.C, trainSet.H, trainSet.W)
			}
			if g.Output().Channels() != trainSet.Classes {
				return fmt.Errorf("model %s has %d outputs but %s has %d classes (use --classes %d)", g.Arch, g.Output().Channels(), dataset, trainSet.Classes, trainSet.Classes)
			}
			progressOut := os.Stderr
			if _, err := os.Stat(out + ".state"); err == nil && !resume {
				fmt.Fprintf(progressOut, "note: %s.state holds an interrupted run; it is being replaced (use --resume to continue it)\n", out)
			}
			fmt.Fprintf(progressOut, "training %s (%s params, %s MACs) on %s: %d train / %d val / %d test images, %d epochs, batch %d, %s lr %g, schedule %s, augment %s\n",
				g.Arch, commas(g.NumParams()), commas(g.MACs()), dataset, trainSet.N, nSize(valSet), testSet.N, epochs, batch, optimizer, lr, sched, augment)
			info := models.Info{Dataset: dataset, Classes: trainSet.Classes, Seed: seed, Version: version(),
				Command: "evoprune " + strings.Join(os.Args[1:], " "), Metrics: map[string]float64{},
				Extra: map[string]string{"val_size": fmt.Sprint(df.valSize), "split_seed": fmt.Sprint(df.splitSeed)}}
			cfg := train.Config{Epochs: epochs, MaxSteps: maxSteps, Batch: batch, Optimizer: optimizer, LR: lr, Momentum: momentum,
				Nesterov: nesterov, WeightDecay: wd, Schedule: sched, Augment: aug, Seed: seed, ClipNorm: clip,
				Progress: progressOut, StatePath: out + ".state", Resume: resume,
				OnBest: func(epoch int, s train.EpochStats) error {
					info.Epochs = epoch
					info.Metrics["val_acc"] = s.ValAcc
					info.CreatedAt = time.Now().UTC().Format(time.RFC3339)
					return models.Save(out, g, info)
				}}
			res, err := train.Fit(g, trainSet, valSet, cfg)
			if err != nil {
				return err
			}
			_, testAcc := train.Evaluate(g, testSet, 256)
			info.Metrics["test_acc"] = testAcc
			info.Epochs = res.BestEpoch
			if err := models.Save(out, g, info); err != nil {
				return err
			}
			summary := map[string]any{"model": g.Arch, "dataset": dataset, "out": out, "best_epoch": res.BestEpoch,
				"val_acc": res.BestVal, "test_acc": testAcc, "seconds": res.Seconds, "history": res.History}
			if asJSON {
				return printJSON(cmd, summary)
			}
			valText := "no validation split"
			if valSet != nil {
				valText = fmt.Sprintf("val %.2f%%", 100*res.BestVal)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "best epoch %d: %s, test %.2f%% (%d images) in %s; saved %s\n",
				res.BestEpoch, valText, 100*testAcc, testSet.N, time.Duration(res.Seconds*float64(time.Second)).Round(time.Second), out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&modelName, "model", "", "architecture name (see `evoprune models`) or a checkpoint to continue from")
	f.StringVar(&dataset, "dataset", "", "mnist, cifar10 or cifar100 (default: the model's)")
	f.StringVar(&out, "out", "", "checkpoint path (default MODEL-DATASET.safetensors)")
	f.IntVar(&epochs, "epochs", 0, "epochs (default per model)")
	f.IntVar(&batch, "batch", 0, "batch size (default 128)")
	f.IntVar(&maxSteps, "max-steps", 0, "stop after this many optimisation steps in all (0: no limit)")
	f.StringVar(&optimizer, "optimizer", "", "sgd or adam")
	f.Float64Var(&lr, "lr", 0, "base learning rate")
	f.Float64Var(&momentum, "momentum", 0, "SGD momentum")
	f.BoolVar(&nesterov, "nesterov", false, "Nesterov momentum")
	f.Float64Var(&wd, "weight-decay", 0, "L2 weight decay")
	f.StringVar(&schedule, "schedule", "cosine", "learning-rate schedule: constant, cosine[:MIN], multistep:E1,E2[:GAMMA]")
	f.StringVar(&augment, "augment", "", "augmentation: none, or a list of cropN and flip (e.g. crop4,flip)")
	f.Float64Var(&clip, "clip-norm", 0, "clip the global gradient norm to this value (0: off)")
	f.IntVar(&classes, "classes", 0, "output classes (default: the dataset's)")
	f.Float64Var(&width, "width", 1, "channel width multiplier (vgg16)")
	f.StringVar(&shortcut, "shortcut", "A", "ResNet shortcut option: A (zero-pad) or B (1x1 conv + BN)")
	f.Uint64Var(&seed, "seed", 1, "seed for initialisation, shuffling, augmentation and dropout")
	f.BoolVar(&asJSON, "json", false, "print the summary as JSON")
	f.BoolVar(&resume, "resume", false, "continue an interrupted run from OUT.state (give the same flags again)")
	df.register(cmd)
	cmd.PreRunE = func(cmd *cobra.Command, _ []string) error {
		// The model's class count follows the dataset unless given.
		if classes == 0 && dataset != "" {
			if info, err := data.Lookup(dataset); err == nil {
				classes = info.Classes
			}
		}
		return nil
	}
	return cmd
}

func nSize(d *data.Dataset) int {
	if d == nil {
		return 0
	}
	return d.N
}
