package train

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"time"

	"github.com/evoprune/evoprune/data"
	"github.com/evoprune/evoprune/nn"
	"github.com/evoprune/evoprune/progress"
	"github.com/evoprune/evoprune/tensor"
)

// Config is everything a training run needs besides the model and data.
type Config struct {
	Epochs      int
	Batch       int
	Optimizer   string // "sgd" or "adam"
	LR          float64
	Momentum    float64 // sgd
	Nesterov    bool    // sgd
	WeightDecay float64
	Schedule    Schedule
	Augment     data.Augment
	Seed        uint64
	// ClipNorm clips the global gradient norm when positive.
	ClipNorm float64
	// MaxGradNorm stops the run when the gradient norm exceeds it (0: off).
	MaxGradNorm float64
	// MaxSteps, when positive, ends training after this many steps in all
	// (a fine-tuning budget smaller than an epoch). Without Epochs, the
	// learning-rate schedule then runs over those steps.
	MaxSteps int
	// EvalBatch is the batch size for evaluation (default 256).
	EvalBatch int
	// Progress receives the live bar or log lines; nil for silence.
	Progress io.Writer
	// OnBest is called with the epoch whenever validation accuracy improves,
	// e.g. to save a checkpoint. Its error stops the run.
	OnBest func(epoch int, s EpochStats) error
	// StatePath, when set, is where the training state is written after
	// every epoch (and removed when the run finishes); with Resume, a state
	// found there is loaded and the run continues after its last epoch.
	StatePath string
	Resume    bool
	// Deadline, when not zero, stops the run with ErrDeadline at the first
	// step that starts after it (the time limit of a fitness evaluation).
	Deadline time.Time

	// crashAfter, in tests, ends the run abruptly after this many epochs
	// (state written, nothing restored or removed), like a killed process.
	crashAfter int
}

// EpochStats summarises one epoch.
type EpochStats struct {
	Epoch     int     `json:"epoch"`
	LR        float64 `json:"lr"`
	TrainLoss float64 `json:"train_loss"`
	TrainAcc  float64 `json:"train_acc"`
	ValLoss   float64 `json:"val_loss"`
	ValAcc    float64 `json:"val_acc"`
	ImagesPS  float64 `json:"images_per_s"`
	Seconds   float64 `json:"seconds"`
}

// Result is the outcome of Fit.
type Result struct {
	History   []EpochStats `json:"history"`
	BestEpoch int          `json:"best_epoch"`
	BestVal   float64      `json:"best_val_acc"`
	Steps     int          `json:"steps"`
	Seconds   float64      `json:"seconds"`
}

var errCrashed = fmt.Errorf("simulated crash")

// ErrDeadline ends a run that passed its Deadline.
var ErrDeadline = errors.New("time limit reached")

// DivergedError reports a run stopped by a guard.
type DivergedError struct {
	Epoch, Step int
	Reason      string
}

func (e *DivergedError) Error() string {
	return fmt.Sprintf("training stopped at epoch %d step %d: %s (try a lower --lr or --clip-norm)", e.Epoch, e.Step, e.Reason)
}

func (c *Config) defaults() error {
	if c.Epochs <= 0 && c.MaxSteps <= 0 {
		return fmt.Errorf("epochs must be positive, got %d", c.Epochs)
	}
	if c.Batch <= 0 {
		return fmt.Errorf("batch size must be positive, got %d", c.Batch)
	}
	if c.LR <= 0 || math.IsNaN(c.LR) || math.IsInf(c.LR, 0) {
		return fmt.Errorf("learning rate must be a positive number, got %g", c.LR)
	}
	if c.EvalBatch <= 0 {
		c.EvalBatch = 256
	}
	if c.Schedule == nil {
		c.Schedule = Constant{}
	}
	if c.Epochs <= 0 {
		c.Epochs = 1 << 30
	}
	return nil
}

// NewOptimizer returns the optimiser the config names.
func (c *Config) NewOptimizer() (nn.Optimizer, error) {
	switch c.Optimizer {
	case "sgd", "":
		return &nn.SGD{Momentum: c.Momentum, Nesterov: c.Nesterov, WeightDecay: c.WeightDecay}, nil
	case "adam":
		return nn.NewAdam(c.WeightDecay), nil
	}
	return nil, fmt.Errorf("unknown optimizer %q (sgd, adam)", c.Optimizer)
}

// Fit trains g on trainSet, evaluating on valSet (if not nil) after every
// epoch. When it returns without error, g holds the weights of the best
// validation epoch (or the last epoch without a validation set).
func Fit(g *nn.Graph, trainSet, valSet *data.Dataset, cfg Config) (Result, error) {
	// A budget given in steps alone runs the schedule over those steps.
	stepsOnly := cfg.Epochs <= 0 && cfg.MaxSteps > 0
	if err := cfg.defaults(); err != nil {
		return Result{}, err
	}
	opt, err := cfg.NewOptimizer()
	if err != nil {
		return Result{}, err
	}
	loader := data.NewLoader(trainSet, cfg.Batch, true, cfg.Augment, cfg.Seed)
	stepper := &Stepper{Graph: g, Opt: opt, ClipNorm: cfg.ClipNorm, MaxGradNorm: cfg.MaxGradNorm,
		Ctx: &nn.Context{Train: true, Rand: rand.New(rand.NewPCG(cfg.Seed, 0xd1))}}
	params := g.Params()
	x := &tensor.Tensor{}
	y := make([]int32, cfg.Batch)
	res := Result{BestVal: -1}
	var best []*tensor.Tensor
	perEpoch := loader.Batches()
	start := time.Now()
	step, first := 0, 0
	if cfg.Resume && cfg.StatePath != "" {
		m, b, ok, err := loadState(cfg.StatePath, g, opt, &cfg)
		if err != nil {
			return res, err
		}
		if ok {
			best, first, step = b, m.EpochsDone, m.Steps
			res.History, res.BestEpoch, res.BestVal = m.History, m.BestEpoch, m.BestVal
			if cfg.Progress != nil {
				fmt.Fprintf(cfg.Progress, "resuming from %s after epoch %d (best val %.2f%% at epoch %d)\n", cfg.StatePath, first, 100*m.BestVal, m.BestEpoch)
			}
		}
	}
	for epoch := first; epoch < cfg.Epochs && (cfg.MaxSteps <= 0 || step < cfg.MaxSteps); epoch++ {
		loader.Reset(epoch)
		// Dropout draws depend on (seed, epoch) only, like the data order, so
		// a resumed run matches an uninterrupted one.
		stepper.Ctx.Rand = rand.New(rand.NewPCG(cfg.Seed, 0xd1+uint64(epoch)))
		bar := progress.New(cfg.Progress, fmt.Sprintf("epoch %d/%d", epoch+1, cfg.Epochs), perEpoch, 10*time.Second)
		if cfg.MaxSteps > 0 {
			bar = progress.New(cfg.Progress, fmt.Sprintf("epoch %d", epoch+1), min(perEpoch, cfg.MaxSteps-step), 10*time.Second)
		}
		t0 := time.Now()
		var lossSum float64
		var seen, correct, b int
		lr := cfg.LR
		for cfg.MaxSteps <= 0 || step < cfg.MaxSteps {
			n, ok := loader.Next(x, y)
			if !ok {
				break
			}
			if !cfg.Deadline.IsZero() && time.Now().After(cfg.Deadline) {
				return res, fmt.Errorf("epoch %d step %d: %w", epoch+1, step, ErrDeadline)
			}
			if stepsOnly {
				lr = cfg.Schedule.LR(cfg.LR, float64(step)/float64(cfg.MaxSteps), 1)
			} else {
				lr = cfg.Schedule.LR(cfg.LR, float64(epoch)+float64(b)/float64(perEpoch), cfg.Epochs)
			}
			loss, c, err := stepper.Step(x, y[:n], lr)
			if err != nil {
				return res, &DivergedError{epoch + 1, step, err.Error()}
			}
			lossSum += loss * float64(n)
			seen += n
			correct += c
			b++
			step++
			el := time.Since(t0).Seconds()
			bar.Update(b, fmt.Sprintf("loss %.4f acc %.2f%% %.0f img/s", lossSum/float64(seen), 100*float64(correct)/float64(seen), float64(seen)/el))
		}
		bar.Finish()
		el := time.Since(t0).Seconds()
		st := EpochStats{Epoch: epoch + 1, LR: lr, TrainLoss: lossSum / float64(max(seen, 1)),
			TrainAcc: float64(correct) / float64(max(seen, 1)), ImagesPS: float64(seen) / el, Seconds: el}
		improved := true
		if valSet != nil {
			st.ValLoss, st.ValAcc = Evaluate(g, valSet, cfg.EvalBatch)
			improved = st.ValAcc > res.BestVal
		}
		res.History = append(res.History, st)
		if cfg.Progress != nil {
			line := fmt.Sprintf("epoch %d: lr %.4g train loss %.4f acc %.2f%%", st.Epoch, st.LR, st.TrainLoss, 100*st.TrainAcc)
			if valSet != nil {
				line += fmt.Sprintf(" | val loss %.4f acc %.2f%%", st.ValLoss, 100*st.ValAcc)
			}
			fmt.Fprintf(cfg.Progress, "%s | %.0f img/s %s\n", line, st.ImagesPS, progress.FormatDuration(time.Duration(el*float64(time.Second))))
		}
		if improved {
			res.BestEpoch, res.BestVal = st.Epoch, st.ValAcc
			best = snapshot(params, best)
			if cfg.OnBest != nil {
				if err := cfg.OnBest(st.Epoch, st); err != nil {
					return res, err
				}
			}
		}
		if cfg.StatePath != "" {
			m := stateMeta{Arch: g.Arch, Epochs: cfg.Epochs, Seed: cfg.Seed, Optimizer: cfg.Optimizer,
				EpochsDone: epoch + 1, Steps: step, BestEpoch: res.BestEpoch, BestVal: res.BestVal,
				HasBest: best != nil, History: res.History}
			if err := saveState(cfg.StatePath, g, best, opt, m); err != nil {
				return res, err
			}
		}
		if cfg.crashAfter > 0 && epoch+1 == cfg.crashAfter {
			return res, errCrashed
		}
	}
	restore(params, best)
	removeState(cfg.StatePath)
	res.Steps = step
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

func snapshot(params []nn.NamedParam, into []*tensor.Tensor) []*tensor.Tensor {
	if into == nil {
		into = make([]*tensor.Tensor, len(params))
		for i, p := range params {
			into[i] = p.Value.Clone()
		}
		return into
	}
	for i, p := range params {
		copy(into[i].Data, p.Value.Data)
	}
	return into
}

func restore(params []nn.NamedParam, from []*tensor.Tensor) {
	if from == nil {
		return
	}
	for i, p := range params {
		copy(p.Value.Data, from[i].Data)
	}
}

// Evaluate returns the mean loss and the accuracy of g on d in eval mode.
func Evaluate(g *nn.Graph, d *data.Dataset, batch int) (loss, acc float64) {
	if d == nil || d.N == 0 {
		return math.NaN(), math.NaN()
	}
	ctx := &nn.Context{Train: false}
	x := &tensor.Tensor{}
	idx := make([]int, 0, batch)
	var lossSum float64
	correct := 0
	for i0 := 0; i0 < d.N; i0 += batch {
		idx = idx[:0]
		for i := i0; i < min(i0+batch, d.N); i++ {
			idx = append(idx, i)
		}
		data.Normalize(d, idx, x)
		logits := g.Forward(ctx, x)
		l, c := nn.SoftmaxCrossEntropy(logits, d.Labels[i0:i0+len(idx)], nil)
		lossSum += l * float64(len(idx))
		correct += c
	}
	return lossSum / float64(d.N), float64(correct) / float64(d.N)
}

// Stepper performs optimisation steps: forward, loss, backward, guards,
// update. It owns the buffers a step needs, so steps allocate nothing.
type Stepper struct {
	Graph       *nn.Graph
	Opt         nn.Optimizer
	Ctx         *nn.Context
	ClipNorm    float64
	MaxGradNorm float64

	dlogits tensor.Tensor
}

// Step trains on one batch with learning rate lr and returns the batch's
// mean loss and number of correct predictions. A non-finite loss or
// gradient, or a gradient norm above MaxGradNorm, is an error and leaves the
// weights untouched.
func (s *Stepper) Step(x *tensor.Tensor, y []int32, lr float64) (loss float64, correct int, err error) {
	if s.Ctx == nil {
		s.Ctx = &nn.Context{Train: true, Rand: rand.New(rand.NewPCG(0, 0xd1))}
	}
	g := s.Graph
	logits := g.Forward(s.Ctx, x)
	s.dlogits.Resize(logits.Shape...)
	loss, correct = nn.SoftmaxCrossEntropy(logits, y, &s.dlogits)
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return loss, correct, fmt.Errorf("loss is %g", loss)
	}
	g.ZeroGrad()
	g.Backward(s.Ctx, &s.dlogits, false)
	params := g.Params()
	norm, bad := nn.GradNorm(params)
	if bad != "" {
		return loss, correct, fmt.Errorf("non-finite gradient in %s", bad)
	}
	if s.MaxGradNorm > 0 && norm > s.MaxGradNorm {
		return loss, correct, fmt.Errorf("gradient norm %.3g exceeds the limit %g", norm, s.MaxGradNorm)
	}
	if s.ClipNorm > 0 {
		nn.ClipGradNorm(params, s.ClipNorm)
	}
	s.Opt.Step(params, lr)
	return loss, correct, nil
}
