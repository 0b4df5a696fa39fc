package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/evoprune/evoprune/models"
	"github.com/evoprune/evoprune/nn"
	"github.com/evoprune/evoprune/onnx"
	"github.com/spf13/cobra"
)

func newImportCmd() *cobra.Command {
	var (
		in, out, arch, dataset, inputShape string
		asJSON, restoreBN                  bool
	)
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Import an ONNX CNN as an evoprune checkpoint",
		Long: `Convert an ONNX model into an evoprune checkpoint that evaluates, trains,
prunes and exports like any other. Supported: Conv (BatchNorm folded into it or
not), BatchNormalization, Relu, MaxPool, AveragePool, GlobalAveragePool,
Flatten, Reshape/Squeeze that flatten, Gemm, MatMul (+ Add as its bias), Add,
option-A shortcuts (Slice + Pad), Gather on channels, Identity, Dropout, and
the shape arithmetic PyTorch emits for x.view(x.size(0), -1). Any other
operator is an error that lists every offending node.

Record the dataset with --dataset so that "evoprune eval" and training know
what the model is for. PyTorch folds BatchNorm into the convolutions by
default; --restore-bn puts it back (same outputs in inference), which lets
fine-tuning use the usual learning rates.`,
		Example: `  evoprune import --onnx resnet20.onnx --out r20.safetensors --dataset cifar10
  evoprune eval --model r20.safetensors --data-dir ../shared/data
  evoprune import --onnx torch-r20.onnx --restore-bn --dataset cifar10 --out r20-bn.safetensors
  evoprune import --onnx net.onnx --input-shape 3,32,32 --out net.safetensors --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if in == "" || out == "" {
				return usagef("--onnx and --out are required")
			}
			opts := onnx.ImportOptions{Arch: arch, RestoreBN: restoreBN}
			if inputShape != "" {
				for _, p := range strings.Split(inputShape, ",") {
					d, err := strconv.Atoi(strings.TrimSpace(p))
					if err != nil || d <= 0 {
						return usagef("--input-shape must be positive sizes like 3,32,32, got %q", inputShape)
					}
					opts.InputShape = append(opts.InputShape, d)
				}
			}
			g, err := onnx.ReadFile(in, opts)
			if err != nil {
				return err
			}
			info := models.Info{Dataset: dataset, Classes: g.Output().Channels(), Version: version(),
				Command:   "evoprune " + strings.Join(os.Args[1:], " "),
				CreatedAt: time.Now().UTC().Format(time.RFC3339),
				Extra:     map[string]string{"onnx_source": in}}
			if err := models.Save(out, g, info); err != nil {
				return err
			}
			kinds := map[string]int{}
			for _, n := range g.Nodes[1:] {
				kinds[n.Layer.Kind()]++
			}
			if asJSON {
				return printJSON(cmd, map[string]any{"onnx": in, "out": out, "arch": g.Arch, "nodes": len(g.Nodes) - 1,
					"layers": kinds, "params": g.NumParams(), "macs": g.MACs(), "input": g.Input().Shape,
					"output": g.Output().Shape, "dataset": dataset, "conv_bias_without_bn": foldedConvs(g)})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: %s from %s, %d layers %v, %d params, %d MACs, input %v\n",
				out, g.Arch, in, len(g.Nodes)-1, kinds, g.NumParams(), g.MACs(), g.Input().Shape)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&in, "onnx", "", "ONNX model file")
	f.StringVar(&out, "out", "", "checkpoint to write (.safetensors)")
	f.StringVar(&arch, "arch", "", "architecture name to record (default: from the file)")
	f.StringVar(&dataset, "dataset", "", "dataset the model is for (mnist, cifar10, cifar100), recorded for eval and training")
	f.StringVar(&inputShape, "input-shape", "", "per-sample input shape C,H,W when the file leaves it symbolic")
	f.BoolVar(&restoreBN, "restore-bn", false, "put a BatchNorm (carrying the bias) after every convolution without one, e.g. where the exporter folded it, so fine-tuning normalises again")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// foldedConvs counts convolutions with a bias that no BatchNorm follows:
// in a model that had BatchNorm, the trace of its folding at export.
func foldedConvs(g *nn.Graph) int {
	n := 0
	for _, node := range g.Nodes[1:] {
		c, ok := node.Layer.(*nn.Conv2d)
		if !ok || c.B == nil {
			continue
		}
		bn := false
		for _, m := range g.Consumers(node) {
			if _, ok := m.Layer.(*nn.BatchNorm); ok {
				bn = true
			}
		}
		if !bn {
			n++
		}
	}
	return n
}
