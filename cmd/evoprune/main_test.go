package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// run executes the CLI in-process and returns stdout and the error.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRoot()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("expected an error containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q does not mention %q", err, p)
		}
	}
}

func TestModelsCommandCounts(t *testing.T) {
	out, err := run(t, "models")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"431,080", "2,293,000", "14,986,698", "313,463,808", "269,722", "40,551,040", "853,018", "125,485,696"} {
		if !strings.Contains(out, want) {
			t.Errorf("models output lacks %s:\n%s", want, out)
		}
	}
}

func TestUnknownModel(t *testing.T) {
	_, err := run(t, "train", "--model", "resnet21", "--dataset", "mnist")
	wantErr(t, err, `unknown model "resnet21"`, "resnet20")
}

func TestMissingDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nowhere")
	_, err := run(t, "train", "--model", "lenet5", "--data-dir", dir)
	wantErr(t, err, "mnist", dir)
}

func TestTruncatedCIFAR(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cifar10", "cifar-10-batches-bin")
	os.MkdirAll(dir, 0o755)
	for _, name := range []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"} {
		size := 3073 * 2
		if name == "data_batch_3.bin" {
			size -= 100 // truncated mid-record
		}
		os.WriteFile(filepath.Join(dir, name), make([]byte, size), 0o644)
	}
	_, err := run(t, "train", "--model", "resnet20", "--dataset", "cifar10", "--data-dir", filepath.Dir(filepath.Dir(dir)), "--val-size", "1")
	wantErr(t, err, "data_batch_3.bin")
}

func TestWrongIDXMagic(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mnist")
	os.MkdirAll(dir, 0o755)
	for _, name := range []string{"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"} {
		var b bytes.Buffer
		binary.Write(&b, binary.BigEndian, uint32(0x00000801)) // a label magic everywhere
		binary.Write(&b, binary.BigEndian, uint32(1))
		b.WriteByte(0)
		os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644)
	}
	_, err := run(t, "train", "--model", "lenet5", "--data-dir", filepath.Dir(dir))
	wantErr(t, err, "train-images-idx3-ubyte", "magic")
}

// Trains LeNet-5 briefly on the bundled MNIST, then checks that evaluating
// the saved checkpoint gives exactly the test accuracy recorded at save time,
// and that the checkpoint refuses to pose as another architecture.
func TestTrainSaveEvalRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("trains for a few seconds")
	}
	dataDir, err := filepath.Abs(filepath.Join("..", "..", "data"))
	if err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(t.TempDir(), "l.safetensors")
	out, err := run(t, "train", "--model", "lenet5", "--data-dir", dataDir, "--max-steps", "30", "--epochs", "1",
		"--val-size", "1000", "--out", ckpt, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var tr struct {
		TestAcc float64 `json:"test_acc"`
	}
	if err := json.Unmarshal([]byte(out), &tr); err != nil {
		t.Fatalf("train --json: %v\n%s", err, out)
	}
	if tr.TestAcc < 0.5 {
		t.Fatalf("30 steps of LeNet-5 reached only %.3f", tr.TestAcc)
	}
	out, err = run(t, "eval", "--model", ckpt, "--data-dir", dataDir, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var ev struct {
		Accuracy float64 `json:"accuracy"`
	}
	json.Unmarshal([]byte(out), &ev)
	if ev.Accuracy != tr.TestAcc {
		t.Fatalf("eval after reload %.6f, at save %.6f", ev.Accuracy, tr.TestAcc)
	}
	_, err = run(t, "eval", "--model", ckpt, "--arch", "resnet20", "--data-dir", dataDir)
	wantErr(t, err, "holds a lenet5, not a resnet20")
	_, err = run(t, "eval", "--model", ckpt, "--dataset", "cifar10", "--data-dir", dataDir)
	if err == nil {
		t.Fatal("evaluating an MNIST model on CIFAR-10 was accepted")
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"train", "--model", "lenet5", "--augment", "rotate"},
		{"train", "--model", "lenet5", "--schedule", "linear"},
		{"train", "--model", "lenet5", "--val-size", "-1"},
		{"eval"},
		{"eval", "--model", "/nonexistent.safetensors"},
		{"train"},
	} {
		if _, err := run(t, args...); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}
