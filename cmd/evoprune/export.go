package main

import (
	"fmt"
	"os"

	"github.com/evoprune/evoprune/models"
	"github.com/evoprune/evoprune/onnx"
	"github.com/spf13/cobra"
)

func newExportCmd() *cobra.Command {
	var (
		modelSpec, format, out, shortcut string
		foldBN, asJSON                   bool
		classes                          int
		width                            float64
		seed                             uint64
	)
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Export a model (pruned or not) as an ONNX file",
		Long: `Export a checkpoint, or a freshly initialised architecture, as an ONNX model
(opset 13, dynamic batch dimension, float32 weights named like the checkpoint's
tensors). The graph input is called "input" ([batch, C, H, W]) and the output
"output" ([batch, classes]).

--fold-bn folds each BatchNorm that follows a convolution into that
convolution's weights and bias, as PyTorch's exporter does: the same function
in inference, fewer operators. Without it BatchNormalization nodes keep the
running statistics, so an import can fine-tune the model again.`,
		Example: `  evoprune export --model lenet5.safetensors --out lenet5.onnx
  evoprune export --model r20-pruned.safetensors --fold-bn --out r20.onnx --json
  evoprune export --model resnet20 --seed 1 --out r20-random.onnx   # random weights`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if modelSpec == "" || out == "" {
				return usagef("--model and --out are required")
			}
			if format != "onnx" {
				return usagef("--format must be onnx, got %q", format)
			}
			g, _, err := loadOrBuild(modelSpec, models.Options{Classes: classes, Width: width, Shortcut: shortcut, Seed: seed})
			if err != nil {
				return err
			}
			m, err := onnx.Export(g, onnx.ExportOptions{FoldBN: foldBN, Producer: version()})
			if err != nil {
				return err
			}
			if err := onnx.WriteFile(out, m); err != nil {
				return err
			}
			st, err := os.Stat(out)
			if err != nil {
				return err
			}
			ops := map[string]int{}
			for _, n := range m.GetGraph().GetNode() {
				ops[n.GetOpType()]++
			}
			if asJSON {
				return printJSON(cmd, map[string]any{"model": modelSpec, "arch": g.Arch, "out": out, "format": "onnx",
					"opset": onnx.Opset, "fold_bn": foldBN, "nodes": len(m.GetGraph().GetNode()), "operators": ops,
					"initializers": len(m.GetGraph().GetInitializer()), "bytes": st.Size(),
					"params": g.NumParams(), "macs": g.MACs(), "input": g.Input().Shape, "output": g.Output().Shape})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: %s as ONNX opset %d, %d nodes %v, %d params, %.1f MB\n",
				out, g.Arch, onnx.Opset, len(m.GetGraph().GetNode()), ops, g.NumParams(), float64(st.Size())/1e6)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&modelSpec, "model", "", "checkpoint file, or an architecture name for random weights (evoprune models)")
	f.StringVar(&format, "format", "onnx", "output format (onnx)")
	f.StringVar(&out, "out", "", "output file")
	f.BoolVar(&foldBN, "fold-bn", false, "fold BatchNorm into the preceding convolution")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	f.IntVar(&classes, "classes", 10, "classes, when --model names an architecture")
	f.Float64Var(&width, "width", 1, "vgg16 width multiplier, when --model names an architecture")
	f.StringVar(&shortcut, "shortcut", "A", "ResNet shortcut A or B, when --model names an architecture")
	f.Uint64Var(&seed, "seed", 0, "weight seed, when --model names an architecture")
	return cmd
}
