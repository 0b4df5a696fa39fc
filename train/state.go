package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/evoprune/evoprune/nn"
	"github.com/evoprune/evoprune/safetensors"
	"github.com/evoprune/evoprune/tensor"
)

// The training state file lets a killed run continue where it stopped: it
// holds the current weights, the best weights so far, the optimiser's
// buffers and the history, and is rewritten atomically after every epoch.
// The data order and augmentation of an epoch depend only on (seed, epoch),
// so a resumed run computes exactly what an uninterrupted one would.

const stateMetaKey = "evoprune.train_state"

type stateMeta struct {
	Arch       string       `json:"arch"`
	Epochs     int          `json:"epochs"`
	Seed       uint64       `json:"seed"`
	Optimizer  string       `json:"optimizer"`
	EpochsDone int          `json:"epochs_done"`
	Steps      int          `json:"steps"`
	BestEpoch  int          `json:"best_epoch"`
	BestVal    float64      `json:"best_val"`
	HasBest    bool         `json:"has_best"`
	History    []EpochStats `json:"history"`
}

func saveState(path string, g *nn.Graph, best []*tensor.Tensor, opt nn.Optimizer, m stateMeta) error {
	mj, err := json.Marshal(m)
	if err != nil {
		return err
	}
	f := &safetensors.File{Metadata: map[string]string{stateMetaKey: string(mj)}}
	params := g.Params()
	for i, p := range params {
		f.Tensors = append(f.Tensors, safetensors.Tensor{Name: "model." + p.Name, Shape: p.Value.Shape, Data: p.Value.Data})
		if best != nil {
			f.Tensors = append(f.Tensors, safetensors.Tensor{Name: "best." + p.Name, Shape: p.Value.Shape, Data: best[i].Data})
		}
	}
	if so, ok := opt.(nn.Stateful); ok {
		for k, v := range so.State(params) {
			f.Tensors = append(f.Tensors, safetensors.Tensor{Name: "opt." + k, Shape: []int{len(v)}, Data: v})
		}
	}
	return safetensors.Write(path, f)
}

// loadState restores a state file into g, the optimiser and the best
// snapshot. It returns ok=false when there is no state file.
func loadState(path string, g *nn.Graph, opt nn.Optimizer, cfg *Config) (m stateMeta, best []*tensor.Tensor, ok bool, err error) {
	f, err := safetensors.Read(path)
	if errors.Is(err, fs.ErrNotExist) {
		return m, nil, false, nil
	}
	if err != nil {
		return m, nil, false, fmt.Errorf("resume: %w", err)
	}
	if err := json.Unmarshal([]byte(f.Metadata[stateMetaKey]), &m); err != nil {
		return m, nil, false, fmt.Errorf("resume: %s is not a training state file: %v", path, err)
	}
	if m.Arch != g.Arch || m.Epochs != cfg.Epochs || m.Seed != cfg.Seed || m.Optimizer != cfg.Optimizer {
		return m, nil, false, fmt.Errorf("resume: %s was written by a different run (%s, %d epochs, seed %d, %s); this run is %s, %d epochs, seed %d, %s",
			path, m.Arch, m.Epochs, m.Seed, m.Optimizer, g.Arch, cfg.Epochs, cfg.Seed, cfg.Optimizer)
	}
	params := g.Params()
	opts := map[string][]float32{}
	for _, t := range f.Tensors {
		if k, found := strings.CutPrefix(t.Name, "opt."); found {
			opts[k] = t.Data
		}
	}
	for i, p := range params {
		t := f.Get("model." + p.Name)
		if t == nil || !tensor.SameShape(t.Shape, p.Value.Shape) {
			return m, nil, false, fmt.Errorf("resume: %s lacks model.%s of shape %s", path, p.Name, tensor.ShapeString(p.Value.Shape))
		}
		copy(p.Value.Data, t.Data)
		if m.HasBest {
			bt := f.Get("best." + p.Name)
			if bt == nil || len(bt.Data) != p.Value.Len() {
				return m, nil, false, fmt.Errorf("resume: %s lacks best.%s", path, p.Name)
			}
			if best == nil {
				best = make([]*tensor.Tensor, len(params))
			}
			best[i] = tensor.FromData(bt.Data, p.Value.Shape...)
		}
	}
	if so, isStateful := opt.(nn.Stateful); isStateful {
		if err := so.LoadState(params, opts); err != nil {
			return m, nil, false, fmt.Errorf("resume: %w", err)
		}
	}
	return m, best, true, nil
}

// removeState deletes a finished run's state file.
func removeState(path string) {
	if path != "" {
		os.Remove(path)
	}
}
