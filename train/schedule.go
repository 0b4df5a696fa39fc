// Package train runs the training loop: mini-batch SGD or Adam over a
// dataset, learning-rate schedules, evaluation on a held-out validation
// split each epoch, best-on-validation checkpoints, and guards that stop a
// diverging run with a message rather than a NaN model.
package train

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Schedule gives the learning rate at a point of training, t counted in
// epochs (2.5 = halfway through the third epoch) out of total epochs.
type Schedule interface {
	LR(base, t float64, total int) float64
	String() string
}

// Constant keeps the base learning rate.
type Constant struct{}

// LR implements Schedule.
func (Constant) LR(base, _ float64, _ int) float64 { return base }
func (Constant) String() string                    { return "constant" }

// MultiStep multiplies the rate by Gamma at each milestone epoch, as
// torch.optim.lr_scheduler.MultiStepLR stepped once per epoch.
type MultiStep struct {
	Milestones []int
	Gamma      float64
}

// LR implements Schedule.
func (m MultiStep) LR(base, t float64, _ int) float64 {
	epoch := int(math.Floor(t))
	lr := base
	for _, ms := range m.Milestones {
		if epoch >= ms {
			lr *= m.Gamma
		}
	}
	return lr
}

func (m MultiStep) String() string {
	parts := make([]string, len(m.Milestones))
	for i, v := range m.Milestones {
		parts[i] = strconv.Itoa(v)
	}
	return fmt.Sprintf("multistep:%s:%g", strings.Join(parts, ","), m.Gamma)
}

// Cosine anneals from the base rate to Min over the run, per step:
// lr = Min + (base-Min) * (1 + cos(pi * t / total)) / 2.
type Cosine struct{ Min float64 }

// LR implements Schedule.
func (c Cosine) LR(base, t float64, total int) float64 {
	if total <= 0 {
		return base
	}
	return c.Min + (base-c.Min)*(1+math.Cos(math.Pi*min(t/float64(total), 1)))/2
}

func (c Cosine) String() string { return fmt.Sprintf("cosine:%g", c.Min) }

// ParseSchedule reads "constant", "cosine", "cosine:MIN",
// "multistep:E1,E2,...:GAMMA" (epochs; gamma defaults to 0.1) or
// "multistep-frac:F1,F2:GAMMA" (milestones as fractions of the run).
func ParseSchedule(s string, epochs int) (Schedule, error) {
	kind, rest, _ := strings.Cut(s, ":")
	switch kind {
	case "constant", "":
		return Constant{}, nil
	case "cosine":
		c := Cosine{}
		if rest != "" {
			v, err := strconv.ParseFloat(rest, 64)
			if err != nil || v < 0 {
				return nil, fmt.Errorf("schedule %q: minimum learning rate %q is not a non-negative number", s, rest)
			}
			c.Min = v
		}
		return c, nil
	case "multistep", "multistep-frac":
		ms, g, _ := strings.Cut(rest, ":")
		m := MultiStep{Gamma: 0.1}
		if g != "" {
			v, err := strconv.ParseFloat(g, 64)
			if err != nil || v <= 0 {
				return nil, fmt.Errorf("schedule %q: gamma %q is not a positive number", s, g)
			}
			m.Gamma = v
		}
		if ms == "" {
			return nil, fmt.Errorf("schedule %q: no milestones (example: multistep:50,75:0.1)", s)
		}
		for _, f := range strings.Split(ms, ",") {
			v, err := strconv.ParseFloat(f, 64)
			if err != nil || v < 0 {
				return nil, fmt.Errorf("schedule %q: milestone %q is not a non-negative number", s, f)
			}
			if kind == "multistep-frac" {
				v *= float64(epochs)
			}
			m.Milestones = append(m.Milestones, int(math.Round(v)))
		}
		return m, nil
	}
	return nil, fmt.Errorf("unknown schedule %q (constant, cosine[:MIN], multistep:E1,E2[:GAMMA], multistep-frac:F1,F2[:GAMMA])", s)
}
