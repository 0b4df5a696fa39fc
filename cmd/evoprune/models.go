package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/evoprune/evoprune/models"
	"github.com/evoprune/evoprune/tensor"
	"github.com/spf13/cobra"
)

func newModelsCmd() *cobra.Command {
	var asJSON bool
	var classes int
	cmd := &cobra.Command{
		Use:   "models",
		Short: "List the built-in architectures with their params and MACs",
		Long: `List the built-in architectures. Params count learnable values; MACs count the
multiply-accumulates of convolutions and linear layers for one image at the
default input size.`,
		Example: `  evoprune models
  evoprune models --classes 100 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			type row struct {
				Name        string `json:"name"`
				Input       string `json:"input"`
				Dataset     string `json:"dataset"`
				Params      int64  `json:"params"`
				MACs        int64  `json:"macs"`
				Description string `json:"description"`
			}
			var rows []row
			for _, name := range models.Names() {
				e, _ := models.Lookup(name)
				g, err := models.Build(name, models.Options{Classes: classes})
				if err != nil {
					return err
				}
				rows = append(rows, row{name, tensor.ShapeString(e.Input), e.Dataset, g.NumParams(), g.MACs(), e.Description})
			}
			if asJSON {
				return printJSON(cmd, rows)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(w, "MODEL\tINPUT\tDATASET\tPARAMS\tMACS\tDESCRIPTION")
			for _, r := range rows {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Input, r.Dataset, commas(r.Params), commas(r.MACs), r.Description)
			}
			return w.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().IntVar(&classes, "classes", 10, "output classes")
	return cmd
}

// commas formats 1234567 as 1,234,567.
func commas(n int64) string {
	s := fmt.Sprint(n)
	neg := ""
	if n < 0 {
		neg, s = "-", s[1:]
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return neg + s
}
