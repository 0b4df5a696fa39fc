package prune

import (
	"strings"

	"github.com/evoprune/evoprune/data"
	"github.com/evoprune/evoprune/train"
)

// FineTuneRecipe is the default fine-tuning after a pruning step for an
// architecture, after the reference: Adam at 5e-4 with batch 200 for
// LeNet-5; Nesterov SGD at 6e-3 with crop and flip for VGG-16; for the
// CIFAR ResNets SGD at 0.01 with crop and flip. Every run decays the rate
// by a cosine over its own length. epochs or maxSteps sets the budget.
func FineTuneRecipe(arch string, epochs, maxSteps int, seed uint64) train.Config {
	c := train.Config{Epochs: epochs, MaxSteps: maxSteps, Seed: seed, Batch: 128, Schedule: train.Cosine{}}
	switch {
	case strings.HasPrefix(arch, "lenet"):
		c.Optimizer, c.LR, c.Batch = "adam", 5e-4, 200
	case strings.HasPrefix(arch, "vgg"):
		c.Optimizer, c.LR, c.Momentum, c.Nesterov, c.WeightDecay = "sgd", 6e-3, 0.9, true, 5e-4
		c.Augment = data.Augment{PadCrop: 4, Flip: true}
	default:
		c.Optimizer, c.LR, c.Momentum, c.WeightDecay = "sgd", 0.01, 0.9, 5e-4
		c.Augment = data.Augment{PadCrop: 4, Flip: true}
	}
	return c
}
