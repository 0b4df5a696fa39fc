package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/evoprune/evoprune/dist"
)

func TestWorkerUsage(t *testing.T) {
	_, err := run(t, "worker")
	wantErr(t, err, "--connect")
	_, err = run(t, "worker", "--connect", "nats://127.0.0.1:1", "--workers", "0")
	wantErr(t, err, "--workers")
}

// A worker with the wrong token is refused with an error that says so.
func TestWorkerWrongToken(t *testing.T) {
	s, err := dist.StartServer(dist.ServerConfig{Addr: "127.0.0.1:0", StoreDir: t.TempDir(), Token: "right"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Shutdown(); s.WaitForShutdown() }()
	_, err = run(t, "worker", "--connect", s.ClientURL(), "--token", "wrong", "--cache-dir", t.TempDir())
	wantErr(t, err, "refused these credentials", "--token")
}

func TestEvolveDistFlagErrors(t *testing.T) {
	model, _ := filepath.Abs("../../pretrained/lenet5-mnist.safetensors")
	cfg := filepath.Join(t.TempDir(), "tiny.json")
	os.WriteFile(cfg, []byte(`{"gp": {"population": 4, "generations": 1, "seeds": ["l1"], "elites": 1},
	  "tasks": [{"name": "lenet", "model": "`+model+`", "dataset": "mnist", "schedule": "preset:lenet5", "sample": 40}]}`), 0o644)
	_, err := run(t, "evolve", "--config", cfg, "--out", filepath.Join(t.TempDir(), "a"), "--nats", "nats://127.0.0.1:1", "--serve", "127.0.0.1:0")
	wantErr(t, err, "not both")
	creds := filepath.Join(t.TempDir(), "x.creds")
	os.WriteFile(creds, []byte("x"), 0o600)
	_, err = run(t, "evolve", "--config", cfg, "--out", filepath.Join(t.TempDir(), "b"), "--serve", "127.0.0.1:0", "--creds", creds)
	wantErr(t, err, "--creds", "--token or --nkey")
	_, err = run(t, "evolve", "--config", cfg, "--out", filepath.Join(t.TempDir(), "c"), "--serve", "127.0.0.1:0", "--token", "x", "--nkey", creds)
	wantErr(t, err, "not both")
}

// The flags this CLI added for extending runs and comparing in studies
// refuse bad values before any work starts.
func TestEvolveGenerationsAndStudyReferenceErrors(t *testing.T) {
	model, _ := filepath.Abs("../../pretrained/lenet5-mnist.safetensors")
	cfg := filepath.Join(t.TempDir(), "tiny.json")
	os.WriteFile(cfg, []byte(`{"gp": {"population": 4, "generations": 1, "seeds": ["l1"], "elites": 1},
	  "tasks": [{"name": "lenet", "model": "`+model+`", "dataset": "mnist", "schedule": "preset:lenet5", "sample": 40}]}`), 0o644)
	out := filepath.Join(t.TempDir(), "a")
	_, err := run(t, "evolve", "--config", cfg, "--out", out, "--generations", "-1")
	wantErr(t, err, "generations -1", "negative")
	if _, serr := os.Stat(out); serr == nil {
		t.Errorf("a refused run created %s", out)
	}
	_, err = run(t, "evolve", "study", "--config", cfg, "--functions", "l1;random", "--reference", "l2")
	wantErr(t, err, `--reference "l2"`, "--functions")
}
