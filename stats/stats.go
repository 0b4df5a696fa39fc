// Package stats summarises results over seeds: means with Student-t
// intervals and paired t-tests, shared by the leaderboards (bench) and the
// protocol studies (evolve).
package stats

import (
	"encoding/json"
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// Stat summarises one quantity over seeds: the mean, the sample standard
// deviation (n-1 in the denominator) and the two-sided 95 % Student-t
// confidence interval of the mean. With one value the spread and the
// interval are NaN: one seed says nothing about the seed-to-seed variation.
type Stat struct {
	N    int     `json:"n"`
	Mean float64 `json:"mean"`
	Std  float64 `json:"std"`
	Low  float64 `json:"ci95_low"`
	High float64 `json:"ci95_high"`
}

// Summarise computes the Stat of v (NaN fields for an empty v).
func Summarise(v []float64) Stat {
	s := Stat{N: len(v), Mean: math.NaN(), Std: math.NaN(), Low: math.NaN(), High: math.NaN()}
	if len(v) == 0 {
		return s
	}
	s.Mean = 0
	for _, x := range v {
		s.Mean += x
	}
	s.Mean /= float64(len(v))
	if len(v) < 2 {
		return s
	}
	ss := 0.0
	for _, x := range v {
		ss += (x - s.Mean) * (x - s.Mean)
	}
	s.Std = math.Sqrt(ss / float64(len(v)-1))
	h := TQuantile975(len(v)-1) * s.Std / math.Sqrt(float64(len(v)))
	s.Low, s.High = s.Mean-h, s.Mean+h
	return s
}

// HalfWidth is the half width of the 95 % interval (NaN without one).
func (s Stat) HalfWidth() float64 { return (s.High - s.Low) / 2 }

// TQuantile975 is the 0.975 quantile of Student's t with df degrees of
// freedom: the factor of a two-sided 95 % interval.
func TQuantile975(df int) float64 {
	return distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(df)}.Quantile(0.975)
}

// Paired is a paired comparison of a metric with the reference metric over
// the seeds both completed: the mean difference (metric minus reference),
// Student's t statistic of the differences and its two-sided p-value.
// Pairing by seed removes the variation the seed causes in both (the same
// seed draws the same scoring sample and fine-tuning batches).
type Paired struct {
	Reference string  `json:"reference"`
	N         int     `json:"n"`
	MeanDiff  float64 `json:"mean_diff"`
	T         float64 `json:"t"`
	P         float64 `json:"p"`
}

// PairedT tests the differences a[i]-b[i]. With fewer than two pairs the
// statistic and p-value are NaN. Identical differences (no spread) give
// p = 1 when they are all zero and p = 0 otherwise, the limits of the test.
func PairedT(a, b []float64) Paired {
	p := Paired{N: len(a), MeanDiff: math.NaN(), T: math.NaN(), P: math.NaN()}
	if len(a) != len(b) || len(a) == 0 {
		p.N = 0
		return p
	}
	d := make([]float64, len(a))
	for i := range a {
		d[i] = a[i] - b[i]
	}
	s := Summarise(d)
	p.MeanDiff = s.Mean
	if len(d) < 2 {
		return p
	}
	if s.Std == 0 {
		if s.Mean == 0 {
			p.T, p.P = 0, 1
		} else {
			p.T, p.P = math.Copysign(math.Inf(1), s.Mean), 0
		}
		return p
	}
	p.T = s.Mean / (s.Std / math.Sqrt(float64(len(d))))
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(len(d) - 1)}
	p.P = 2 * t.Survival(math.Abs(p.T))
	return p
}

// finite maps NaN and infinities, which JSON cannot hold, to null.
func finite(v float64) any {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return v
}

// MarshalJSON writes undefined spreads (one seed) as null.
func (s Stat) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]any{"n": s.N, "mean": finite(s.Mean), "std": finite(s.Std), "ci95_low": finite(s.Low), "ci95_high": finite(s.High)})
}

// MarshalJSON writes undefined statistics as null.
func (p Paired) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]any{"reference": p.Reference, "n": p.N, "mean_diff": finite(p.MeanDiff), "t": finite(p.T), "p": finite(p.P)})
}
