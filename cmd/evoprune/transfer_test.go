package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTransferFromRun(t *testing.T) {
	dir := t.TempDir()
	runDir := filepath.Join(dir, "evolve-x")
	os.MkdirAll(runDir, 0o755)
	os.WriteFile(filepath.Join(runDir, "summary.json"), []byte(`{"hall_of_fame":[{"rank":1,"prefix":"div(abs(sub(g_mean(P), g_mean(Q))), rho1(add(std(P), std(Q))))","fitness":0.9}]}`), 0o644)
	out := filepath.Join(dir, "t.safetensors")
	stdout, err := run(t, "transfer", "--metric", runDir+"/best", "--model", lenet, "--data-dir", "../../data", "--schedule", "macs:0.5",
		"--sample", "40", "--val-size", "1000", "--finetune-steps", "2", "--out", out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "report "+filepath.Join(dir, "t.json")) || !strings.Contains(stdout, "MACs kept") {
		t.Errorf("output:\n%s", stdout)
	}
	b, err := os.ReadFile(filepath.Join(dir, "t.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Metric, Expr, Kind string
		Report             struct {
			Accounting struct {
				MACsKept float64 `json:"macs_kept"`
			} `json:"accounting"`
		} `json:"report"`
	}
	if err := json.Unmarshal(b, &rep); err != nil || rep.Kind != "evolved" || !strings.HasPrefix(rep.Expr, "div(abs(") || rep.Report.Accounting.MACsKept > 0.5 {
		t.Errorf("report %s (%v)", b, err)
	}
	info, err := run(t, "info", out, "--json")
	if err != nil || !strings.Contains(info, "div(abs(") {
		t.Errorf("pruned model's metric: %v\n%s", err, info)
	}
	_, err = run(t, "transfer", "--metric", runDir+"/top2", "--model", lenet, "--out", out)
	wantErr(t, err, "1 entries, 2 asked for")
	_, err = run(t, "transfer", "--metric", "nosuch", "--model", lenet, "--out", out)
	wantErr(t, err, `unknown metric "nosuch"`)
}
