// Package gp is the genetic-programming machinery over pruning-function trees (pfunc):
// a primitive set, random tree growth, one-point subtree crossover, uniform subtree
// mutation, truncation and tournament selection, and the generation step of the
// reference's search (METHOD.md section 4), in the manner of DEAP: small operators that
// compose, and a loop that reads like the paper's algorithm.
//
// The package never evaluates fitness. A driver (the evolve package) owns evaluation and
// runs the loop:
//
//	tb, err := gp.NewToolbox(cfg)              // checks the config once
//	pop, err := tb.Initial(gp.GenerationRand(seed, 0))
//	for g := 1; g <= cfg.Generations; g++ {
//		evaluate(pop)                             // set Fitness, Evaluated on the new ones
//		pop, err = tb.Next(pop, gp.GenerationRand(seed, g))
//	}
//
// Everything is a pure function of the configuration, the population and the random
// source, and each generation draws from its own source derived from (seed, generation),
// so a run resumes exactly from a saved population (State, JSON) without saving a
// random-number generator's internal position.
//
// # Validity
//
// Only valid trees enter a population (Toolbox.Valid): a tree must type-check in every
// standard space (pfunc.Check), respect the bloat limits (MaxDepth, MaxSize), stay within
// the cost budget at representative layer sizes (pfunc.CheckCost with Config.CostSizes),
// and, if RequireFinite is set as in the reference, score to a finite value on a fixed
// small synthetic layer (TestInput). An operator whose offspring is invalid is retried
// from the parents, at most MaxRetries times; then the parents are kept unchanged. The
// reference retried without limit.
//
// # Ranking
//
// Higher fitness is better. NaN fitness ranks below everything. On equal fitness the
// smaller tree (fewer nodes) ranks first, a parsimony tie-break that counters bloat
// without biasing the search whenever fitness differs; on equal size, the earlier
// individual in the population wins, so ranking is deterministic.
package gp
