package gp

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/evoprune/evoprune/pfunc"
)

// Selection methods (Config.Selection).
const (
	// SelectionBest keeps the Elites best individuals: truncation selection, the
	// reference's setting (selBest).
	SelectionBest = "best"
	// SelectionTournament picks each of the Elites parents as the best of TournamentSize
	// individuals drawn without replacement from those not yet picked (the reference's
	// selTour, which was off).
	SelectionTournament = "tournament"
)

// ReferenceSeeds are the seven hand-made functions the reference starts from
// (METHOD.md section 3), by their pfunc library names.
var ReferenceSeeds = []string{"abs_snr", "fdr", "sym_div", "t_stat", "l1", "l2", "geo_median_dist"}

// DefaultCostSizes is the layer at which the cost budget is checked by default: a
// mid-network convolution of the CPU protocol's scale (500 scored images of 10 classes,
// 16x16 feature maps, 64 input and 128 output channels, 3x3 kernels). The cost model
// counts the direct definition's operations per channel over all classes.
var DefaultCostSizes = pfunc.Sizes{N: 500, Classes: 10, D: 256, Cin: 64, Kh: 3, Kw: 3, Cout: 128}

// DefaultCostBudget is the default budget in operations per channel at DefaultCostSizes:
// about a second of one core for the direct evaluator in the worst case. It admits every
// function of the pfunc library (the discriminant information di costs 6.7e8, taylor
// 3.3e8, the seeds at most 9.4e7 for geo_median_dist, eq3 1.7e7) and rejects the
// quadratic blow-ups that random trees produce, such as out_dot of two sample matrices
// ((N*D)^2 entries, 3.3e11).
const DefaultCostBudget = 1e9

// Config holds the GP settings. DefaultConfig gives the reference's; JSON field names
// are those of a run's configuration file.
type Config struct {
	// Population is the number of individuals per generation. The initial population is
	// SeedCopies copies of each seed, filled up to Population with random trees
	// (ramped half-and-half, InitMinHeight..InitMaxHeight).
	Population int `json:"population"`
	// Generations is the number of generations a driver runs (Next itself does not
	// read it).
	Generations int `json:"generations"`
	// Seeds names the pfunc library functions of the initial population.
	Seeds []string `json:"seeds"`
	// SeedCopies is the number of copies of each seed in the initial population.
	SeedCopies int `json:"seed_copies"`
	// Elites is the number of parents selected each generation. They pass to the next
	// generation unchanged (and are not re-evaluated); the other Population - Elites
	// individuals are copies of random parents, then varied.
	Elites int `json:"elites"`
	// Selection is SelectionBest or SelectionTournament.
	Selection string `json:"selection"`
	// TournamentSize is the tournament size for SelectionTournament.
	TournamentSize int `json:"tournament_size"`
	// ReinjectSeeds adds this many copies of each seed to every generation's children,
	// before variation (the reference's DF_copy, 0 in its runs).
	ReinjectSeeds int `json:"reinject_seeds"`
	// CrossoverProb is the probability that a consecutive pair of children undergoes
	// one-point subtree crossover.
	CrossoverProb float64 `json:"crossover_prob"`
	// MutationProb is the probability that a child undergoes uniform subtree mutation.
	MutationProb float64 `json:"mutation_prob"`
	// MutMinHeight and MutMaxHeight bound the height of the full random tree a mutation
	// inserts; the height is drawn uniformly between them.
	MutMinHeight int `json:"mutation_min_height"`
	MutMaxHeight int `json:"mutation_max_height"`
	// InitMinHeight and InitMaxHeight bound the random initial trees' heights.
	InitMinHeight int `json:"init_min_height"`
	InitMaxHeight int `json:"init_max_height"`
	// MaxRetries is how many times an operator is tried on the same parents before they
	// are kept unchanged; also the attempts allowed per random initial tree, times 100.
	MaxRetries int `json:"max_retries"`
	// MaxDepth and MaxSize are the bloat limits: offspring deeper (pfunc.Node.Depth) or
	// larger (nodes) are invalid.
	MaxDepth int `json:"max_depth"`
	MaxSize  int `json:"max_size"`
	// CostBudget is the largest estimated cost (pfunc.Cost operations per channel) a
	// tree may have at each of CostSizes. In JSON the sizes use pfunc.Sizes' field
	// names (N, Classes, D, FC, Cin, Kh, Kw, FanIn, Cout).
	CostBudget float64       `json:"cost_budget"`
	CostSizes  []pfunc.Sizes `json:"cost_sizes"`
	// RequireFinite demands a finite score on TestInput, the reference's validity rule.
	RequireFinite bool `json:"require_finite"`
	// Typed makes the operators type-aware: random trees are grown so that every
	// operator node type-checks, and crossover swaps only subtrees of identical type in
	// every space (so crossover never breaks typing). Off, the operators are DEAP's
	// untyped ones and invalid offspring are only caught by the retry rule, as in the
	// reference (the default). Typed wastes fewer attempts, but its crossover cannot
	// swap subtrees of different types even where the result would be valid (a scalar
	// for a vector under add), so it explores a little less.
	Typed bool `json:"typed"`
	// Extended adds pfunc's opt-in extended operands (gamma, beta, G: the channel's BN
	// scale and shift and its loss gradient) to the default terminals. Off, the search
	// space is exactly the paper's.
	Extended bool `json:"extended_operands,omitempty"`
	// Terminals and Operators name the primitive set (pfunc.LookupOp names); empty means
	// the reference's nine operands (plus the extended ones if Extended) and 21
	// operators.
	Terminals []string `json:"terminals,omitempty"`
	Operators []string `json:"operators,omitempty"`
}

// DefaultConfig returns the reference settings (METHOD.md section 4) plus the bloat,
// cost and retry limits it lacked.
func DefaultConfig() Config {
	return Config{
		Population:     14,
		Generations:    10,
		Seeds:          append([]string(nil), ReferenceSeeds...),
		SeedCopies:     2,
		Elites:         6,
		Selection:      SelectionBest,
		TournamentSize: 3,
		CrossoverProb:  0.75,
		MutationProb:   0.75,
		MutMinHeight:   0,
		MutMaxHeight:   4,
		InitMinHeight:  1,
		InitMaxHeight:  4,
		MaxRetries:     50,
		MaxDepth:       17,
		MaxSize:        100,
		CostBudget:     DefaultCostBudget,
		CostSizes:      []pfunc.Sizes{DefaultCostSizes},
		RequireFinite:  true,
		Typed:          false,
	}
}

// Validate reports the first problem with the configuration, naming the field.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("gp: config: "+format, args...)) }
	if c.Population < 1 {
		bad("population %d: must be at least 1", c.Population)
	}
	if c.Generations < 0 {
		bad("generations %d: must not be negative", c.Generations)
	}
	if c.SeedCopies < 0 {
		bad("seed_copies %d: must not be negative", c.SeedCopies)
	}
	if c.ReinjectSeeds < 0 {
		bad("reinject_seeds %d: must not be negative", c.ReinjectSeeds)
	}
	for i, name := range c.Seeds {
		if _, ok := pfunc.Lookup(name); !ok {
			bad("seeds[%d]: unknown library function %q (known: %s)", i, name, strings.Join(libraryNames(), ", "))
		}
	}
	if n := len(c.Seeds) * c.SeedCopies; c.Population >= 1 && n > c.Population {
		bad("population %d is smaller than the %d seed copies (%d seeds x seed_copies %d)", c.Population, n, len(c.Seeds), c.SeedCopies)
	}
	if c.Elites < 1 {
		bad("elites %d: must be at least 1 (children are copies of the selected parents)", c.Elites)
	} else if c.Population >= 1 && c.Elites > c.Population {
		bad("elites %d exceeds population %d", c.Elites, c.Population)
	}
	if n := len(c.Seeds) * c.ReinjectSeeds; n > 0 && c.Elites >= 1 && c.Elites <= c.Population && c.Elites+n > c.Population {
		bad("elites %d plus %d reinjected seed copies exceed population %d", c.Elites, n, c.Population)
	}
	switch c.Selection {
	case SelectionBest:
	case SelectionTournament:
		if c.TournamentSize < 1 {
			bad("tournament_size %d: must be at least 1", c.TournamentSize)
		}
	default:
		bad("selection %q: want %q or %q", c.Selection, SelectionBest, SelectionTournament)
	}
	for _, p := range []struct {
		name string
		v    float64
	}{{"crossover_prob", c.CrossoverProb}, {"mutation_prob", c.MutationProb}} {
		if !(p.v >= 0 && p.v <= 1) {
			bad("%s %v: must be in [0, 1]", p.name, p.v)
		}
	}
	if c.MutMinHeight < 0 || c.MutMaxHeight < c.MutMinHeight {
		bad("mutation heights %d..%d: want 0 <= mutation_min_height <= mutation_max_height", c.MutMinHeight, c.MutMaxHeight)
	}
	if c.InitMinHeight < 0 || c.InitMaxHeight < c.InitMinHeight {
		bad("init heights %d..%d: want 0 <= init_min_height <= init_max_height", c.InitMinHeight, c.InitMaxHeight)
	}
	if c.MaxRetries < 1 {
		bad("max_retries %d: must be at least 1", c.MaxRetries)
	}
	if c.MaxDepth < 0 {
		bad("max_depth %d: must not be negative", c.MaxDepth)
	}
	if c.MaxSize < 1 {
		bad("max_size %d: must be at least 1", c.MaxSize)
	}
	if !(c.CostBudget > 0) || math.IsInf(c.CostBudget, 0) {
		bad("cost_budget %v: must be a positive finite number of operations", c.CostBudget)
	}
	if len(c.CostSizes) == 0 {
		bad("cost_sizes: at least one layer size is needed to check the cost budget")
	}
	for i, s := range c.CostSizes {
		// Cost validates the sizes; a one-leaf tree costs nothing, so only bad sizes fail.
		if _, err := pfunc.Cost(pfunc.Leaf(pfunc.OpN), s); err != nil {
			bad("cost_sizes[%d]: %v", i, err)
		}
	}
	if _, err := c.primitives(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func libraryNames() []string {
	var names []string
	for _, f := range pfunc.Library() {
		names = append(names, f.Name)
	}
	sort.Strings(names)
	return names
}

// primitives resolves the primitive set the configuration names.
func (c Config) primitives() (PrimitiveSet, error) {
	ps := DefaultPrimitives()
	if c.Extended {
		ps.Terminals = pfunc.OperandSet(true)
	}
	if len(c.Terminals) > 0 {
		ps.Terminals = nil
		for i, name := range c.Terminals {
			op, ok := pfunc.LookupOp(name)
			if !ok || op.Arity() != 0 {
				return PrimitiveSet{}, fmt.Errorf("gp: config: terminals[%d]: %q is not an operand", i, name)
			}
			ps.Terminals = append(ps.Terminals, op)
		}
	}
	if len(c.Operators) > 0 {
		ps.Operators = nil
		for i, name := range c.Operators {
			op, ok := pfunc.LookupOp(name)
			if !ok || op.Arity() < 1 {
				return PrimitiveSet{}, fmt.Errorf("gp: config: operators[%d]: %q is not an operator", i, name)
			}
			ps.Operators = append(ps.Operators, op)
		}
	}
	return ps, ps.Validate()
}
