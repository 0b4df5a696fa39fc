package gp_test

import (
	"fmt"

	"github.com/evoprune/evoprune/gp"
)

// The loop a driver runs: the toolbox checks the configuration once; each generation
// draws from its own source, so a run resumes from a saved population alone.
func Example() {
	cfg := gp.DefaultConfig() // the reference: 2 x 7 seeds, 6 elites, p = 0.75 and 0.75
	cfg.Generations = 3
	tb, err := gp.NewToolbox(cfg)
	if err != nil {
		panic(err)
	}
	const seed = 1
	pop, err := tb.Initial(gp.GenerationRand(seed, 0))
	if err != nil {
		panic(err)
	}
	for g := 1; g <= cfg.Generations; g++ {
		for i := range pop {
			if !pop[i].Evaluated { // the driver's job: prune, fine-tune, measure
				pop[i].Fitness = 1 / float64(pop[i].Tree.Size()) // a stand-in that likes small trees
				pop[i].Evaluated = true
			}
		}
		if pop, err = tb.Next(pop, gp.GenerationRand(seed, g)); err != nil {
			panic(err)
		}
	}
	best := pop[gp.Best(pop[:cfg.Elites])]
	fmt.Println(len(pop), "individuals; best elite:", best.Tree, "from", best.Origin)
	// The stand-in rewards small trees, and three generations find a single leaf.
	// Output:
	// 14 individuals; best elite: N from crossover+mutation
}
