package models

import (
	"testing"
)

// The counts the issue states, which match the published figures.
func TestCounts(t *testing.T) {
	for _, tc := range []struct {
		name   string
		o      Options
		params int64
		macs   int64
	}{
		{"lenet5", Options{}, 431080, 2293000},
		{"vgg16", Options{}, 14986698, 313463808},
		{"resnet20", Options{}, 269722, 40551040},
		{"resnet56", Options{}, 853018, 125485696},
	} {
		g, err := Build(tc.name, tc.o)
		if err != nil {
			t.Fatal(err)
		}
		if g.NumParams() != tc.params || g.MACs() != tc.macs {
			t.Errorf("%s: %d params %d MACs, want %d and %d", tc.name, g.NumParams(), g.MACs(), tc.params, tc.macs)
		}
	}
}

func TestOptions(t *testing.T) {
	g, err := Build("resnet56", Options{Classes: 100})
	if err != nil {
		t.Fatal(err)
	}
	if got := g.Output().Channels(); got != 100 {
		t.Fatalf("resnet56/100 has %d outputs", got)
	}
	g, err = Build("resnet20", Options{Shortcut: "B"})
	if err != nil {
		t.Fatal(err)
	}
	if g.Node("layer2.0.shortcut.0") == nil {
		t.Fatal("option-B shortcut conv missing")
	}
	g, err = Build("vgg16", Options{Width: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if g.Node("conv1").Channels() != 32 || g.Node("fc1").Channels() != 256 {
		t.Fatal("width multiplier not applied")
	}
	for _, bad := range []struct {
		name string
		o    Options
	}{{"nope", Options{}}, {"vgg16", Options{Width: -1}}, {"lenet5", Options{Classes: 1}}, {"resnet20", Options{Shortcut: "C"}}} {
		if _, err := Build(bad.name, bad.o); err == nil {
			t.Errorf("%s %+v accepted", bad.name, bad.o)
		}
	}
}

func TestInitDeterministic(t *testing.T) {
	a, _ := Build("resnet20", Options{Seed: 3})
	b, _ := Build("resnet20", Options{Seed: 3})
	c, _ := Build("resnet20", Options{Seed: 4})
	pa, pb, pc := a.Params(), b.Params(), c.Params()
	same := true
	for i := range pa {
		for j := range pa[i].Value.Data {
			if pa[i].Value.Data[j] != pb[i].Value.Data[j] {
				t.Fatal("same seed, different weights")
			}
			if pa[i].Value.Data[j] != pc[i].Value.Data[j] {
				same = false
			}
		}
	}
	if same {
		t.Fatal("different seeds, same weights")
	}
}
