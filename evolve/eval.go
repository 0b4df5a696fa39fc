package evolve

import (
	"container/list"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/evoprune/evoprune/data"
	"github.com/evoprune/evoprune/models"
	"github.com/evoprune/evoprune/nn"
	"github.com/evoprune/evoprune/pfunc"
	"github.com/evoprune/evoprune/prune"
	"github.com/evoprune/evoprune/train"
)

// Evaluator runs jobs. It keeps each pretrained model and dataset it has
// loaded, and a cache of fine-tuned models keyed by pruning decisions, so
// that consecutive jobs of a run pay for neither twice. It is safe for
// concurrent use by several workers.
type Evaluator struct {
	// Base resolves relative model paths (the configuration's directory).
	Base string
	// Progress, when set, receives each job's pruning log.
	Progress io.Writer
	// Cache shares fine-tuned models between jobs with equal decisions;
	// nil disables it.
	Cache prune.StepCache
	// Name labels results (e.g. host:pid/worker).
	Name string

	mu     sync.Mutex
	models map[string]*loadedModel
	sets   map[string]*splits
}

type loadedModel struct {
	once sync.Once
	g    *nn.Graph
	err  error
}

type splits struct {
	once            sync.Once
	train, val, tst *data.Dataset
	err             error
}

// NewEvaluator returns an evaluator with an in-memory decision cache of up
// to cacheModels fine-tuned models (0: no cache).
func NewEvaluator(base string, cacheModels int) *Evaluator {
	e := &Evaluator{Base: base, models: map[string]*loadedModel{}, sets: map[string]*splits{}}
	if cacheModels > 0 {
		e.Cache = NewModelCache(cacheModels)
	}
	return e
}

// ModelPath resolves a task's model path.
func (e *Evaluator) ModelPath(t Task) string {
	if filepath.IsAbs(t.Model) || e.Base == "" {
		return t.Model
	}
	return filepath.Join(e.Base, t.Model)
}

// FileSHA256 hashes a file's content.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func (e *Evaluator) model(t Task) (*nn.Graph, error) {
	path := e.ModelPath(t)
	e.mu.Lock()
	m := e.models[path+"|"+t.ModelSHA256]
	if m == nil {
		m = &loadedModel{}
		e.models[path+"|"+t.ModelSHA256] = m
	}
	e.mu.Unlock()
	m.once.Do(func() {
		if t.ModelSHA256 != "" {
			sum, err := FileSHA256(path)
			if err != nil {
				m.err = fmt.Errorf("task %s: %w", t.Name, err)
				return
			}
			if sum != t.ModelSHA256 {
				m.err = fmt.Errorf("task %s: %s has sha256 %s, the job wants %s (a different checkpoint)", t.Name, path, sum[:12], t.ModelSHA256[:12])
				return
			}
		}
		m.g, _, m.err = models.Load(path)
		if m.err != nil {
			m.err = fmt.Errorf("task %s: %w", t.Name, m.err)
		}
	})
	if m.err != nil {
		return nil, m.err
	}
	return m.g.Clone(), nil
}

func (e *Evaluator) data(t Task) (*splits, error) {
	key := fmt.Sprintf("%s|%s|%d|%d|%d|%d", t.Dataset, t.DataDir, t.ValSize, t.SplitSeed, t.TrainImages, t.ValImages)
	e.mu.Lock()
	s := e.sets[key]
	if s == nil {
		s = &splits{}
		e.sets[key] = s
	}
	e.mu.Unlock()
	s.once.Do(func() { s.err = s.load(t) })
	return s, s.err
}

func (s *splits) load(t Task) error {
	opt := data.Options{DataDir: t.DataDir}
	full, err := data.Load(t.Dataset, "train", opt)
	if err != nil {
		return fmt.Errorf("task %s: %w", t.Name, err)
	}
	s.train, s.val, err = data.SplitValidation(full, t.ValSize, t.SplitSeed)
	if err != nil {
		return fmt.Errorf("task %s: %w", t.Name, err)
	}
	if t.TrainImages > 0 && t.TrainImages < s.train.N {
		idx, err := prune.Sample{Size: t.TrainImages, Seed: t.SplitSeed + 1}.Indices(s.train)
		if err != nil {
			return err
		}
		s.train = s.train.Subset(idx)
	}
	if t.ValImages > 0 && t.ValImages < s.val.N {
		idx, err := prune.Sample{Size: t.ValImages, Seed: t.SplitSeed + 2}.Indices(s.val)
		if err != nil {
			return err
		}
		s.val = s.val.Subset(idx)
	}
	if t.TestAcc {
		if s.tst, err = data.Load(t.Dataset, "test", opt); err != nil {
			return fmt.Errorf("task %s: %w", t.Name, err)
		}
	}
	return nil
}

// Evaluate runs one job. It never panics on a bad expression or task: the
// failure is the result's Error (fitness 0), with the reason.
func (e *Evaluator) Evaluate(job Job) (res Result) {
	start := time.Now()
	res = Result{JobID: job.ID, Expr: job.Expr, Hash: job.Hash, Task: job.Task.Name, Seed: job.Seed, Worker: e.Name}
	defer func() {
		if r := recover(); r != nil {
			res.Error = fmt.Sprintf("internal error: %v", r)
		}
		res.Seconds = time.Since(start).Seconds()
		res.FinishedUnix = time.Now().Unix()
	}()
	if err := e.run(job, &res, start); err != nil {
		res.Error = err.Error()
		var env *EnvError
		res.Refused = errors.As(err, &env)
	}
	return res
}

// EnvError is a failure of the evaluation's environment, not of the
// function: a checkpoint or dataset that cannot be read. Such a result is
// refused (Result.Refused): it stops the run instead of scoring 0.
type EnvError struct{ Err error }

func (e *EnvError) Error() string { return e.Err.Error() }
func (e *EnvError) Unwrap() error { return e.Err }

func (e *Evaluator) run(job Job, res *Result, start time.Time) error {
	t := job.Task
	var crit prune.Criterion
	if tree, err := pfunc.ParseWithConstants(job.Expr); err == nil {
		if crit, err = prune.NewPfunc(job.Expr, tree); err != nil {
			return err
		}
	} else if crit, err = prune.ParseCriterion(job.Expr); err != nil {
		// not an expression: a native criterion (random, bn_scale ...) or nothing
		return err
	}
	sched, err := prune.ParseSchedule(t.Schedule, t.Steps)
	if err != nil {
		return fmt.Errorf("task %s: %w", t.Name, err)
	}
	g, err := e.model(t)
	if err != nil {
		return &EnvError{err}
	}
	sp, err := e.data(t)
	if err != nil {
		return &EnvError{err}
	}
	ft := prune.FineTuneRecipe(g.Arch, t.FineTuneEpochs, t.FineTuneSteps, job.Seed)
	if t.LR > 0 {
		ft.LR = t.LR
	}
	if t.LRSchedule != "" {
		if ft.Schedule, err = train.ParseSchedule(t.LRSchedule, t.FineTuneEpochs); err != nil {
			return fmt.Errorf("task %s: lr_schedule: %w", t.Name, err)
		}
	}
	if t.TimeoutSeconds > 0 {
		ft.Deadline = start.Add(time.Duration(t.TimeoutSeconds * float64(time.Second)))
	}
	cfg := prune.Config{Criterion: crit, Schedule: sched, Mode: prune.Mode(t.Mode), Seed: job.Seed,
		Sample: prune.Sample{Size: t.Sample, Seed: job.Seed}, FineTune: ft, Progress: e.Progress,
		RecalibrateBN: t.RecalibrateBN, ScreenBelow: t.ScreenBelow,
		Options: prune.Options{NoBlockInputs: t.NoBlockInputs, Residual: t.Residual, Reduce: t.Reduce},
		Cache:   e.Cache, CacheKey: fmt.Sprintf("%s|%d", t.key(), job.Seed)}
	pruned, rep, err := prune.Run(g, sp.train, sp.val, cfg)
	if err != nil {
		if errors.Is(err, train.ErrDeadline) {
			return fmt.Errorf("timeout after %gs: %w", t.TimeoutSeconds, err)
		}
		return err
	}
	last := rep.Steps[len(rep.Steps)-1]
	res.ValAccPruned = rep.Steps[0].ValAccPruned
	res.ValAcc = last.ValAccPruned
	if last.FineTuneSteps > 0 {
		res.ValAcc = last.ValAccTuned
	}
	res.Screened, res.Key = rep.Screened, rep.Key
	for _, s := range rep.Steps {
		if s.Cached {
			res.CachedSteps++
		}
	}
	res.Params, res.MACs = pruned.NumParams(), pruned.MACs()
	res.ParamsKept, res.MACsKept = rep.Comparison.ParamsKept, rep.Comparison.MACsKept
	if sp.tst != nil {
		_, res.TestAcc = train.Evaluate(pruned, sp.tst, 256)
	}
	return nil
}

// ModelCache is a bounded in-memory prune.StepCache: the most recently
// used fine-tuned models, cloned on the way in and out.
type ModelCache struct {
	mu    sync.Mutex
	limit int
	order *list.List // of *cacheEntry, most recent first
	byKey map[string]*list.Element
	hits  int
}

type cacheEntry struct {
	key string
	g   *nn.Graph
	sr  prune.StepReport
}

// NewModelCache keeps up to limit models.
func NewModelCache(limit int) *ModelCache {
	return &ModelCache{limit: limit, order: list.New(), byKey: map[string]*list.Element{}}
}

// Lookup implements prune.StepCache.
func (c *ModelCache) Lookup(key string) (*nn.Graph, *prune.StepReport, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[key]
	if !ok {
		return nil, nil, false
	}
	c.order.MoveToFront(el)
	c.hits++
	e := el.Value.(*cacheEntry)
	sr := e.sr
	return e.g.Clone(), &sr, true
}

// Store implements prune.StepCache.
func (c *ModelCache) Store(key string, g *nn.Graph, sr *prune.StepReport) {
	clone := g.Clone()
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byKey[key]; ok {
		c.order.MoveToFront(el)
		return
	}
	c.byKey[key] = c.order.PushFront(&cacheEntry{key: key, g: clone, sr: *sr})
	for c.order.Len() > c.limit {
		old := c.order.Back()
		c.order.Remove(old)
		delete(c.byKey, old.Value.(*cacheEntry).key)
	}
}

// Hits is the number of steps served so far.
func (c *ModelCache) Hits() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits
}
