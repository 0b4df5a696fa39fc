package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBenchRunCommand(t *testing.T) {
	out := t.TempDir()
	args := []string{"bench", "run", "--tasks", "lenet5-smoke", "--metrics", "l1", "--metrics", "div(abs(sub(g_mean(P), g_mean(Q))), rho1(add(std(P), std(Q))))",
		"--seeds", "1", "--finetune-steps", "2", "--val-images", "200", "--sample", "40", "--out", out}
	// Stop after one evaluation, then finish: the second run does only the rest.
	if _, err := run(t, append(args, "--stop-after", "1")...); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(out, "leaderboard.json")); err == nil {
		t.Fatal("leaderboard written by a stopped run")
	}
	stdout, err := run(t, append(args, "--json")...)
	if err != nil {
		t.Fatal(err)
	}
	var lb struct {
		Rows []struct {
			Metric string `json:"metric"`
			OK     int    `json:"ok"`
		} `json:"rows"`
	}
	if err := json.Unmarshal([]byte(stdout), &lb); err != nil || len(lb.Rows) != 2 || lb.Rows[0].OK != 1 || lb.Rows[1].OK != 1 {
		t.Fatalf("leaderboard %s (%v)", stdout, err)
	}
	b, _ := os.ReadFile(filepath.Join(out, "results.jsonl"))
	if n := strings.Count(strings.TrimSpace(string(b)), "\n\n") + 1; n != 2 {
		t.Errorf("%d records, want 2:\n%s", n, b)
	}
	md, err := os.ReadFile(filepath.Join(out, "leaderboard.md"))
	if err != nil || !strings.Contains(string(md), "| l1 ") {
		t.Errorf("leaderboard.md: %v\n%s", err, md)
	}
}

func TestBenchRunBadInput(t *testing.T) {
	out := t.TempDir()
	_, err := run(t, "bench", "run", "--tasks", "lenet5-smoke", "--metrics", "l1;nosuch", "--out", out)
	wantErr(t, err, `unknown metric "nosuch"`)
	_, err = run(t, "bench", "run", "--tasks", "nosuch", "--metrics", "l1", "--out", out)
	wantErr(t, err, `unknown task "nosuch"`)
	_, err = run(t, "bench", "run", "--tasks", "lenet5-smoke", "--out", out)
	wantErr(t, err, "--metrics is required")
	_, err = run(t, "bench", "run", "--tasks", "lenet5-smoke", "--metrics", "l1", "--seeds", "0", "--out", out)
	wantErr(t, err, "--seeds must be at least 1")
	tasks := filepath.Join(out, "t.json")
	os.WriteFile(tasks, []byte(`{"tasks":[{"name":"x","model":"nothing.safetensors","dataset":"mnist","schedule":"uniform:0.4","train_command":"evoprune train --out nothing.safetensors"}]}`), 0o644)
	_, err = run(t, "bench", "run", "--tasks", tasks, "--metrics", "l1", "--out", out)
	wantErr(t, err, "nothing.safetensors does not exist", "train it with: evoprune train --out nothing.safetensors")
}
