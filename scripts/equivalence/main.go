// Command equivalence writes what scripts/torch_equivalence.py needs to check
// evoprune's engine against PyTorch: for each architecture, a checkpoint
// (with non-trivial BatchNorm parameters and running statistics) and the
// engine's results on one seeded batch: eval-mode logits of a fresh load of
// that checkpoint, then training-mode logits, mean cross-entropy, every
// parameter gradient and the BatchNorm running statistics after the
// training-mode forward.
//
//	go run ./scripts/equivalence --out DIR
//
// writes DIR/<model>.safetensors (a models.Save checkpoint) and
// DIR/<model>-batch.safetensors holding "input", "labels" (as float32),
// "eval_logits", "logits", "loss" (shape [1]), "grad.<param>" for every
// learnable parameter and "running.<buffer>" for every BatchNorm buffer.
// Unless --acts=false it also writes DIR/<model>-acts.safetensors with
// "out.<node>" and "grad.<node>", every node's output and output gradient in
// the training step, with which torch_equivalence.py locates a disagreement
// node by node and resolves near ties of ReLU and max-pool decisions.
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/evoprune/evoprune/blas"
	"github.com/evoprune/evoprune/models"
	"github.com/evoprune/evoprune/nn"
	"github.com/evoprune/evoprune/safetensors"
	"github.com/evoprune/evoprune/tensor"
)

func main() {
	out := flag.String("out", "", "directory to write the checkpoints and batch results into (created if missing)")
	list := flag.String("models", "lenet5,resnet20,vgg16", "comma-separated architectures to dump")
	seed := flag.Uint64("seed", 1, "seed of the weights, BatchNorm perturbation, input and labels; the i-th model (from 0) uses seed+i")
	batch := flag.Int("batch", 8, "batch size")
	acts := flag.Bool("acts", true, "also write DIR/<model>-acts.safetensors: every node's output and output gradient in the training step, to locate a disagreement and to resolve near ties")
	flag.Parse()
	if *out == "" || flag.NArg() != 0 || *batch < 2 {
		fmt.Fprintln(os.Stderr, "usage: go run ./scripts/equivalence --out DIR [--models lenet5,resnet20,vgg16] [--seed N] [--batch N>=2] [--acts=false]")
		os.Exit(2)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fail(err)
	}
	fmt.Printf("equivalence: GEMM %s, seed %d, batch %d\n", blas.Implementation().Name(), *seed, *batch)
	for i, name := range strings.Split(*list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if err := dump(*out, name, *seed+uint64(i), *batch, *acts); err != nil {
			fail(err)
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "equivalence:", err)
	os.Exit(1)
}

// dump builds one model, saves it, and records its results on one batch.
func dump(dir, name string, seed uint64, batch int, acts bool) error {
	g, err := models.Build(name, models.Options{Seed: seed})
	if err != nil {
		return err
	}
	entry, err := models.Lookup(name)
	if err != nil {
		return err
	}
	bns := perturbBatchNorm(g, seed)

	ckpt := filepath.Join(dir, name+".safetensors")
	info := models.Info{Dataset: entry.Dataset, Classes: g.Output().Channels(), Seed: seed,
		Command: "go run ./scripts/equivalence"}
	if err := models.Save(ckpt, g, info); err != nil {
		return err
	}

	rng := rand.New(rand.NewPCG(seed, 0xba7c4))
	x := tensor.New(append([]int{batch}, g.Input().Shape...)...)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	classes := g.Output().Channels()
	labels := make([]int32, batch)
	labelsF := make([]float32, batch)
	for i := range labels {
		labels[i] = int32(rng.IntN(classes))
		labelsF[i] = float32(labels[i])
	}

	// Eval mode first, on a fresh load of the checkpoint: the training-mode
	// forward below moves the running statistics.
	loaded, _, err := models.Load(ckpt)
	if err != nil {
		return err
	}
	evalLogits := loaded.Forward(&nn.Context{Train: false}, x).Clone()

	ctx := &nn.Context{Train: true, Rand: rand.New(rand.NewPCG(seed, 0xd409))}
	logits := g.Forward(ctx, x).Clone()
	dlogits := tensor.New(logits.Shape...)
	loss, _ := nn.SoftmaxCrossEntropy(logits, labels, dlogits)
	g.ZeroGrad()
	// Keep every layer's output gradient for the per-layer diagnosis file
	// (the graph otherwise recycles them as soon as they are consumed).
	for _, node := range g.Nodes[1:] {
		g.KeepGrad(node, true)
	}
	g.Backward(ctx, dlogits, false)

	if !tensor.AllFinite(evalLogits.Data) || !tensor.AllFinite(logits.Data) {
		return fmt.Errorf("%s: non-finite logits", name)
	}

	f := &safetensors.File{Metadata: map[string]string{
		"arch": name, "seed": strconv.FormatUint(seed, 10), "batch": strconv.Itoa(batch),
		"gemm": blas.Implementation().Name()}}
	put := func(n string, shape []int, data []float32) {
		f.Tensors = append(f.Tensors, safetensors.Tensor{Name: n, Shape: shape, Data: data})
	}
	put("input", x.Shape, x.Data)
	put("labels", []int{batch}, labelsF)
	put("eval_logits", evalLogits.Shape, evalLogits.Data)
	put("logits", logits.Shape, logits.Data)
	put("loss", []int{1}, []float32{float32(loss)})
	nGrad, nRun := 0, 0
	for _, p := range g.Params() {
		if p.Learnable() {
			put("grad."+p.Name, p.Grad.Shape, p.Grad.Data)
			nGrad++
		} else {
			put("running."+p.Name, p.Value.Shape, p.Value.Data)
			nRun++
		}
	}
	out := filepath.Join(dir, name+"-batch.safetensors")
	if err := safetensors.Write(out, f); err != nil {
		return err
	}
	if acts {
		a := &safetensors.File{Metadata: map[string]string{"arch": name}}
		for _, node := range g.Nodes[1:] {
			a.Tensors = append(a.Tensors,
				safetensors.Tensor{Name: "out." + node.Name, Shape: node.Output().Shape, Data: node.Output().Data},
				safetensors.Tensor{Name: "grad." + node.Name, Shape: node.Grad().Shape, Data: node.Grad().Data})
		}
		if err := safetensors.Write(filepath.Join(dir, name+"-acts.safetensors"), a); err != nil {
			return err
		}
	}
	fmt.Printf("equivalence: %-9s %d BatchNorm layers perturbed, loss %.6f, %d gradients, %d running buffers -> %s, %s\n",
		name, bns, loss, nGrad, nRun, ckpt, out)
	return nil
}

// perturbBatchNorm gives every BatchNorm seeded gammas, betas and running
// statistics away from their initial 1, 0, 0, 1, so that loading, eval-mode
// normalisation and the affine transform are all exercised. It returns how
// many BatchNorm layers it changed.
func perturbBatchNorm(g *nn.Graph, seed uint64) int {
	rng := rand.New(rand.NewPCG(seed, 0xb47c4))
	n := 0
	for _, node := range g.Nodes[1:] {
		bn, ok := node.Layer.(*nn.BatchNorm)
		if !ok {
			continue
		}
		n++
		for c := range bn.Gamma.Value.Data {
			bn.Gamma.Value.Data[c] = float32(0.25 + 1.5*rng.Float64())
			bn.Beta.Value.Data[c] = float32(rng.Float64() - 0.5)
			bn.RunningMean.Value.Data[c] = float32(0.5 * rng.NormFloat64())
			bn.RunningVar.Value.Data[c] = float32(0.5 + 1.5*rng.Float64())
		}
	}
	return n
}
