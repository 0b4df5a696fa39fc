package models

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/evoprune/evoprune/nn"
	"github.com/evoprune/evoprune/tensor"
)

func TestCheckpointRoundTrip(t *testing.T) {
	g, _ := Build("resnet20", Options{Seed: 1})
	// Make the BN buffers non-trivial so their saving is tested too.
	for _, p := range g.Params() {
		if !p.Learnable() {
			for i := range p.Value.Data {
				p.Value.Data[i] = 1 + float32(i%7)*0.1
			}
		}
	}
	path := filepath.Join(t.TempDir(), "r20.safetensors")
	if err := Save(path, g, Info{Dataset: "cifar10", Seed: 1, Metrics: map[string]float64{"val_acc": 0.5}}); err != nil {
		t.Fatal(err)
	}
	h, info, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Dataset != "cifar10" || info.Metrics["val_acc"] != 0.5 || h.Arch != "resnet20" {
		t.Fatalf("info %+v arch %s", info, h.Arch)
	}
	x := tensor.New(2, 3, 32, 32)
	for i := range x.Data {
		x.Data[i] = float32(i%13) * 0.05
	}
	a := g.Forward(&nn.Context{}, x).Clone()
	b := h.Forward(&nn.Context{}, x)
	for i := range a.Data {
		if a.Data[i] != b.Data[i] {
			t.Fatalf("output %d differs after reload", i)
		}
	}
}

func TestLoadIntoWrongArchitecture(t *testing.T) {
	dir := t.TempDir()
	r20, _ := Build("resnet20", Options{})
	path := filepath.Join(dir, "r20.safetensors")
	if err := Save(path, r20, Info{}); err != nil {
		t.Fatal(err)
	}
	lenet, _ := Build("lenet5", Options{})
	if _, err := LoadInto(lenet, path); err == nil || !strings.Contains(err.Error(), "holds a resnet20, not a lenet5") {
		t.Fatalf("got %v", err)
	}
	r20c100, _ := Build("resnet20", Options{Classes: 100})
	if _, err := LoadInto(r20c100, path); err == nil || !strings.Contains(err.Error(), "fc.weight") {
		t.Fatalf("got %v", err)
	}
}
