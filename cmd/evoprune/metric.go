package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/evoprune/evoprune/npy"
	"github.com/evoprune/evoprune/pfunc"
	"github.com/evoprune/evoprune/tensor"
	"github.com/spf13/cobra"
)

func newMetricCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "metric",
		Short: "Pruning functions: list, explain and evaluate them",
		Long: `Pruning functions ("metrics") score a layer's channels; the lowest scores are
pruned first. They are closed-form expressions over a channel's feature-map
statistics (P, Q, N, X, mX, mP, mQ) and filters (WI, W), written in prefix form:
  div(abs(sub(g_mean(P), g_mean(Q))), rho1(add(std(P), std(Q))))
Beyond the paper, the extended operands gamma and beta (the channel's batch-norm
scale and shift) and G (the loss gradient of its feature maps) admit criteria such
as network slimming (bn_scale) and the Taylor criterion (taylor).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usagef("choose a subcommand: list, show or eval (evoprune metric --help)")
		},
	}
	cmd.AddCommand(newMetricListCmd(), newMetricShowCmd(), newMetricEvalCmd())
	return cmd
}

// resolveMetric accepts a library name or a prefix expression.
func resolveMetric(s string) (name string, tree *pfunc.Node, err error) {
	if f, ok := pfunc.Lookup(s); ok {
		return f.Name, f.Tree, nil
	}
	tree, err = pfunc.Parse(s)
	if err != nil {
		if !strings.ContainsAny(s, "()") {
			return "", nil, usagef("%q is neither a library function (evoprune metric list) nor an expression: %v", s, err)
		}
		return "", nil, usageError{err}
	}
	return "", tree, nil
}

// needs lists the metric eval flags a tree needs beyond --features and --labels.
func needs(tree *pfunc.Node) []string {
	var out []string
	if tree.Uses(pfunc.OpWI) || tree.Uses(pfunc.OpW) {
		out = append(out, "--filters")
	}
	if tree.Uses(pfunc.OpGamma) || tree.Uses(pfunc.OpBeta) {
		out = append(out, "--bn")
	}
	if tree.Uses(pfunc.OpG) {
		out = append(out, "--grads")
	}
	return out
}

func newMetricListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List the library of named pruning functions",
		Example: "  evoprune metric list\n  evoprune metric list --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			type row struct {
				Name        string   `json:"name"`
				Description string   `json:"description"`
				Source      string   `json:"source"`
				Expr        string   `json:"expr"`
				Infix       string   `json:"infix"`
				Extended    bool     `json:"extended"`
				Needs       []string `json:"needs"`
			}
			var rows []row
			for _, f := range pfunc.Library() {
				rows = append(rows, row{f.Name, f.Description, f.Source, f.Expr, pfunc.Infix(f.Tree),
					f.Tree.UsesExtended(), needs(f.Tree)})
			}
			if asJSON {
				return printJSON(cmd, rows)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tFORMULA (per class, summed over classes)\tNEEDS\tSOURCE")
			for _, r := range rows {
				nd := strings.Join(r.Needs, " ")
				if nd == "" {
					nd = "-"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", r.Name, r.Infix, nd, r.Source)
			}
			return w.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newMetricShowCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show NAME|EXPR",
		Short: "Show a pruning function: forms, type, cost, canonical hash, simplified form",
		Example: `  evoprune metric show eq3
  evoprune metric show 'div(pow2(sub(g_mean(P), g_mean(Q))), rho1(add(var(P), var(Q))))'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, tree, err := resolveMetric(args[0])
			if err != nil {
				return err
			}
			out := map[string]any{"name": name, "prefix": pfunc.Prefix(tree), "infix": pfunc.Infix(tree),
				"latex": pfunc.LaTeX(tree), "size": tree.Size(), "depth": tree.Depth(), "hash": pfunc.Hash(tree),
				"extended": tree.UsesExtended(), "needs": needs(tree)}
			if f, ok := pfunc.Lookup(name); ok {
				out["description"], out["source"] = f.Description, f.Source
			}
			simp := pfunc.Simplify(tree)
			out["simplified"] = pfunc.Prefix(simp)
			typ, terr := pfunc.Check(tree)
			if terr != nil {
				out["type_error"] = terr.Error()
			} else {
				out["type"] = fmt.Sprint(typ)
			}
			// Cost at two reference settings: a conv layer of LeNet-5 and one of VGG-16.
			type setting struct {
				label string
				sizes pfunc.Sizes
			}
			costs := map[string]any{}
			var order []string
			for _, st := range []setting{
				{"lenet5 conv2 (N=10000, 10 classes, D=16, 20x5x5 filters, 50 channels)", pfunc.Sizes{N: 10000, Classes: 10, D: 16, Cin: 20, Kh: 5, Kw: 5, Cout: 50}},
				{"vgg16 conv1 (N=5000, 10 classes, D=1024, 3x3x3 filters, 64 channels)", pfunc.Sizes{N: 5000, Classes: 10, D: 1024, Cin: 3, Kh: 3, Kw: 3, Cout: 64}},
			} {
				order = append(order, st.label)
				if rep, err := pfunc.Cost(tree, st.sizes); err == nil {
					costs[st.label] = rep.Ops
				} else {
					costs[st.label] = err.Error()
				}
			}
			out["cost_ops_per_channel"] = costs
			if asJSON {
				return printJSON(cmd, out)
			}
			w := cmd.OutOrStdout()
			if name != "" {
				fmt.Fprintf(w, "name:        %s\n", name)
				if d, ok := out["description"]; ok {
					fmt.Fprintf(w, "description: %s\nsource:      %s\n", d, out["source"])
				}
			}
			fmt.Fprintf(w, "prefix:      %s\ninfix:       %s\nlatex:       %s\n", out["prefix"], out["infix"], out["latex"])
			if terr != nil {
				fmt.Fprintf(w, "type:        REJECTED: %v\n", terr)
			} else {
				fmt.Fprintf(w, "type:        %v\n", typ)
			}
			fmt.Fprintf(w, "size:        %d nodes, depth %d\nhash:        %s\nsimplified:  %s\n", tree.Size(), tree.Depth(), out["hash"], out["simplified"])
			if tree.UsesExtended() {
				fmt.Fprintln(w, "operands:    extended (gamma, beta or G: outside the paper's space)")
			}
			if nd := needs(tree); len(nd) > 0 {
				fmt.Fprintf(w, "eval needs:  %s (besides --features and --labels)\n", strings.Join(nd, " "))
			}
			for _, label := range order {
				c := costs[label]
				if v, ok := c.(float64); ok {
					fmt.Fprintf(w, "cost:        %.3g operations per channel, %s\n", v, label)
				} else {
					fmt.Fprintf(w, "cost:        %v, %s\n", c, label)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newMetricEvalCmd() *cobra.Command {
	var (
		expr, features, labels, filters, bnPath, grads string
		asJSON                                         bool
	)
	cmd := &cobra.Command{
		Use:   "eval",
		Short: "Score every channel of a layer from NumPy feature maps",
		Long: `Score each channel of a layer. --features is a float32 or float64 .npy array of
shape [N, C, H, W] (or [N, C] for a fully connected layer), --labels an integer
array [N], --filters (optional) the layer's weights [C, C_in, kh, kw] (or
[C, fan_in]); channel k's filter is WI, the whole array is W. Prints one score
per channel; the lowest would be pruned first.

The extended operands need their own inputs: --bn a float .npy [2, C] whose row 0
is the batch-norm scale gamma and row 1 the shift beta of each channel, --grads
the loss gradients of the feature maps, a float .npy of the same shape as
--features (sample i's gradient in row i).`,
		Example: `  evoprune metric eval --expr abs_snr --features maps.npy --labels y.npy
  evoprune metric eval --expr 'sum(abs(WI))' --features maps.npy --labels y.npy --filters w.npy --json
  evoprune metric eval --expr bn_scale --features maps.npy --labels y.npy --bn bn.npy
  evoprune metric eval --expr taylor --features maps.npy --labels y.npy --grads dmaps.npy`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if expr == "" || features == "" || labels == "" {
				return usagef("--expr, --features and --labels are required")
			}
			name, tree, err := resolveMetric(expr)
			if err != nil {
				return err
			}
			if _, err := pfunc.Check(tree); err != nil {
				return fmt.Errorf("%s cannot score channels: %w", expr, err)
			}
			if (tree.Uses(pfunc.OpGamma) || tree.Uses(pfunc.OpBeta)) && bnPath == "" {
				return usagef("%s uses gamma or beta, the batch-norm scale and shift: give them with --bn F.npy ([2, C]: gamma row, beta row)", expr)
			}
			if tree.Uses(pfunc.OpG) && grads == "" {
				return usagef("%s uses G, the loss gradient of the feature maps: give it with --grads F.npy (shaped like --features)", expr)
			}
			fa, err := npy.Read(features)
			if err != nil {
				return err
			}
			fx, err := fa.Floats()
			if err != nil {
				return fmt.Errorf("--features %s: %w", features, err)
			}
			if len(fa.Shape) != 4 && len(fa.Shape) != 2 {
				return fmt.Errorf("--features %s: shape %v, want [N, C, H, W] or [N, C]", features, fa.Shape)
			}
			n, c := fa.Shape[0], fa.Shape[1]
			d := 1
			if len(fa.Shape) == 4 {
				d = fa.Shape[2] * fa.Shape[3]
			}
			la, err := npy.Read(labels)
			if err != nil {
				return err
			}
			ly, err := la.Ints()
			if err != nil {
				return fmt.Errorf("--labels %s: %w", labels, err)
			}
			if len(la.Shape) != 1 || la.Shape[0] != n {
				return fmt.Errorf("--labels %s: shape %v, want [%d] (one label per sample of %s)", labels, la.Shape, n, features)
			}
			y := make([]int, n)
			for i, v := range ly {
				y[i] = int(v)
			}
			var w []float64
			var wshape []int
			if filters != "" {
				wa, err := npy.Read(filters)
				if err != nil {
					return err
				}
				if w, err = wa.Floats(); err != nil {
					return fmt.Errorf("--filters %s: %w", filters, err)
				}
				wshape = wa.Shape
				if (len(wshape) != 4 && len(wshape) != 2) || wshape[0] != c {
					return fmt.Errorf("--filters %s: shape %v, want [%d, C_in, kh, kw] or [%d, fan_in]", filters, wshape, c, c)
				}
			}
			var gamma, beta, gx []float64
			if bnPath != "" {
				ba, err := npy.Read(bnPath)
				if err != nil {
					return err
				}
				bv, err := ba.Floats()
				if err != nil {
					return fmt.Errorf("--bn %s: %w", bnPath, err)
				}
				if len(ba.Shape) != 2 || ba.Shape[0] != 2 || ba.Shape[1] != c {
					return fmt.Errorf("--bn %s: shape %v, want [2, %d] (row 0 gamma, row 1 beta of the %d channels of %s)", bnPath, ba.Shape, c, c, features)
				}
				gamma, beta = bv[:c], bv[c:]
			}
			if grads != "" {
				ga, err := npy.Read(grads)
				if err != nil {
					return err
				}
				if gx, err = ga.Floats(); err != nil {
					return fmt.Errorf("--grads %s: %w", grads, err)
				}
				if !tensor.SameShape(ga.Shape, fa.Shape) {
					return fmt.Errorf("--grads %s: shape %v, want %v (the shape of %s)", grads, ga.Shape, fa.Shape, features)
				}
			}
			// Sufficient statistics once, then every channel from them.
			stats, err := pfunc.NewLayerStats(fx, n, c, d, y, nil)
			if err != nil {
				return fmt.Errorf("%s with %s: %w", features, labels, err)
			}
			if gamma != nil || gx != nil {
				if err := stats.SetExtended(gamma, beta, gx); err != nil {
					return err
				}
			}
			scores, err := stats.ScoreAll(tree, w, wshape)
			if err != nil {
				return fmt.Errorf("scoring %s: %w", features, err)
			}
			if asJSON {
				return printJSON(cmd, map[string]any{"metric": firstNonEmpty(name, pfunc.Prefix(tree)), "scores": scores})
			}
			for k, s := range scores {
				fmt.Fprintf(cmd.OutOrStdout(), "%d\t%.10g\n", k, s)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&expr, "expr", "", "library name or prefix expression")
	f.StringVar(&features, "features", "", "feature maps, .npy [N, C, H, W] or [N, C]")
	f.StringVar(&labels, "labels", "", "labels, integer .npy [N]")
	f.StringVar(&filters, "filters", "", "layer weights, .npy [C, C_in, kh, kw] or [C, fan_in] (for WI and W)")
	f.StringVar(&bnPath, "bn", "", "batch-norm parameters, float .npy [2, C]: gamma row, beta row (for gamma and beta)")
	f.StringVar(&grads, "grads", "", "loss gradients of the feature maps, float .npy shaped like --features (for G)")
	f.BoolVar(&asJSON, "json", false, "print JSON ({\"scores\": [...]})")
	return cmd
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
