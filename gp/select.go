package gp

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
)

// Better reports whether a ranks strictly before b: higher fitness (NaN lowest), then
// the smaller tree. Individuals equal on both are tied; callers break the tie by
// population order.
func Better(a, b Individual) bool {
	fa, fb := rankFitness(a.Fitness), rankFitness(b.Fitness)
	if fa != fb {
		return fa > fb
	}
	return a.Tree.Size() < b.Tree.Size()
}

func rankFitness(f float64) float64 {
	if math.IsNaN(f) {
		return math.Inf(-1)
	}
	return f
}

// Rank returns the population's indices best first (Better, ties by index).
func Rank(pop []Individual) []int {
	idx := make([]int, len(pop))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return Better(pop[idx[a]], pop[idx[b]]) })
	return idx
}

// Best returns the index of the best individual (-1 for an empty population).
func Best(pop []Individual) int {
	best := -1
	for i := range pop {
		if best < 0 || Better(pop[i], pop[best]) {
			best = i
		}
	}
	return best
}

// SelectBest is truncation selection: the indices of the k best individuals, best
// first.
func SelectBest(pop []Individual, k int) ([]int, error) {
	if k < 0 || k > len(pop) {
		return nil, fmt.Errorf("gp: select %d of %d individuals", k, len(pop))
	}
	return Rank(pop)[:k], nil
}

// SelectTournament picks k distinct individuals, each the best (Better, ties to the one
// drawn first) of size individuals drawn without replacement from those not yet picked;
// when fewer than size remain, all of them compete. The reference drew all k*size
// contestants without replacement, which needs a population of at least k*size (18 for
// its 6 parents of tournaments of 3, more than its 14); this keeps its spirit (distinct
// parents, each won against size - 1 others) for any population.
func SelectTournament(pop []Individual, k, size int, rng *rand.Rand) ([]int, error) {
	if k < 0 || k > len(pop) {
		return nil, fmt.Errorf("gp: select %d of %d individuals", k, len(pop))
	}
	if size < 1 {
		return nil, fmt.Errorf("gp: tournament size %d: must be at least 1", size)
	}
	left := make([]int, len(pop))
	for i := range left {
		left[i] = i
	}
	out := make([]int, 0, k)
	for len(out) < k {
		// A partial Fisher-Yates shuffle draws the contestants to the front of left.
		m := min(size, len(left))
		for i := 0; i < m; i++ {
			j := i + rng.IntN(len(left)-i)
			left[i], left[j] = left[j], left[i]
		}
		win := 0
		for i := 1; i < m; i++ {
			if Better(pop[left[i]], pop[left[win]]) {
				win = i
			}
		}
		out = append(out, left[win])
		left = append(left[:win], left[win+1:]...)
	}
	return out, nil
}
