package models

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/evoprune/evoprune/nn"
	"github.com/evoprune/evoprune/safetensors"
	"github.com/evoprune/evoprune/tensor"
)

// Checkpoints are safetensors files: one F32 tensor per parameter and
// buffer, named as in nn.Graph.Params (e.g. "layer1.0.conv1.weight"), and
// in the header's __metadata__ the keys below. Because the graph's structure
// travels with the weights, a pruned model (whose widths no builder knows)
// loads like any other.
const (
	MetaFormat = "evoprune.format" // "1"
	MetaArch   = "evoprune.arch"   // architecture name, e.g. "resnet20"
	MetaSpec   = "evoprune.spec"   // JSON nn.Spec
	MetaInfo   = "evoprune.info"   // JSON Info
	formatV1   = "1"
)

// Info is what a checkpoint records about how its weights came to be.
type Info struct {
	Dataset   string             `json:"dataset,omitempty"`
	Classes   int                `json:"classes,omitempty"`
	Epochs    int                `json:"epochs,omitempty"`
	Seed      uint64             `json:"seed"`
	Metrics   map[string]float64 `json:"metrics,omitempty"` // e.g. val_acc, test_acc
	Command   string             `json:"command,omitempty"`
	Version   string             `json:"version,omitempty"`
	CreatedAt string             `json:"created_at,omitempty"`
	Extra     map[string]string  `json:"extra,omitempty"`
}

// Save writes the graph's parameters and structure to path atomically.
func Save(path string, g *nn.Graph, info Info) error {
	spec, err := json.Marshal(g.Spec())
	if err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	ij, err := json.Marshal(info)
	if err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	f := &safetensors.File{Metadata: map[string]string{
		MetaFormat: formatV1, MetaArch: g.Arch, MetaSpec: string(spec), MetaInfo: string(ij)}}
	for _, p := range g.Params() {
		f.Tensors = append(f.Tensors, safetensors.Tensor{Name: p.Name, Shape: p.Value.Shape, Data: p.Value.Data})
	}
	return safetensors.Write(path, f)
}

// Load rebuilds the model stored at path.
func Load(path string) (*nn.Graph, Info, error) {
	f, err := safetensors.Read(path)
	if err != nil {
		return nil, Info{}, fmt.Errorf("load model: %w", err)
	}
	if f.Metadata[MetaFormat] != formatV1 {
		return nil, Info{}, fmt.Errorf("load model %s: not an evoprune checkpoint (metadata %s is %q, want %q)", path, MetaFormat, f.Metadata[MetaFormat], formatV1)
	}
	var spec nn.Spec
	if err := json.Unmarshal([]byte(f.Metadata[MetaSpec]), &spec); err != nil {
		return nil, Info{}, fmt.Errorf("load model %s: bad %s: %w", path, MetaSpec, err)
	}
	g, err := spec.Build()
	if err != nil {
		return nil, Info{}, fmt.Errorf("load model %s: %w", path, err)
	}
	var info Info
	if s := f.Metadata[MetaInfo]; s != "" {
		if err := json.Unmarshal([]byte(s), &info); err != nil {
			return nil, Info{}, fmt.Errorf("load model %s: bad %s: %w", path, MetaInfo, err)
		}
	}
	if err := copyWeights(g, f); err != nil {
		return nil, Info{}, fmt.Errorf("load model %s: %w", path, err)
	}
	return g, info, nil
}

// LoadInto copies the weights stored at path into g, which must have the
// same architecture and shapes; anything else is an error that says what
// differs.
func LoadInto(g *nn.Graph, path string) (Info, error) {
	stored, info, err := Load(path)
	if err != nil {
		return Info{}, err
	}
	if stored.Arch != g.Arch {
		return Info{}, fmt.Errorf("load %s: checkpoint holds a %s, not a %s", path, stored.Arch, g.Arch)
	}
	a, b := stored.Params(), g.Params()
	if len(a) != len(b) {
		return Info{}, fmt.Errorf("load %s: checkpoint has %d tensors, model has %d", path, len(a), len(b))
	}
	for i := range a {
		if a[i].Name != b[i].Name || !tensor.SameShape(a[i].Value.Shape, b[i].Value.Shape) {
			return Info{}, fmt.Errorf("load %s: checkpoint tensor %s %s does not fit model tensor %s %s (pruned or different width?)",
				path, a[i].Name, tensor.ShapeString(a[i].Value.Shape), b[i].Name, tensor.ShapeString(b[i].Value.Shape))
		}
		copy(b[i].Value.Data, a[i].Value.Data)
	}
	return info, nil
}

func copyWeights(g *nn.Graph, f *safetensors.File) error {
	want := map[string]bool{}
	var missing []string
	for _, p := range g.Params() {
		want[p.Name] = true
		t := f.Get(p.Name)
		if t == nil {
			missing = append(missing, p.Name)
			continue
		}
		if !tensor.SameShape(t.Shape, p.Value.Shape) {
			return fmt.Errorf("tensor %s has shape %s, the model needs %s", p.Name, tensor.ShapeString(t.Shape), tensor.ShapeString(p.Value.Shape))
		}
		copy(p.Value.Data, t.Data)
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing tensors: %s", strings.Join(missing, ", "))
	}
	for _, t := range f.Tensors {
		if !want[t.Name] {
			return fmt.Errorf("unexpected tensor %s (not a parameter of the model)", t.Name)
		}
	}
	return nil
}
