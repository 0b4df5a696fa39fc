package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

const lenet = "../../pretrained/lenet5-mnist.safetensors"

func TestPruneLeNetPresetAndInfo(t *testing.T) {
	out := filepath.Join(t.TempDir(), "p.safetensors")
	stdout, err := run(t, "prune", "--model", lenet, "--data-dir", "../../data", "--metric", "l1",
		"--schedule", "preset:lenet5", "--sample", "50", "--val-size", "1000", "--out", out, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		TestAcc float64 `json:"test_acc"`
		Report  struct {
			Steps      []json.RawMessage `json:"steps"`
			Accounting struct {
				After struct{ Params, MACs int64 } `json:"after"`
			} `json:"accounting"`
		} `json:"report"`
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("%v in %s", err, stdout)
	}
	if len(res.Report.Steps) != 3 || res.Report.Accounting.After.Params != 9006 || res.Report.Accounting.After.MACs != 167440 {
		t.Fatalf("report %+v", res.Report)
	}
	info, err := run(t, "info", out, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var inf struct {
		Params int64 `json:"params"`
		MACs   int64 `json:"macs"`
	}
	if err := json.Unmarshal([]byte(info), &inf); err != nil || inf.Params != 9006 || inf.MACs != 167440 {
		t.Fatalf("info %s (%v)", info, err)
	}
}

func TestPruneBadInput(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "p.safetensors")
	base := []string{"prune", "--model", lenet, "--data-dir", "../../data", "--sample", "50", "--val-size", "1000", "--out", out}
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"--metric", "nosuch"}, []string{`unknown metric "nosuch"`}},
		{[]string{"--metric", "l1", "--schedule", "uniform:1.2"}, []string{"(0, 1)"}},
		{[]string{"--metric", "l1", "--schedule", "uniform:0"}, []string{"(0, 1)"}},
		{[]string{"--metric", "l1", "--schedule", "preset:vgg16"}, []string{"preset vgg16 prunes layer conv10", "does not have"}},
		{[]string{"--metric", "div(sub(g_mean(P), g_mean(P)), sub(g_mean(Q), g_mean(Q)))"}, []string{"layer conv1", "channel 0"}},
		{[]string{"--metric", "bn_scale"}, []string{"needs a BatchNorm"}},
	}
	for _, c := range cases {
		_, err := run(t, append(append([]string(nil), base...), c.args...)...)
		wantErr(t, err, c.want...)
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Fatalf("%v: a model was written despite the error", c.args)
		}
	}
	_, err := run(t, "prune", "--metric", "l1", "--out", out)
	wantErr(t, err, "--model")
	_, err = run(t, "info", filepath.Join(dir, "missing.safetensors"))
	wantErr(t, err, "missing.safetensors")
}
