package report

import (
	"errors"
	"fmt"
	"math"
)

// GenerationFitness summarises the fitness of one generation's population.
type GenerationFitness struct {
	Generation          int
	Best, Mean          float64
	Min, Max            float64
	Evaluated, Failures int // optional counts for the table
}

// SummariseGeneration computes best, mean, min and max of one generation's fitness
// values. Non-finite values are an error: failed evaluations score 0, not NaN.
func SummariseGeneration(generation int, fitness []float64) (GenerationFitness, error) {
	if len(fitness) == 0 {
		return GenerationFitness{}, fmt.Errorf("report: generation %d has no fitness values", generation)
	}
	g := GenerationFitness{Generation: generation, Min: math.Inf(1), Max: math.Inf(-1)}
	sum := 0.0
	for i, f := range fitness {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return GenerationFitness{}, fmt.Errorf("report: generation %d: fitness[%d] is %v", generation, i, f)
		}
		sum += f
		g.Min, g.Max = math.Min(g.Min, f), math.Max(g.Max, f)
	}
	g.Best, g.Mean = g.Max, sum/float64(len(fitness))
	return g, nil
}

// FitnessByGeneration is the fitness-by-generation plot: the best fitness of each
// generation and the mean with the min..max range of the population shaded.
func FitnessByGeneration(title string, gens []GenerationFitness) (LinePlot, error) {
	if len(gens) == 0 {
		return LinePlot{}, errors.New("report: fitness by generation: no generations")
	}
	best := Series{Name: "best"}
	mean := Series{Name: "mean (band: min to max)"}
	for _, g := range gens {
		x := float64(g.Generation)
		best.X, best.Y = append(best.X, x), append(best.Y, g.Best)
		mean.X, mean.Y = append(mean.X, x), append(mean.Y, g.Mean)
		mean.Low, mean.High = append(mean.Low, g.Min), append(mean.High, g.Max)
	}
	return LinePlot{
		Figure: Figure{Title: title, XLabel: "generation", YLabel: "fitness"},
		Series: []Series{best, mean},
		Points: true,
	}, nil
}

// GenerationTable is the per-generation summary as a table.
func GenerationTable(gens []GenerationFitness) Table {
	t := Table{
		Header: []string{"generation", "best", "mean", "min", "max", "evaluated", "failures"},
		Align:  []Align{AlignRight, AlignRight, AlignRight, AlignRight, AlignRight, AlignRight, AlignRight},
	}
	for _, g := range gens {
		t.AddRow(g.Generation, g.Best, g.Mean, g.Min, g.Max, g.Evaluated, g.Failures)
	}
	return t
}

// PruningCurves is the accuracy against MACs kept plot, one line per pruning function
// (or metric); series may carry error bars or a band over seeds.
func PruningCurves(title string, curves []Series) LinePlot {
	return LinePlot{
		Figure: Figure{Title: title, XLabel: "MACs kept (%)", YLabel: "accuracy (%)"},
		Series: curves,
		Points: true,
	}
}

// FitnessVsSize is the scatter plot of fitness against tree size (nodes): one point per
// evaluated individual.
func FitnessVsSize(title string, sizes []int, fitness []float64) (ScatterPlot, error) {
	if len(sizes) != len(fitness) {
		return ScatterPlot{}, fmt.Errorf("report: fitness vs size: %d sizes for %d fitness values", len(sizes), len(fitness))
	}
	s := Series{Name: "individuals", Y: fitness}
	for _, n := range sizes {
		s.X = append(s.X, float64(n))
	}
	return ScatterPlot{
		Figure: Figure{Title: title, XLabel: "tree size (nodes)", YLabel: "fitness"},
		Series: []Series{s},
	}, nil
}
