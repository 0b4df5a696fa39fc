package evolve

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/evoprune/evoprune/gp"
)

// Config is a whole evolution run, as its JSON configuration file holds it.
type Config struct {
	// GP holds the population, generations and operator settings (gp's
	// field names; missing fields take the reference defaults).
	GP gp.Config `json:"gp"`
	// Tasks are the fitness tasks; an individual's fitness is the Mean
	// ("geometric", the default, or "arithmetic") of its validation
	// accuracies weighted by the tasks' weights.
	Tasks []Task `json:"tasks"`
	Mean  string `json:"mean,omitempty"`
	// Seed drives the GP; EvalSeed the scoring sample and fine-tuning of
	// every evaluation (the same for every individual, so that fitness
	// differences come from the functions, not from the draw).
	Seed     uint64 `json:"seed"`
	EvalSeed uint64 `json:"eval_seed"`
	// CacheModels bounds the in-memory cache of fine-tuned models shared by
	// evaluations that make the same decisions (default 32; -1 disables).
	CacheModels int `json:"cache_models,omitempty"`
	// HallOfFame is how many best distinct functions reports list (default 5).
	HallOfFame int `json:"hall_of_fame,omitempty"`
	// BudgetHours, when positive, ends the run before the first generation
	// that would start with the evaluations on record already past that
	// many hours (the sum of their Seconds: core-hours with single-threaded
	// workers). The generations run are exactly those of an unbudgeted
	// run; only where it stops depends on the machine. It serves
	// comparisons at equal cost (docs/BENCH.md, cost-effectiveness).
	BudgetHours float64 `json:"budget_hours,omitempty"`
	// BaseDir is the directory relative task paths are resolved against:
	// the configuration file's, recorded so a resumed run finds them too.
	BaseDir string `json:"base_dir,omitempty"`
}

// ParseConfig reads a configuration, rejecting unknown fields. Fields left
// out of "gp" keep the reference defaults.
func ParseConfig(b []byte, dir string) (*Config, error) {
	c := &Config{GP: gp.DefaultConfig(), BaseDir: absDir(dir)}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return nil, err
	}
	for i := range c.Tasks {
		// Like model paths, data directories are relative to the file.
		if d := c.Tasks[i].DataDir; d != "" && !filepath.IsAbs(d) {
			c.Tasks[i].DataDir = filepath.Join(c.BaseDir, d)
		}
	}
	if err := c.Check(); err != nil {
		return nil, err
	}
	return c, nil
}

// LoadConfig reads a configuration file.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := ParseConfig(b, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Check validates the configuration and fills in defaults, before any work
// starts: GP settings, seed functions, tasks and their checkpoints.
func (c *Config) Check() error {
	if err := c.GP.Validate(); err != nil {
		return fmt.Errorf("gp: %w", err)
	}
	if len(c.Tasks) == 0 {
		return fmt.Errorf("tasks: at least one fitness task is needed")
	}
	names := map[string]bool{}
	for i := range c.Tasks {
		t := &c.Tasks[i]
		t.defaults()
		if err := t.check(); err != nil {
			return fmt.Errorf("tasks[%d]: %w", i, err)
		}
		if names[t.Name] {
			return fmt.Errorf("tasks[%d]: duplicate task name %q", i, t.Name)
		}
		names[t.Name] = true
	}
	if _, err := Joint(c.Mean, []float64{1}, []float64{1}); err != nil {
		return fmt.Errorf("mean: %w", err)
	}
	if c.BudgetHours < 0 || math.IsNaN(c.BudgetHours) {
		return fmt.Errorf("budget_hours: must be positive (or 0 for none), got %v", c.BudgetHours)
	}
	if c.CacheModels == 0 {
		c.CacheModels = 32
	}
	if c.HallOfFame <= 0 {
		c.HallOfFame = 5
	}
	return nil
}

// SetDataDir gives every task without a data directory this one.
func (c *Config) SetDataDir(dir string) {
	for i := range c.Tasks {
		if c.Tasks[i].DataDir == "" {
			c.Tasks[i].DataDir = dir
		}
	}
}

// Resolve checks that every task's checkpoint exists and records its hash.
func (c *Config) Resolve() error {
	e := &Evaluator{Base: c.BaseDir}
	for i := range c.Tasks {
		t := &c.Tasks[i]
		path := e.ModelPath(*t)
		sum, err := FileSHA256(path)
		if err != nil {
			hint := ""
			if h, ok := trainHints[filepath.Base(t.Model)]; ok {
				hint = "; train it with: " + h
			}
			return fmt.Errorf("task %s: checkpoint %s: %w%s", t.Name, path, err, hint)
		}
		if t.ModelSHA256 != "" && t.ModelSHA256 != sum {
			return fmt.Errorf("task %s: %s has sha256 %s, the configuration says %s", t.Name, path, sum, t.ModelSHA256)
		}
		t.ModelSHA256 = sum
	}
	return nil
}

// trainHints say how to make the base models the presets and the
// configurations in configs/ name.
var trainHints = map[string]string{
	"resnet20-cifar10.safetensors": "evoprune train --model resnet20 --dataset cifar10 --epochs 80 --weight-decay 5e-4 --out pretrained/resnet20-cifar10.safetensors",
	"vgg16w05-cifar10.safetensors": "evoprune train --model vgg16 --width 0.5 --dataset cifar10 --epochs 50 --weight-decay 5e-4 --lr 0.05 --out pretrained/vgg16w05-cifar10.safetensors",
	"vgg16-cifar10.safetensors":    "evoprune train --model vgg16 --dataset cifar10 --epochs 160 --weight-decay 5e-4 --lr 0.05 --out pretrained/vgg16-cifar10.safetensors",
}

// Preset returns a built-in configuration: "demo" (LeNet-5 on MNIST, about
// ten minutes on two cores), "cpu" (LeNet-5 and VGG-16 at width 0.5, the
// protocol of docs/RESULTS.md) or "paper" (the reference settings: 100
// fine-tuning epochs per step, for large machines). root is the checkout
// holding pretrained/.
func Preset(name, root string) (*Config, error) {
	// The screen skips the fine-tuning of functions that leave the network
	// at chance level or below twice chance right after the first step:
	// in the LeNet-5 study every hand-made function and random stayed above
	// 0.31 there (docs/RESULTS.md).
	lenet := Task{Name: "lenet5-mnist", Model: "pretrained/lenet5-mnist.safetensors", Dataset: "mnist",
		Schedule: "preset:lenet5", Sample: 500, FineTuneSteps: 100, ValImages: 2000, ScreenBelow: 0.2}
	vgg := Task{Name: "vgg16-cifar10", Model: "pretrained/vgg16w05-cifar10.safetensors", Dataset: "cifar10",
		Schedule: "preset:vgg16", Sample: 500, FineTuneSteps: 150, ValImages: 2000, RecalibrateBN: 512, ScreenBelow: 0.2}
	// MNIST ships in the checkout's data/; other datasets are looked for
	// where evoprune always looks (--data-dir, $EVOPRUNE_DATA, ./data, the
	// user cache).
	if _, err := os.Stat(filepath.Join(root, "data", "mnist")); err == nil {
		lenet.DataDir = absDir(filepath.Join(root, "data"))
	}
	c := &Config{GP: gp.DefaultConfig(), BaseDir: absDir(root), Seed: 1, EvalSeed: 1}
	switch name {
	case "demo":
		// The reference population and generations (2 x 7 seeds, 10).
		c.Tasks = []Task{lenet}
	case "cpu":
		c.GP.Population, c.GP.Generations, c.GP.SeedCopies = 20, 10, 2
		c.Tasks = []Task{lenet, vgg}
	case "paper":
		lenet.FineTuneSteps, lenet.FineTuneEpochs, lenet.ValImages, lenet.Sample, lenet.ScreenBelow = 0, 100, 0, 1000, 0
		vgg.FineTuneSteps, vgg.FineTuneEpochs, vgg.ValImages, vgg.Sample, vgg.RecalibrateBN, vgg.ScreenBelow = 0, 100, 0, 1000, 0, 0
		vgg.Model, vgg.LRSchedule = "pretrained/vgg16-cifar10.safetensors", "multistep:40,80:0.28"
		c.Tasks = []Task{lenet, vgg}
	default:
		return nil, fmt.Errorf("unknown preset %q (%s)", name, strings.Join(Presets(), ", "))
	}
	if err := c.Check(); err != nil {
		return nil, err
	}
	return c, nil
}

// Presets lists the preset names.
func Presets() []string {
	p := []string{"demo", "cpu", "paper"}
	sort.Strings(p)
	return p
}

func absDir(d string) string {
	if a, err := filepath.Abs(d); err == nil {
		return a
	}
	return d
}
