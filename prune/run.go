package prune

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/evoprune/evoprune/data"
	"github.com/evoprune/evoprune/nn"
	"github.com/evoprune/evoprune/train"
)

// Mode says whether the groups of one step are scored from one pass over
// the sample or one after another.
type Mode string

const (
	// ModeAuto is ModeSequential for VGG-style graphs (the reference scores
	// VGG-16's layers one after another) and ModeOnePass otherwise.
	ModeAuto Mode = "auto"
	// ModeOnePass scores every group of a step from the same model.
	ModeOnePass Mode = "one-pass"
	// ModeSequential prunes group after group, each scored on the model
	// with the groups before it already pruned.
	ModeSequential Mode = "sequential"
)

// Config is one pruning run: what scores the channels, how many go, what
// they are scored on and how the model recovers.
type Config struct {
	Criterion Criterion
	Schedule  *Schedule
	Sample    Sample
	Options   Options
	Mode      Mode
	// FineTune, when it has Epochs or MaxSteps, trains the model after
	// every pruning step, selecting on the validation set.
	FineTune train.Config
	// EvalBatch is the batch size for accuracy and scoring (default 256).
	EvalBatch int
	// Seed drives criteria that draw (random).
	Seed uint64
	// Progress receives one line per step and per fine-tuning epoch.
	Progress io.Writer

	// RecalibrateBN, when positive, re-estimates every BatchNorm's running
	// statistics on that many training images right after each pruning
	// step, before accuracy is measured (a cheap screen of what the pruned
	// network can do before fine-tuning).
	RecalibrateBN int
	// ScreenBelow, when positive, stops the run after the first step if the
	// validation accuracy right after pruning is below it: the run returns
	// with Report.Screened set and no fine-tuning done.
	ScreenBelow float64
	// Cache, when set, shares fine-tuned models between runs that make the
	// same decisions. CacheKey must then identify everything besides the
	// decisions that determines the result (model, data, schedule, budgets,
	// seeds).
	Cache    StepCache
	CacheKey string
}

// StepCache holds the models that runs reached after pruning and
// fine-tuning, keyed by the chain of decisions that led there. Two pruning
// functions that remove the same channels at a step continue from the same
// fine-tuned model, so the second skips the fine-tuning. Implementations
// must be safe for concurrent use; Lookup returns a model the caller owns.
type StepCache interface {
	Lookup(key string) (*nn.Graph, *StepReport, bool)
	Store(key string, g *nn.Graph, sr *StepReport)
}

// DecisionKey extends a chain key with one step's decisions.
func DecisionKey(prev string, step int, removed map[string][]int) string {
	names := make([]string, 0, len(removed))
	for n := range removed {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	fmt.Fprintf(h, "%s|%d", prev, step)
	for _, n := range names {
		fmt.Fprintf(h, "|%s:%v", n, removed[n])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// GroupWidth is a group's channels before and after one step.
type GroupWidth struct {
	Name   string `json:"name"`
	Before int    `json:"before"`
	After  int    `json:"after"`
}

// StepReport is one pruning step.
type StepReport struct {
	Step         int          `json:"step"`
	Widths       []GroupWidth `json:"widths"`
	Params       int64        `json:"params"`
	MACs         int64        `json:"macs"`
	ValAccPruned float64      `json:"val_acc_pruned"`
	ValAccTuned  float64      `json:"val_acc_finetuned,omitempty"`
	ScoreSeconds float64      `json:"score_seconds"`
	// Cached is set when the step's fine-tuned model came from the cache.
	Cached        bool    `json:"cached,omitempty"`
	TuneSeconds   float64 `json:"finetune_seconds,omitempty"`
	FineTuneSteps int     `json:"finetune_steps,omitempty"`
	// Skipped lists the groups the criterion could not score (left
	// unpruned at this step), with the reason.
	Skipped map[string]string `json:"skipped,omitempty"`
	// Removed lists, per group, the channels removed at this step as
	// indices into the group's channels before it: what the criterion
	// decided (evolution caches fitness on it).
	Removed map[string][]int `json:"removed"`
}

// Report is a whole run.
type Report struct {
	Metric     string       `json:"metric"`
	Schedule   string       `json:"schedule"`
	ValAccBase float64      `json:"val_acc_base"`
	Steps      []StepReport `json:"steps"`
	Comparison Comparison   `json:"accounting"`
	Seconds    float64      `json:"seconds"`
	// Screened is set when ScreenBelow stopped the run after its first step.
	Screened bool `json:"screened,omitempty"`
	// Key is the decision chain key of the final model (with a cache).
	Key string `json:"key,omitempty"`
}

// ScoreError is a criterion that failed on a group (for example with a
// non-finite score); it names the group and criterion.
type ScoreError struct {
	Metric, Group string
	Err           error
}

func (e *ScoreError) Error() string {
	return fmt.Sprintf("metric %s on layer %s: %v", e.Metric, e.Group, e.Err)
}

func (e *ScoreError) Unwrap() error { return e.Err }

func (c *Config) mode(g *nn.Graph) Mode {
	if c.Mode == "" || c.Mode == ModeAuto {
		if strings.HasPrefix(g.Arch, "vgg") {
			return ModeSequential
		}
		return ModeOnePass
	}
	return c.Mode
}

func (c *Config) check() error {
	if c.Criterion == nil {
		return errors.New("prune: no criterion")
	}
	if c.Schedule == nil {
		return errors.New("prune: no schedule")
	}
	switch c.Mode {
	case "", ModeAuto, ModeOnePass, ModeSequential:
	default:
		return fmt.Errorf("prune: unknown mode %q (auto, one-pass, sequential)", c.Mode)
	}
	if c.EvalBatch <= 0 {
		c.EvalBatch = 256
	}
	switch c.Options.Reduce {
	case "", "mean", "sum":
	default:
		return fmt.Errorf("prune: unknown reduction %q (mean, sum)", c.Options.Reduce)
	}
	return nil
}

// Run prunes g step by step as the schedule says and returns the pruned
// model (g itself is left as it was). trainSet supplies the scoring sample
// and fine-tuning data; valSet measures accuracy (never the test set).
func Run(g *nn.Graph, trainSet, valSet *data.Dataset, cfg Config) (*nn.Graph, *Report, error) {
	start := time.Now()
	if err := cfg.check(); err != nil {
		return nil, nil, err
	}
	rep := &Report{Metric: cfg.Criterion.Name(), Schedule: cfg.Schedule.String()}
	if valSet != nil {
		_, rep.ValAccBase = train.Evaluate(g, valSet, cfg.EvalBatch)
	}
	initial := map[string]int{}
	groups, _ := Groups(g, cfg.Options)
	if len(groups) == 0 {
		return nil, nil, fmt.Errorf("prune: %s has no prunable channel groups", g.Arch)
	}
	for _, grp := range groups {
		initial[grp.Name] = grp.Channels
	}
	idx, err := cfg.Sample.Indices(trainSet)
	if err != nil {
		return nil, nil, err
	}
	base, cur := g, g
	key := cfg.CacheKey
	for step := 0; step < cfg.Schedule.Steps(); step++ {
		t0 := time.Now()
		next, sr, err := pruneStep(cur, trainSet, idx, step, initial, base, &cfg)
		if err != nil {
			return nil, nil, err
		}
		sr.ScoreSeconds = time.Since(t0).Seconds()
		key = DecisionKey(key, step+1, sr.Removed)
		if cfg.Cache != nil {
			if h, cached, ok := cfg.Cache.Lookup(key); ok {
				sr.ValAccPruned, sr.ValAccTuned = cached.ValAccPruned, cached.ValAccTuned
				sr.FineTuneSteps, sr.TuneSeconds, sr.Cached = cached.FineTuneSteps, cached.TuneSeconds, true
				sr.Params, sr.MACs = h.NumParams(), h.MACs()
				logf(cfg.Progress, "step %d/%d: same decisions as an earlier run; its fine-tuned model is reused", step+1, cfg.Schedule.Steps())
				cur = h
				rep.Steps = append(rep.Steps, *sr)
				continue
			}
		}
		cur = next
		sr.Params, sr.MACs = cur.NumParams(), cur.MACs()
		if cfg.RecalibrateBN > 0 {
			if err := RecalibrateBN(cur, trainSet, cfg.RecalibrateBN, cfg.Sample.Seed, cfg.EvalBatch); err != nil {
				return nil, nil, err
			}
		}
		if valSet != nil {
			_, sr.ValAccPruned = train.Evaluate(cur, valSet, cfg.EvalBatch)
		}
		logf(cfg.Progress, "step %d/%d: params %d, MACs %d (%.1f %% of the original), val acc %.2f %% after pruning",
			step+1, cfg.Schedule.Steps(), sr.Params, sr.MACs, 100*float64(sr.MACs)/float64(base.MACs()), 100*sr.ValAccPruned)
		if step == 0 && cfg.ScreenBelow > 0 && sr.ValAccPruned < cfg.ScreenBelow {
			logf(cfg.Progress, "screened out: %.2f %% right after pruning is below %.2f %%", 100*sr.ValAccPruned, 100*cfg.ScreenBelow)
			rep.Steps = append(rep.Steps, *sr)
			rep.Screened = true
			break
		}
		if cfg.FineTune.Epochs > 0 || cfg.FineTune.MaxSteps > 0 {
			t1 := time.Now()
			ft := cfg.FineTune
			ft.Progress = cfg.Progress
			res, err := train.Fit(cur, trainSet, valSet, ft)
			if err != nil {
				return nil, nil, fmt.Errorf("fine-tune after step %d: %w", step+1, err)
			}
			sr.TuneSeconds = time.Since(t1).Seconds()
			sr.FineTuneSteps = res.Steps
			if valSet != nil {
				_, sr.ValAccTuned = train.Evaluate(cur, valSet, cfg.EvalBatch)
			}
			logf(cfg.Progress, "step %d/%d: val acc %.2f %% after fine-tuning", step+1, cfg.Schedule.Steps(), 100*sr.ValAccTuned)
		}
		if cfg.Cache != nil {
			cfg.Cache.Store(key, cur, sr)
		}
		rep.Steps = append(rep.Steps, *sr)
	}
	rep.Key = key
	rep.Comparison = Compare(base, cur)
	rep.Seconds = time.Since(start).Seconds()
	return cur, rep, nil
}

func logf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format+"\n", args...)
	}
}

// pruneStep scores and removes one step's channels.
func pruneStep(g *nn.Graph, d *data.Dataset, idx []int, step int, initial map[string]int, base *nn.Graph, cfg *Config) (*nn.Graph, *StepReport, error) {
	groups, _ := Groups(g, cfg.Options)
	sr := &StepReport{Step: step + 1, Removed: map[string][]int{}}
	widths := map[string]int{}
	for _, grp := range groups {
		widths[grp.Name] = grp.Channels
	}
	var out *nn.Graph
	var err error
	if cfg.Schedule.Global() {
		out, err = globalStep(g, groups, d, idx, step, base, cfg, sr)
	} else {
		var counts map[string]int
		if counts, err = cfg.Schedule.Counts(step, initial, groups); err != nil {
			return nil, nil, err
		}
		if cfg.mode(g) == ModeSequential {
			out, err = sequentialStep(g, groups, counts, d, idx, cfg, sr)
		} else {
			out, err = onePassStep(g, groups, counts, d, idx, cfg, sr)
		}
	}
	if err != nil {
		return nil, nil, err
	}
	after, _ := Groups(out, cfg.Options)
	for _, grp := range groups {
		w := GroupWidth{Name: grp.Name, Before: widths[grp.Name], After: widths[grp.Name]}
		if a := Find(after, grp.Name); a != nil {
			w.After = a.Channels
		}
		sr.Widths = append(sr.Widths, w)
	}
	return out, sr, nil
}

// scoreGroups builds the contexts of groups on g and scores them. A Stream
// group's members are scored one by one and their scores reduced.
//
// A criterion that cannot score a group at all (ErrUnscorable: bn_scale on
// a layer without BatchNorm) leaves its scores nil and says why in skipped;
// if it can score none of the groups, that is an error.
func scoreGroups(g *nn.Graph, groups []*Group, d *data.Dataset, idx []int, cfg *Config) (scores [][]float64, skipped map[string]string, err error) {
	needs := cfg.Criterion.Needs()
	var ctxs []*Context
	owner := []int{} // group index of each context
	for i, grp := range groups {
		units := []*Group{grp}
		if grp.Kind == Stream {
			units = grp.Members
		}
		for _, u := range units {
			c := newContext(u, cfg.Seed)
			c.Classes = d.Classes
			ctxs = append(ctxs, c)
			owner = append(owner, i)
		}
	}
	if needs.Features {
		if err := collect(g, d, idx, cfg.EvalBatch, ctxs, needs.Grads); err != nil {
			return nil, nil, err
		}
	}
	scores = make([][]float64, len(groups))
	skipped = map[string]string{}
	count := make([]int, len(groups))
	for j, c := range ctxs {
		i := owner[j]
		if _, skip := skipped[groups[i].Name]; skip {
			continue
		}
		s, err := cfg.Criterion.Score(c)
		if errors.Is(err, ErrUnscorable) {
			skipped[groups[i].Name] = err.Error()
			scores[i] = nil
			continue
		}
		if err == nil && len(s) != c.C {
			err = fmt.Errorf("%d scores for %d channels", len(s), c.C)
		}
		if err == nil {
			for k, v := range s {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					err = fmt.Errorf("channel %d: score %v is not finite", k, v)
					break
				}
			}
		}
		if err != nil {
			name := groups[i].Name
			if groups[i].Kind == Stream {
				name += " (member " + c.Group.Layer.Name + ")"
			}
			return nil, nil, &ScoreError{Metric: cfg.Criterion.Name(), Group: name, Err: err}
		}
		if scores[i] == nil {
			scores[i] = make([]float64, len(s))
		}
		for k, v := range s {
			scores[i][k] += v
		}
		count[i]++
	}
	for i, grp := range groups {
		if grp.Kind == Stream && cfg.Options.Reduce != "sum" && scores[i] != nil {
			for k := range scores[i] {
				scores[i][k] /= float64(count[i])
			}
		}
	}
	for _, grp := range groups {
		if why, ok := skipped[grp.Name]; ok {
			logf(cfg.Progress, "%s is left unpruned: %s", grp.Name, why)
		}
	}
	return scores, skipped, nil
}

// noneScored is the error of a step in which the criterion could score
// none of the groups it had to prune.
func noneScored(cfg *Config, sr *StepReport, groups []string) error {
	if len(groups) == 0 || len(sr.Skipped) < len(groups) {
		return nil
	}
	return &ScoreError{Metric: cfg.Criterion.Name(), Group: groups[0],
		Err: fmt.Errorf("it can score none of the %d groups this step prunes: %s", len(groups), sr.Skipped[groups[0]])}
}

// lowest returns the indices of the n lowest scores, ascending by index;
// ties go to the lower channel index.
func lowest(scores []float64, n int) []int {
	order := make([]int, len(scores))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return scores[order[a]] < scores[order[b]] })
	rm := append([]int(nil), order[:n]...)
	sort.Ints(rm)
	return rm
}

func onePassStep(g *nn.Graph, groups []*Group, counts map[string]int, d *data.Dataset, idx []int, cfg *Config, sr *StepReport) (*nn.Graph, error) {
	var active []*Group
	for _, grp := range groups {
		if counts[grp.Name] > 0 {
			active = append(active, grp)
		}
	}
	if len(active) == 0 {
		return g, nil
	}
	scores, skipped, err := scoreGroups(g, active, d, idx, cfg)
	if err != nil {
		return nil, err
	}
	noteSkipped(sr, skipped)
	if err := noneScored(cfg, sr, groupNames(active)); err != nil {
		return nil, err
	}
	remove := map[string][]int{}
	for i, grp := range active {
		if scores[i] == nil {
			continue
		}
		remove[grp.Name] = lowest(scores[i], counts[grp.Name])
		sr.Removed[grp.Name] = remove[grp.Name]
	}
	plan, err := Removal(groups, remove)
	if err != nil {
		return nil, err
	}
	return Apply(g, plan, cfg.Options)
}

func sequentialStep(g *nn.Graph, groups []*Group, counts map[string]int, d *data.Dataset, idx []int, cfg *Config, sr *StepReport) (*nn.Graph, error) {
	for _, name := range groupNames(groups) {
		if counts[name] == 0 {
			continue
		}
		cur, _ := Groups(g, cfg.Options)
		grp := Find(cur, name)
		scores, skipped, err := scoreGroups(g, []*Group{grp}, d, idx, cfg)
		if err != nil {
			return nil, err
		}
		noteSkipped(sr, skipped)
		if scores[0] == nil {
			continue
		}
		rm := lowest(scores[0], counts[name])
		sr.Removed[name] = rm
		plan, err := Removal(cur, map[string][]int{name: rm})
		if err != nil {
			return nil, err
		}
		if g, err = Apply(g, plan, cfg.Options); err != nil {
			return nil, err
		}
	}
	var pruned []string
	for _, name := range groupNames(groups) {
		if counts[name] > 0 {
			pruned = append(pruned, name)
		}
	}
	if err := noneScored(cfg, sr, pruned); err != nil {
		return nil, err
	}
	return g, nil
}

func groupNames(groups []*Group) []string {
	var ns []string
	for _, grp := range groups {
		ns = append(ns, grp.Name)
	}
	return ns
}

// globalStep ranks all channels together on scores normalised per group
// (divided by the group's mean absolute score, Torch-Pruning's "mean"
// normaliser, so layers with large raw scores do not dominate) and removes
// the lowest until the model is within the step's MACs or params target.
func globalStep(g *nn.Graph, groups []*Group, d *data.Dataset, idx []int, step int, base *nn.Graph, cfg *Config, sr *StepReport) (*nn.Graph, error) {
	scores, skipped, err := scoreGroups(g, groups, d, idx, cfg)
	if err != nil {
		return nil, err
	}
	noteSkipped(sr, skipped)
	if err := noneScored(cfg, sr, groupNames(groups)); err != nil {
		return nil, err
	}
	type cand struct {
		group, ch int
		s         float64
	}
	var cands []cand
	for i, s := range scores {
		var mean float64
		for _, v := range s {
			mean += math.Abs(v)
		}
		mean /= float64(len(s))
		if mean == 0 {
			mean = 1
		}
		for k, v := range s {
			cands = append(cands, cand{i, k, v / mean})
		}
	}
	sort.SliceStable(cands, func(a, b int) bool { return cands[a].s < cands[b].s })
	measure := func(h *nn.Graph) int64 {
		if cfg.Schedule.Kind == "params" {
			return h.NumParams()
		}
		return h.MACs()
	}
	target := cfg.Schedule.Target(step) * float64(measure(base))
	floor := make([]int, len(groups))
	for i, grp := range groups {
		floor[i] = max(1, int(math.Ceil(cfg.Schedule.MinKeep*float64(grp.Channels))))
	}
	// removal of the first m candidates that the floors allow
	removal := func(m int) map[string][]int {
		left := make([]int, len(groups))
		for i, grp := range groups {
			left[i] = grp.Channels
		}
		rm := map[string][]int{}
		for _, c := range cands[:m] {
			if left[c.group] > floor[c.group] {
				left[c.group]--
				name := groups[c.group].Name
				rm[name] = append(rm[name], c.ch)
			}
		}
		return rm
	}
	size := func(m int) (int64, error) {
		plan, err := Removal(groups, removal(m))
		if err != nil {
			return 0, err
		}
		spec, _, err := planSpec(g, plan, cfg.Options)
		if err != nil {
			return 0, err
		}
		h, err := spec.Build()
		if err != nil {
			return 0, err
		}
		return measure(h), nil
	}
	// The smallest m that meets the target (size falls as m grows).
	lo, hi := 0, len(cands)
	if s, err := size(hi); err != nil {
		return nil, err
	} else if float64(s) > target {
		return nil, fmt.Errorf("schedule %s: step %d cannot reach %.1f %% of the original %s with every layer keeping %.0f %% of its channels",
			cfg.Schedule, step+1, 100*cfg.Schedule.Target(step), cfg.Schedule.Kind, 100*cfg.Schedule.MinKeep)
	}
	for lo < hi {
		mid := (lo + hi) / 2
		s, err := size(mid)
		if err != nil {
			return nil, err
		}
		if float64(s) <= target {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	rm := removal(lo)
	for name, chs := range rm {
		sort.Ints(chs)
		sr.Removed[name] = chs
	}
	plan, err := Removal(groups, rm)
	if err != nil {
		return nil, err
	}
	return Apply(g, plan, cfg.Options)
}

// ErrUnscorable marks a criterion that cannot score a group at all (for
// example bn_scale where no BatchNorm follows the layer): the group is left
// unpruned and the step's report says so.
var ErrUnscorable = errors.New("cannot score this group")

func noteSkipped(sr *StepReport, skipped map[string]string) {
	for name, why := range skipped {
		if sr.Skipped == nil {
			sr.Skipped = map[string]string{}
		}
		sr.Skipped[name] = why
	}
}
