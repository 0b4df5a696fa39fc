package prune

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Schedule says how many channels each group loses at each pruning step:
//
//   - preset:NAME, the reference's explicit per-layer removal counts (lenet5,
//     vgg16: a list per step; resnet56: 40 % of every group in one step).
//     Counts are for the reference widths and scale with the model's width
//     (a vgg16 at width 0.5 loses half as many channels per layer);
//   - uniform:R, the fraction R of every group's channels (rounded down),
//     split evenly over the steps;
//   - macs:R or params:R, global ranking: channels of all groups compete on
//     their normalised scores until the model has lost the fraction R of its
//     MACs (params), reached in equal parts over the steps, with every group
//     keeping at least MinKeep of its channels.
type Schedule struct {
	Kind  string // "preset", "uniform", "macs" or "params"
	Name  string // preset name
	Ratio float64
	steps int
	// MinKeep is the fraction of its channels every group keeps under a
	// global target (at least one channel). Default 0.1.
	MinKeep float64

	counts []map[string]int // preset: per step, group -> removed at the reference width
	ref    map[string]int   // preset: reference widths
}

// A preset is the reference's pruning of one model.
type preset struct {
	steps []map[string]int
	ref   map[string]int
	ratio float64 // uniform presets
}

func vggPreset() preset {
	counts := []int{12, 12, 25, 25, 51, 51, 51, 102, 102, 102, 102, 102, 102}
	widths := []int{64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512}
	step, ref := map[string]int{"fc1": 102}, map[string]int{"fc1": 512}
	for i, c := range counts {
		step[fmt.Sprintf("conv%d", i+1)] = c
		ref[fmt.Sprintf("conv%d", i+1)] = widths[i]
	}
	return preset{steps: []map[string]int{step, step}, ref: ref}
}

var presets = map[string]func() preset{
	// LeNet-5: 20-50-500 -> 5-11-40 in three steps (METHOD.md section 5).
	"lenet5": func() preset {
		return preset{
			steps: []map[string]int{
				{"conv1": 10, "conv2": 30, "fc1": 400},
				{"conv1": 5, "conv2": 8, "fc1": 55},
				{"conv1": 0, "conv2": 1, "fc1": 5},
			},
			ref: map[string]int{"conv1": 20, "conv2": 50, "fc1": 500},
		}
	},
	// VGG-16: two steps of about 20 % of every layer (METHOD.md section 5).
	"vgg16": vggPreset,
	// ResNet-56: 40 % of every block's internal and input channels, one shot
	// (METHOD.md section 7); the same rule serves every CIFAR ResNet.
	"resnet56": func() preset { return preset{ratio: 0.4} },
}

// Presets lists the preset names.
func Presets() []string {
	var ns []string
	for n := range presets {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}

// ParseSchedule reads preset:NAME, uniform:R, macs:R or params:R. steps is
// the number of pruning steps (0: the preset's own, else 1).
func ParseSchedule(s string, steps int) (*Schedule, error) {
	kind, arg, ok := strings.Cut(s, ":")
	if !ok {
		return nil, fmt.Errorf("schedule %q: want preset:NAME, uniform:R, macs:R or params:R", s)
	}
	if steps < 0 {
		return nil, fmt.Errorf("schedule %q: steps must be positive, got %d", s, steps)
	}
	sc := &Schedule{Kind: kind, MinKeep: 0.1}
	switch kind {
	case "preset":
		mk, ok := presets[arg]
		if !ok {
			return nil, fmt.Errorf("schedule %q: unknown preset %q (known: %s)", s, arg, strings.Join(Presets(), ", "))
		}
		p := mk()
		sc.Name = arg
		if p.ratio > 0 {
			sc.Kind, sc.Ratio, sc.steps = "uniform", p.ratio, max(steps, 1)
			return sc, nil
		}
		if steps != 0 && steps != len(p.steps) {
			return nil, fmt.Errorf("schedule %q has %d steps; --steps %d does not apply", s, len(p.steps), steps)
		}
		sc.counts, sc.ref, sc.steps = p.steps, p.ref, len(p.steps)
		return sc, nil
	case "uniform", "macs", "params":
		r, err := strconv.ParseFloat(arg, 64)
		if err != nil || !(r > 0 && r < 1) {
			return nil, fmt.Errorf("schedule %q: the ratio must be a number in (0, 1), got %q", s, arg)
		}
		sc.Ratio, sc.steps = r, max(steps, 1)
		return sc, nil
	}
	return nil, fmt.Errorf("schedule %q: unknown kind %q (preset, uniform, macs, params)", s, kind)
}

// Steps is the number of pruning steps.
func (s *Schedule) Steps() int { return s.steps }

// Global reports whether the schedule ranks channels across groups.
func (s *Schedule) Global() bool { return s.Kind == "macs" || s.Kind == "params" }

// String gives the schedule back in the syntax ParseSchedule reads.
func (s *Schedule) String() string {
	if s.Name != "" {
		return "preset:" + s.Name
	}
	return fmt.Sprintf("%s:%g", s.Kind, s.Ratio)
}

// Counts returns how many channels each group loses at step (0-based), for
// per-group schedules. initial holds every group's channels before the first
// step; groups are the model's current groups. A count that would leave a
// group empty is an error naming the group.
func (s *Schedule) Counts(step int, initial map[string]int, groups []*Group) (map[string]int, error) {
	if step < 0 || step >= s.steps {
		return nil, fmt.Errorf("schedule %s has no step %d", s, step+1)
	}
	out := map[string]int{}
	switch s.Kind {
	case "uniform":
		// Rounded down, as the reference's int(ratio * channels); the
		// small slack keeps 0.4 * 20 from landing on 7.999...
		k := float64(s.steps)
		for _, grp := range groups {
			c0 := float64(initial[grp.Name])
			out[grp.Name] = int(s.Ratio*c0*float64(step+1)/k+1e-9) - int(s.Ratio*c0*float64(step)/k+1e-9)
		}
	case "preset":
		var names []string
		for name := range s.counts[step] {
			names = append(names, name)
		}
		sort.Strings(names) // a stable first error
		for _, name := range names {
			n := s.counts[step][name]
			grp := Find(groups, name)
			if grp == nil {
				return nil, fmt.Errorf("preset %s prunes layer %s, which this model does not have as a prunable group", s.Name, name)
			}
			out[name] = int(math.Round(float64(n) * float64(initial[name]) / float64(s.ref[name])))
		}
	default:
		return nil, fmt.Errorf("schedule %s ranks channels globally; it has no per-group counts", s)
	}
	for _, grp := range groups {
		if out[grp.Name] >= grp.Channels {
			return nil, fmt.Errorf("schedule %s: step %d would remove %d of the %d channels of %s", s, step+1, out[grp.Name], grp.Channels, grp.Name)
		}
	}
	return out, nil
}

// Target is the fraction of the original MACs (or params) the model may
// keep after step (0-based) of a global schedule.
func (s *Schedule) Target(step int) float64 {
	return 1 - s.Ratio*float64(step+1)/float64(s.steps)
}
