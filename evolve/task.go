// Package evolve runs the search of "Evolving Transferable Neural Pruning
// Functions": a GP population of pfunc trees (package gp), each judged by
// pruning pretrained networks with it and fine-tuning them (package prune)
// on one or more fitness tasks, generation after generation.
//
// A fitness evaluation is a Job: a pure, serialisable function of (task,
// expression, seed) to a Result, so that it runs in a goroutine here and on
// other machines through a queue (package dist) without change. Every
// finished evaluation is appended to the run directory at once and each
// generation is checkpointed, so a killed run resumes without redoing
// finished work and ends exactly where an uninterrupted one would.
package evolve

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strings"
)

// Task is one fitness task: a pretrained model pruned on a dataset with a
// schedule, fine-tuned with a budget, measured on the validation split.
type Task struct {
	Name string `json:"name"`
	// Model is the pretrained checkpoint (relative paths, here and in
	// DataDir, are relative to the configuration file). ModelSHA256 is its content hash, filled in
	// when the run starts, so that every worker prunes the same weights.
	Model       string `json:"model"`
	ModelSHA256 string `json:"model_sha256,omitempty"`
	Dataset     string `json:"dataset"`
	DataDir     string `json:"data_dir,omitempty"`
	// ValSize and SplitSeed define the validation split held out of the
	// training set (default 5000 and 0, as evoprune train uses).
	ValSize   int    `json:"val_size,omitempty"`
	SplitSeed uint64 `json:"split_seed,omitempty"`
	// Schedule and Steps as evoprune prune reads them.
	Schedule string `json:"schedule"`
	Steps    int    `json:"steps,omitempty"`
	Mode     string `json:"mode,omitempty"`
	// Which channel groups of a ResNet are pruned (evoprune prune's
	// --no-block-inputs, --residual and --reduce).
	NoBlockInputs bool   `json:"no_block_inputs,omitempty"`
	Residual      bool   `json:"residual,omitempty"`
	Reduce        string `json:"reduce,omitempty"`
	// Fine-tuning after each pruning step: epochs and/or optimisation
	// steps; LR overrides the architecture's default.
	FineTuneEpochs int     `json:"finetune_epochs,omitempty"`
	FineTuneSteps  int     `json:"finetune_steps,omitempty"`
	LR             float64 `json:"lr,omitempty"`
	// LRSchedule overrides the cosine decay (evoprune train's syntax, e.g.
	// multistep:40,80:0.28 as the reference fine-tunes VGG-16).
	LRSchedule string `json:"lr_schedule,omitempty"`
	// Sample is the number of training images that score channels.
	Sample int `json:"sample"`
	// TrainImages, when positive, fine-tunes on a fixed class-balanced
	// subset of that many training images; ValImages measures accuracy on
	// a fixed class-balanced subset of the validation split.
	TrainImages int `json:"train_images,omitempty"`
	ValImages   int `json:"val_images,omitempty"`
	// RecalibrateBN re-estimates BatchNorm statistics on that many images
	// after each pruning step; ScreenBelow skips the fine-tuning of
	// candidates whose accuracy right after the first step is below it.
	RecalibrateBN int     `json:"recalibrate_bn,omitempty"`
	ScreenBelow   float64 `json:"screen_below,omitempty"`
	// Weight in the joint fitness (default 1).
	Weight float64 `json:"weight,omitempty"`
	// TimeoutSeconds fails an evaluation that runs longer (0: none).
	TimeoutSeconds float64 `json:"timeout_seconds,omitempty"`
	// TestAcc also measures the test set (recorded beside the fitness,
	// never used by it).
	TestAcc bool `json:"test_acc,omitempty"`
}

func (t *Task) defaults() {
	if t.ValSize == 0 {
		t.ValSize = 5000
	}
	if t.Weight == 0 {
		t.Weight = 1
	}
	if t.Sample == 0 {
		t.Sample = 500
	}
}

func (t *Task) check() error {
	switch {
	case t.Name == "":
		return fmt.Errorf("a task has no name")
	case t.Model == "":
		return fmt.Errorf("task %s: model is required", t.Name)
	case t.Dataset == "":
		return fmt.Errorf("task %s: dataset is required", t.Name)
	case t.Schedule == "":
		return fmt.Errorf("task %s: schedule is required", t.Name)
	case t.ValSize < 0, t.Sample < 0, t.TrainImages < 0, t.ValImages < 0, t.FineTuneEpochs < 0, t.FineTuneSteps < 0, t.Steps < 0, t.RecalibrateBN < 0:
		return fmt.Errorf("task %s: sizes and budgets must not be negative", t.Name)
	case t.Weight < 0 || math.IsNaN(t.Weight):
		return fmt.Errorf("task %s: weight must be positive, got %g", t.Name, t.Weight)
	case t.ScreenBelow < 0 || t.ScreenBelow >= 1:
		return fmt.Errorf("task %s: screen_below must be in [0, 1), got %g", t.Name, t.ScreenBelow)
	}
	return nil
}

// key identifies everything about a task that decides a result.
func (t Task) key() string {
	k := t
	k.Name, k.Weight, k.TimeoutSeconds, k.DataDir = "", 0, 0, ""
	if k.ModelSHA256 != "" {
		k.Model = ""
	}
	b, _ := json.Marshal(k)
	return string(b)
}

// Job is one fitness evaluation: prune Task's model with the expression's
// function, fine-tune, measure. Everything it depends on is in it.
type Job struct {
	ID      string `json:"id"`
	Expr    string `json:"expr"`
	Hash    string `json:"hash"` // canonical hash of the expression
	Task    Task   `json:"task"`
	Seed    uint64 `json:"seed"`
	Version string `json:"version,omitempty"`
}

// NewJob builds the job for an expression with its canonical hash.
func NewJob(expr, hash string, t Task, seed uint64) Job {
	h := sha256.New()
	fmt.Fprintf(h, "%s|%s|%d", hash, t.key(), seed)
	return Job{ID: hex.EncodeToString(h.Sum(nil))[:24], Expr: expr, Hash: hash, Task: t, Seed: seed}
}

// Result is what a Job produced. A failed evaluation has Error set and
// fitness 0.
type Result struct {
	JobID        string  `json:"job_id"`
	Expr         string  `json:"expr"`
	Hash         string  `json:"hash"`
	Task         string  `json:"task"`
	Seed         uint64  `json:"seed"`
	ValAcc       float64 `json:"val_acc"`
	ValAccPruned float64 `json:"val_acc_pruned"`
	TestAcc      float64 `json:"test_acc,omitempty"`
	Params       int64   `json:"params"`
	MACs         int64   `json:"macs"`
	ParamsKept   float64 `json:"params_kept"`
	MACsKept     float64 `json:"macs_kept"`
	// Key is the chain of pruning decisions (prune.DecisionKey).
	Key         string  `json:"key,omitempty"`
	Screened    bool    `json:"screened,omitempty"`
	CachedSteps int     `json:"cached_steps,omitempty"`
	Seconds     float64 `json:"seconds"`
	Error       string  `json:"error,omitempty"`
	// Refused marks an error of the environment (a missing dataset or
	// checkpoint, another version): the run stops with it rather than
	// scoring the function 0.
	Refused      bool   `json:"refused,omitempty"`
	Worker       string `json:"worker,omitempty"`
	FinishedUnix int64  `json:"finished_unix,omitempty"`
}

// Accuracy is the result's contribution to fitness: the validation
// accuracy, 0 for a failure.
func (r Result) Accuracy() float64 {
	if r.Error != "" || math.IsNaN(r.ValAcc) {
		return 0
	}
	return r.ValAcc
}

// Joint combines per-task accuracies with weights: the weighted geometric
// mean (the reference's sqrt(acc1 * acc2) for two tasks of equal weight)
// or the weighted arithmetic mean.
func Joint(mean string, acc, weights []float64) (float64, error) {
	var sw float64
	for _, w := range weights {
		sw += w
	}
	if len(acc) == 0 || len(acc) != len(weights) || sw <= 0 {
		return 0, fmt.Errorf("joint fitness of %d accuracies with %d weights", len(acc), len(weights))
	}
	switch strings.ToLower(mean) {
	case "", "geometric":
		lg := 0.0
		for i, a := range acc {
			if a <= 0 {
				return 0, nil
			}
			lg += weights[i] / sw * math.Log(a)
		}
		return math.Exp(lg), nil
	case "arithmetic":
		s := 0.0
		for i, a := range acc {
			s += weights[i] / sw * a
		}
		return s, nil
	}
	return 0, fmt.Errorf("unknown mean %q (geometric, arithmetic)", mean)
}
