package gp

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/evoprune/evoprune/pfunc"
)

// Individual is one member of a population.
type Individual struct {
	// Tree is the pruning function. Trees are values: nothing in this package modifies
	// one, so individuals may share subtrees.
	Tree *pfunc.Node
	// Fitness is set by the driver once Evaluated; higher is better.
	Fitness float64
	// Evaluated is false for new offspring, which the driver must evaluate before Next.
	Evaluated bool
	// Origin says how the individual came about: "seed:NAME", "random:full:H" or
	// "random:grow:H", "copy" (an unvaried copy of a parent), "crossover", "mutation",
	// "crossover+mutation". Elites keep theirs.
	Origin string
}

type individualJSON struct {
	Expr      string   `json:"expr"`
	Fitness   *float64 `json:"fitness,omitempty"`
	Evaluated bool     `json:"evaluated"`
	Origin    string   `json:"origin,omitempty"`
}

// MarshalJSON writes the tree in prefix form (pfunc.Prefix, which reads back bit for
// bit) with its fitness; the fitness is left out while not evaluated. A non-finite
// fitness is an error: the driver scores failures as 0.
func (ind Individual) MarshalJSON() ([]byte, error) {
	if ind.Tree == nil {
		return nil, fmt.Errorf("gp: individual without a tree")
	}
	j := individualJSON{Expr: pfunc.Prefix(ind.Tree), Evaluated: ind.Evaluated, Origin: ind.Origin}
	if ind.Evaluated {
		if math.IsNaN(ind.Fitness) || math.IsInf(ind.Fitness, 0) {
			return nil, fmt.Errorf("gp: individual %s has non-finite fitness %v", j.Expr, ind.Fitness)
		}
		f := ind.Fitness
		j.Fitness = &f
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (ind *Individual) UnmarshalJSON(b []byte) error {
	var j individualJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	t, err := pfunc.ParseWithConstants(j.Expr)
	if err != nil {
		return fmt.Errorf("gp: individual expr %q: %w", j.Expr, err)
	}
	if j.Evaluated && j.Fitness == nil {
		return fmt.Errorf("gp: individual %s is evaluated but has no fitness", j.Expr)
	}
	*ind = Individual{Tree: t, Evaluated: j.Evaluated, Origin: j.Origin}
	if j.Fitness != nil {
		ind.Fitness = *j.Fitness
	}
	return nil
}

// State is what a driver saves after each generation to resume a run exactly: the seed,
// the generation index and its population. Generation g's random source is
// GenerationRand(Seed, g), so no generator position needs saving.
type State struct {
	Seed       uint64       `json:"seed"`
	Generation int          `json:"generation"`
	Population []Individual `json:"population"`
}

// GenerationRand returns generation g's random source for a run seeded with seed:
// generation 0 draws the initial population, generation g >= 1 breeds from generation
// g-1. Each generation's stream is fixed by (seed, g) alone, so a resumed run draws
// exactly what an uninterrupted one does.
func GenerationRand(seed uint64, generation int) *rand.Rand {
	// The golden-ratio multiplier spreads consecutive generations across the state
	// space; PCG's output function decorrelates them anyway.
	return rand.New(rand.NewPCG(seed, uint64(generation)*0x9e3779b97f4a7c15+0x6770))
}

// Stats counts what one generation step did, for reports.
type Stats struct {
	Pairs             int            // pairs that underwent crossover
	CrossoverFailures int            // pairs kept unchanged after MaxRetries (or no point)
	Mutations         int            // children that underwent mutation
	MutationFailures  int            // children kept unchanged after MaxRetries
	Rejected          map[Reason]int // invalid offspring drawn, by reason
}

func (st *Stats) reject(err error) {
	if st == nil {
		return
	}
	if st.Rejected == nil {
		st.Rejected = map[Reason]int{}
	}
	st.Rejected[reasonOf(err)]++
}

// Initial returns generation 0: SeedCopies copies of each seed (all seeds, then again),
// then random valid trees up to Population, ramped half-and-half: heights cycle
// through InitMinHeight..InitMaxHeight, alternately full and grown. None is evaluated.
func (tb *Toolbox) Initial(rng *rand.Rand) ([]Individual, error) {
	c := &tb.cfg
	pop := make([]Individual, 0, c.Population)
	for range c.SeedCopies {
		for _, f := range tb.seeds {
			pop = append(pop, Individual{Tree: f.Tree, Origin: "seed:" + f.Name})
		}
	}
	span := c.InitMaxHeight - c.InitMinHeight + 1
	for i := 0; len(pop) < c.Population; i++ {
		h := c.InitMinHeight + (i/2)%span
		full := i%2 == 0
		t, err := tb.RandomValidTree(rng, h, full)
		if err != nil {
			return nil, fmt.Errorf("gp: initial population, random tree %d: %w", i, err)
		}
		method := "grow"
		if full {
			method = "full"
		}
		pop = append(pop, Individual{Tree: t, Origin: fmt.Sprintf("random:%s:%d", method, h)})
	}
	return pop, nil
}

// Next breeds the next generation from an evaluated one (Breed without the counts).
func (tb *Toolbox) Next(pop []Individual, rng *rand.Rand) ([]Individual, error) {
	next, _, err := tb.Breed(pop, rng)
	return next, err
}

// Breed is one step of the reference's loop:
//
//  1. select Elites parents (truncation or tournament);
//  2. children: ReinjectSeeds copies of each seed plus copies of random parents, up to
//     Population - Elites, in random order;
//  3. one-point crossover on consecutive pairs of children with probability
//     CrossoverProb, then uniform mutation of each child with probability MutationProb,
//     each retried until valid (Crossover, Mutate);
//  4. the next generation is the parents, unchanged and still evaluated, then the
//     children, all to be evaluated (also the unvaried copies, as in the reference).
//
// Every individual of pop must be evaluated and pop must hold at least Elites.
func (tb *Toolbox) Breed(pop []Individual, rng *rand.Rand) ([]Individual, Stats, error) {
	c := &tb.cfg
	var st Stats
	if len(pop) < c.Elites {
		return nil, st, fmt.Errorf("gp: population of %d is smaller than elites %d", len(pop), c.Elites)
	}
	for i, ind := range pop {
		if ind.Tree == nil {
			return nil, st, fmt.Errorf("gp: individual %d has no tree", i)
		}
		if !ind.Evaluated {
			return nil, st, fmt.Errorf("gp: individual %d (%s) is not evaluated", i, pfunc.Prefix(ind.Tree))
		}
	}
	var parents []int
	var err error
	if c.Selection == SelectionTournament {
		parents, err = SelectTournament(pop, c.Elites, c.TournamentSize, rng)
	} else {
		parents, err = SelectBest(pop, c.Elites)
	}
	if err != nil {
		return nil, st, err
	}
	children := make([]Individual, 0, c.Population-c.Elites)
	for range c.ReinjectSeeds {
		for _, f := range tb.seeds {
			children = append(children, Individual{Tree: f.Tree, Origin: "seed:" + f.Name})
		}
	}
	for len(children) < c.Population-c.Elites {
		p := pop[parents[rng.IntN(len(parents))]]
		children = append(children, Individual{Tree: p.Tree, Origin: "copy"})
	}
	rng.Shuffle(len(children), func(i, j int) { children[i], children[j] = children[j], children[i] })

	for i := 0; i+1 < len(children); i += 2 {
		if rng.Float64() >= c.CrossoverProb {
			continue
		}
		st.Pairs++
		x, y, _, err := tb.crossover(rng, children[i].Tree, children[i+1].Tree, &st)
		if err != nil {
			st.CrossoverFailures++
			continue
		}
		children[i].Tree, children[i].Origin = x, "crossover"
		children[i+1].Tree, children[i+1].Origin = y, "crossover"
	}
	for i := range children {
		if rng.Float64() >= c.MutationProb {
			continue
		}
		st.Mutations++
		t, _, err := tb.mutate(rng, children[i].Tree, &st)
		if err != nil {
			st.MutationFailures++
			continue
		}
		children[i].Tree = t
		if children[i].Origin == "crossover" {
			children[i].Origin = "crossover+mutation"
		} else {
			children[i].Origin = "mutation"
		}
	}
	next := make([]Individual, 0, c.Population)
	for _, i := range parents {
		next = append(next, pop[i])
	}
	return append(next, children...), st, nil
}

// Initial is NewToolbox(cfg) followed by Toolbox.Initial.
func Initial(cfg Config, rng *rand.Rand) ([]Individual, error) {
	tb, err := NewToolbox(cfg)
	if err != nil {
		return nil, err
	}
	return tb.Initial(rng)
}

// Next is NewToolbox(cfg) followed by Toolbox.Next. Drivers that step many generations
// should keep one Toolbox instead, which checks the configuration once.
func Next(cfg Config, pop []Individual, rng *rand.Rand) ([]Individual, error) {
	tb, err := NewToolbox(cfg)
	if err != nil {
		return nil, err
	}
	return tb.Next(pop, rng)
}
