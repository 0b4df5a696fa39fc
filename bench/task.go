// Package bench runs pruning criteria side by side under one protocol and
// ranks them: the transfer experiments of "Evolving Transferable Neural
// Pruning Functions" as a command. A task is a pretrained model, a dataset
// and one or more schedules; every metric prunes every task with seeds
// 1..K, and the leaderboard gives, per task and schedule, the accuracy
// after pruning and after fine-tuning with its spread over seeds, the
// params and MACs removed and the CPU time, with a paired test of every
// metric against a reference criterion.
//
// One evaluation is an evolve.Job (model, data, schedule, budgets, metric,
// seed), run by the same evaluator as evolution's fitness, so a function is
// judged here exactly as it was judged while it evolved. The seed drives
// the scoring sample, the fine-tuning batches and the random criterion.
package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/evoprune/evoprune/data"
	"github.com/evoprune/evoprune/evolve"
	"github.com/evoprune/evoprune/models"
	"github.com/evoprune/evoprune/prune"
)

// Task is one benchmark task. It has the fields of an evolution fitness
// task (evolve.Task: model, dataset, schedule, budgets, subsets), so a
// fitness task can be copied into a task file as it is, plus a list of
// schedules (several make a pruning curve) and the command that trains the
// checkpoint when it is missing.
type Task struct {
	evolve.Task
	// Schedules, when set, replaces Schedule: the task runs once per entry
	// and the leaderboard plots accuracy against the MACs kept.
	Schedules []string `json:"schedules,omitempty"`
	// Description is one line for listings.
	Description string `json:"description,omitempty"`
	// TrainCommand makes the checkpoint when it does not exist.
	TrainCommand string `json:"train_command,omitempty"`
}

// AllSchedules is the task's schedules in order.
func (t Task) AllSchedules() []string {
	if len(t.Schedules) > 0 {
		return t.Schedules
	}
	return []string{t.Schedule}
}

// Variant is one (task, schedule) pair: the unit the leaderboard ranks on.
type Variant struct {
	// Name is the task's name, with "@schedule" when it has several.
	Name     string      `json:"name"`
	Task     string      `json:"task"`
	Schedule string      `json:"schedule"`
	Job      evolve.Task `json:"job_task"`
}

// Variants expands the task into one evolve.Task per schedule.
func (t Task) Variants() []Variant {
	var out []Variant
	scheds := t.AllSchedules()
	for _, s := range scheds {
		jt := t.Task
		jt.Schedule = s
		name := t.Name
		if len(scheds) > 1 {
			name += "@" + s
		}
		jt.Name = name
		out = append(out, Variant{Name: name, Task: t.Name, Schedule: s, Job: jt})
	}
	return out
}

// Budgets shared by the built-in CIFAR tasks: what two CPU cores do in a few
// minutes per evaluation. They are deliberately the same for every task so
// that rows compare.
const (
	cifarFineTuneSteps = 200
	cifarSample        = 500
	cifarValImages     = 2000
	cifarRecalibrate   = 512
)

// trainCmd is the command that makes a built-in task's checkpoint: the
// settings of the base models trained for this project (ResNets: 80
// epochs; VGG-16 at width 0.5: 50 epochs at lr 0.05, as evolution's cpu
// preset wants it).
func trainCmd(model, dataset, extra, out string) string {
	opts := "--epochs 80 --weight-decay 5e-4"
	if model == "vgg16" {
		opts = "--epochs 50 --weight-decay 5e-4 --lr 0.05"
	}
	return fmt.Sprintf("evoprune train --model %s%s --dataset %s --data-dir DIR %s --out %s", model, extra, dataset, opts, out)
}

// builtin lists the built-in tasks. Paths are relative to the checkout.
func builtin() []Task {
	var ts []Task
	ts = append(ts, Task{
		Task: evolve.Task{Name: "lenet5-smoke", Model: "pretrained/lenet5-mnist.safetensors", Dataset: "mnist", DataDir: "data",
			Schedule: "preset:lenet5", Sample: 200, FineTuneSteps: 30, ValImages: 1000, TrainImages: 10000, TestAcc: true},
		Description:  "LeNet-5 on the bundled MNIST, the reference's three-step schedule, tiny budgets: tests and demos",
		TrainCommand: "evoprune --threads 1 train --model lenet5 --dataset mnist --epochs 5 --out pretrained/lenet5-mnist.safetensors",
	})
	ts = append(ts, Task{
		Task: evolve.Task{Name: "lenet5-curve", Model: "pretrained/lenet5-mnist.safetensors", Dataset: "mnist", DataDir: "data",
			Sample: 200, FineTuneSteps: 30, ValImages: 1000, TrainImages: 10000, TestAcc: true},
		Schedules:    []string{"macs:0.5", "macs:0.7", "macs:0.9"},
		Description:  "LeNet-5 on MNIST pruned by a global ranking to 50, 30 and 10 % of its MACs: a pruning curve in minutes",
		TrainCommand: "evoprune --threads 1 train --model lenet5 --dataset mnist --epochs 5 --out pretrained/lenet5-mnist.safetensors",
	})
	type base struct{ arch, model, dataset, extra, file string }
	bases := []base{
		{"resnet20", "resnet20", "cifar10", "", "pretrained/resnet20-cifar10.safetensors"},
		{"resnet56", "resnet56", "cifar10", "", "pretrained/resnet56-cifar10.safetensors"},
		{"vgg16", "vgg16", "cifar10", " --width 0.5", "pretrained/vgg16w05-cifar10.safetensors"},
		{"resnet20", "resnet20", "cifar100", "", "pretrained/resnet20-cifar100.safetensors"},
		{"resnet56", "resnet56", "cifar100", "", "pretrained/resnet56-cifar100.safetensors"},
		{"vgg16", "vgg16", "cifar100", " --width 0.5", "pretrained/vgg16w05-cifar100.safetensors"},
	}
	for _, b := range bases {
		uniform := "preset:resnet56"
		what := "the reference's ResNet-56 schedule (40 % of every block's channels, one shot)"
		if b.arch == "vgg16" {
			uniform, what = "preset:vgg16", "the reference's VGG-16 schedule (two steps of about 20 % of every layer)"
		}
		mk := func(suffix, sched, desc string) Task {
			return Task{
				Task: evolve.Task{Name: b.arch + "-" + b.dataset + suffix, Model: b.file, Dataset: b.dataset, Schedule: sched,
					Sample: cifarSample, FineTuneSteps: cifarFineTuneSteps, ValImages: cifarValImages, RecalibrateBN: cifarRecalibrate, TestAcc: true},
				Description:  desc,
				TrainCommand: trainCmd(b.model, b.dataset, b.extra, b.file),
			}
		}
		ts = append(ts,
			mk("", uniform, fmt.Sprintf("%s on %s, %s", b.arch, b.dataset, what)),
			mk("-macs50", "macs:0.5", fmt.Sprintf("%s on %s, global ranking to 50 %% of the MACs", b.arch, b.dataset)))
	}
	return ts
}

// groups are names for several built-in tasks at once.
var groups = map[string][]string{
	"transfer-cifar10":  {"resnet20-cifar10", "resnet20-cifar10-macs50", "resnet56-cifar10", "resnet56-cifar10-macs50"},
	"transfer-cifar100": {"resnet20-cifar100", "resnet20-cifar100-macs50", "resnet56-cifar100", "resnet56-cifar100-macs50"},
}

// Builtin returns the built-in tasks, in listing order.
func Builtin() []Task { return builtin() }

// BuiltinGroups returns the names of task groups and their members.
func BuiltinGroups() map[string][]string {
	out := map[string][]string{}
	for k, v := range groups {
		out[k] = append([]string(nil), v...)
	}
	return out
}

func builtinNames() string {
	var ns []string
	for _, t := range builtin() {
		ns = append(ns, t.Name)
	}
	var gs []string
	for g := range groups {
		gs = append(gs, g)
	}
	sort.Strings(gs)
	return strings.Join(append(ns, gs...), ", ")
}

// taskFile is a task file: {"tasks": [...]}.
type taskFile struct {
	Tasks []Task `json:"tasks"`
}

// ParseTaskFile reads a task file's JSON ({"tasks": [...]}), rejecting
// unknown fields. Relative model and data paths are made absolute against
// dir.
func ParseTaskFile(b []byte, dir string) ([]Task, error) {
	var tf taskFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&tf); err != nil {
		return nil, err
	}
	if len(tf.Tasks) == 0 {
		return nil, fmt.Errorf("no tasks (want {\"tasks\": [...]})")
	}
	for i := range tf.Tasks {
		tf.Tasks[i].resolvePaths(dir)
	}
	return tf.Tasks, nil
}

func (t *Task) resolvePaths(dir string) {
	if t.Model != "" && !filepath.IsAbs(t.Model) {
		t.Model = filepath.Join(dir, t.Model)
	}
	if t.DataDir != "" && !filepath.IsAbs(t.DataDir) {
		t.DataDir = filepath.Join(dir, t.DataDir)
	}
}

// ResolveTasks reads spec: the path of a task file, or built-in task and
// group names separated by commas. root is the checkout the built-in
// tasks' paths are relative to.
func ResolveTasks(spec, root string) ([]Task, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, fmt.Errorf("no tasks: give a task file or built-in names (%s)", builtinNames())
	}
	if st, err := os.Stat(spec); err == nil && !st.IsDir() {
		b, err := os.ReadFile(spec)
		if err != nil {
			return nil, err
		}
		ts, err := ParseTaskFile(b, filepath.Dir(spec))
		if err != nil {
			return nil, fmt.Errorf("task file %s: %w", spec, err)
		}
		return ts, checkNames(ts)
	}
	byName := map[string]Task{}
	for _, t := range builtin() {
		byName[t.Name] = t
	}
	var out []Task
	for _, n := range strings.Split(spec, ",") {
		n = strings.TrimSpace(n)
		names := []string{n}
		if g, ok := groups[n]; ok {
			names = g
		}
		for _, m := range names {
			t, ok := byName[m]
			if !ok {
				if strings.ContainsAny(n, "/.") {
					return nil, fmt.Errorf("unknown task %q: no such task file, and not a built-in task (%s)", n, builtinNames())
				}
				return nil, fmt.Errorf("unknown task %q (built-in: %s; or give a task file)", n, builtinNames())
			}
			if root == "" {
				return nil, fmt.Errorf("built-in task %s needs the checkout holding pretrained/; run from inside one", m)
			}
			t.resolvePaths(root)
			out = append(out, t)
		}
	}
	return out, checkNames(out)
}

func checkNames(ts []Task) error {
	seen := map[string]bool{}
	for i, t := range ts {
		if t.Name == "" {
			return fmt.Errorf("tasks[%d]: no name", i)
		}
		if seen[t.Name] {
			return fmt.Errorf("tasks[%d]: task %s is listed twice", i, t.Name)
		}
		seen[t.Name] = true
	}
	return nil
}

// Prepare checks a task before any work and fills in what the protocol
// needs: defaults (validation split 5000, or the checkpoint's own split;
// 500 scoring images), the checkpoint's content hash (results are keyed on
// it, so a retrained checkpoint never reuses old results), that the model
// fits the dataset, that the schedules parse, and that the dataset loads.
// A missing checkpoint is an error naming the command that trains it.
func (t *Task) Prepare(loadData bool) error {
	if t.Model == "" || t.Dataset == "" {
		return fmt.Errorf("task %s: model and dataset are required", t.Name)
	}
	if t.Schedule != "" && len(t.Schedules) > 0 {
		return fmt.Errorf("task %s: give schedule or schedules, not both", t.Name)
	}
	if t.Schedule == "" && len(t.Schedules) == 0 {
		return fmt.Errorf("task %s: schedule is required", t.Name)
	}
	if t.ValSize < 0 || t.Sample < 0 || t.TrainImages < 0 || t.ValImages < 0 || t.FineTuneEpochs < 0 || t.FineTuneSteps < 0 || t.Steps < 0 || t.RecalibrateBN < 0 {
		return fmt.Errorf("task %s: sizes and budgets must not be negative", t.Name)
	}
	for _, s := range t.AllSchedules() {
		if _, err := prune.ParseSchedule(s, t.Steps); err != nil {
			return fmt.Errorf("task %s: %w", t.Name, err)
		}
	}
	if _, err := os.Stat(t.Model); err != nil {
		if os.IsNotExist(err) {
			msg := fmt.Sprintf("task %s: checkpoint %s does not exist", t.Name, t.Model)
			if t.TrainCommand != "" {
				msg += "; train it with: " + t.TrainCommand
			}
			return fmt.Errorf("%s", msg)
		}
		return fmt.Errorf("task %s: checkpoint: %w", t.Name, err)
	}
	g, info, err := models.Load(t.Model)
	if err != nil {
		return fmt.Errorf("task %s: %w", t.Name, err)
	}
	di, err := data.Lookup(t.Dataset)
	if err != nil {
		return fmt.Errorf("task %s: %w", t.Name, err)
	}
	if g.Output().Channels() != di.Classes || g.Input().Shape[0] != di.C || g.Input().Shape[1] != di.H {
		return fmt.Errorf("task %s: %s (%s, %d classes, input %v) does not fit %s (%d classes, %dx%dx%d images)",
			t.Name, t.Model, g.Arch, g.Output().Channels(), g.Input().Shape, t.Dataset, di.Classes, di.C, di.H, di.W)
	}
	if t.ValSize == 0 {
		t.ValSize = 5000
		if v, ok := info.Extra["val_size"]; ok {
			fmt.Sscan(v, &t.ValSize)
		}
		if v, ok := info.Extra["split_seed"]; ok && t.SplitSeed == 0 {
			fmt.Sscan(v, &t.SplitSeed)
		}
	}
	if t.Sample == 0 {
		t.Sample = 500
	}
	if t.Weight == 0 {
		t.Weight = 1
	}
	sum, err := evolve.FileSHA256(t.Model)
	if err != nil {
		return fmt.Errorf("task %s: %w", t.Name, err)
	}
	if t.ModelSHA256 != "" && t.ModelSHA256 != sum {
		return fmt.Errorf("task %s: %s has sha256 %s, the task says %s", t.Name, t.Model, sum, t.ModelSHA256)
	}
	t.ModelSHA256 = sum
	if loadData {
		full, err := data.Load(t.Dataset, "train", data.Options{DataDir: t.DataDir})
		if err != nil {
			return fmt.Errorf("task %s: %w", t.Name, err)
		}
		if t.ValSize >= full.N {
			return fmt.Errorf("task %s: validation split of %d images from %d training images", t.Name, t.ValSize, full.N)
		}
		if t.TestAcc {
			if _, err := data.Load(t.Dataset, "test", data.Options{DataDir: t.DataDir}); err != nil {
				return fmt.Errorf("task %s: %w", t.Name, err)
			}
		}
	}
	return nil
}
