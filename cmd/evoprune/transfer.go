package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/evoprune/evoprune/metrics"
	"github.com/evoprune/evoprune/prune"
	"github.com/evoprune/evoprune/report"
	"github.com/spf13/cobra"
)

// newTransferCmd is evoprune prune with two additions: --metric also takes
// an evolution run's hall of fame (RUN/best, RUN/K), and the report is
// written beside the pruned model. It runs the prune command itself (same
// flags, same code), so a transfer and a prune with the same expression are
// the same computation.
func newTransferCmd() *cobra.Command {
	pc := newPruneCmd()
	var reportPath string
	cmd := &cobra.Command{
		Use:   "transfer",
		Short: "Apply one pruning function (a name, an expression or an evolution run's best) to another model and dataset",
		Long: `Prune a model that evolution never saw with one function, fine-tune it, and
write the pruned model and its report: the single-run form of evoprune bench run.

--metric is a library name, a native criterion (random, bn_scale, taylor,
apoz, hrank), a pfunc expression, or RUN/best (RUN/2, ...) for the hall of
fame of an evolution run directory. Every other flag is evoprune prune's
(see evoprune prune --help); the report goes to --report (default: the
model's path with .json).`,
		Example: `  evoprune transfer --metric runs/evolve-cpu/best --model pretrained/resnet20-cifar10.safetensors --data-dir ../shared/data --schedule preset:resnet56 --finetune-epochs 5 --out r20-best.safetensors
  evoprune transfer --metric eq3 --model pretrained/lenet5-mnist.safetensors --data-dir data --schedule macs:0.5 --finetune-steps 100 --out lenet5-eq3.safetensors`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			label, _ := f.GetString("metric")
			out, _ := f.GetString("out")
			if label == "" {
				return usagef("--metric is required (a name, an expression or RUN/best)")
			}
			ms, err := metrics.ResolveMetric(label)
			if err != nil {
				return usageError{err}
			}
			if len(ms) != 1 {
				return usagef("--metric %s names %d functions; transfer applies one (use RUN/best or RUN/K)", label, len(ms))
			}
			m := ms[0]
			if m.Kind == metrics.KindEvolved && strings.Contains(label, "/") {
				// The prune command reads expressions and names; a run's entry is
				// handed over as its expression.
				if err := f.Set("metric", m.Expr); err != nil {
					return err
				}
				fmt.Fprintf(os.Stderr, "%s is %s\n", label, m.Expr)
			}
			if out != "" && reportPath == "" {
				reportPath = strings.TrimSuffix(out, ".safetensors") + ".json"
			}
			asJSON, _ := f.GetBool("json")
			if err := f.Set("json", "true"); err != nil {
				return err
			}
			var buf bytes.Buffer
			pc.SetOut(&buf)
			if err := pc.RunE(pc, nil); err != nil {
				return err
			}
			var res struct {
				Model   string        `json:"model"`
				Out     string        `json:"out"`
				TestAcc float64       `json:"test_acc"`
				Report  *prune.Report `json:"report"`
			}
			if err := json.Unmarshal(buf.Bytes(), &res); err != nil || res.Report == nil {
				return fmt.Errorf("transfer: reading the prune report: %v", err)
			}
			doc := map[string]any{"metric": label, "expr": m.Expr, "kind": m.Kind, "model": res.Model, "out": res.Out,
				"test_acc": res.TestAcc, "report": res.Report, "command": "evoprune " + strings.Join(os.Args[1:], " ")}
			if err := report.WriteFile(reportPath, func(w io.Writer) error {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				return enc.Encode(doc)
			}); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd, doc)
			}
			printPruneReport(cmd.OutOrStdout(), res.Report, res.TestAcc, res.Out)
			fmt.Fprintf(cmd.OutOrStdout(), "report %s\n", reportPath)
			return nil
		},
	}
	cmd.Flags().AddFlagSet(pc.Flags())
	// pc is this command's own instance, so its help text can say more.
	cmd.Flags().Lookup("metric").Usage = "library name, pfunc expression, random|bn_scale|taylor|apoz|hrank, or RUN/best, RUN/K of an evolution run"
	cmd.Flags().StringVar(&reportPath, "report", "", "where to write the JSON report (default: --out with .json)")
	return cmd
}
