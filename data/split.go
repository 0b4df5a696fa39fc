package data

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
	"sort"
)

// SplitValidation holds out n images of train as a validation set, drawn
// per class in proportion to the class sizes (largest remainder, ties to
// the lower class), so a small validation set is as balanced as the
// training set and fitness scores are not skewed by an unlucky draw. The
// choice depends only on (train, n, seed). Both parts keep the original
// image order and are copies, so the caller may drop train.
func SplitValidation(train *Dataset, n int, seed uint64) (rest, val *Dataset, err error) {
	if n < 0 || n >= train.N {
		return nil, nil, fmt.Errorf("split %s: validation size %d, want 0 <= n < %d (the training set size)", train.Name, n, train.N)
	}
	if err := train.check(); err != nil {
		return nil, nil, fmt.Errorf("split %s: %w", train.Name, err)
	}

	byClass := make([][]int, train.Classes)
	for i, l := range train.Labels {
		byClass[l] = append(byClass[l], i)
	}
	quota := make([]int, train.Classes)
	rems := make([]int, train.Classes)
	left := n
	for c, members := range byClass {
		prod := int64(n) * int64(len(members))
		quota[c] = int(prod / int64(train.N))
		rems[c] = int(prod % int64(train.N))
		left -= quota[c]
	}
	// The remainders sum to left*N and each is below N, so at least `left`
	// classes have a positive remainder, and for those quota+1 <= size.
	order := make([]int, train.Classes)
	for c := range order {
		order[c] = c
	}
	sort.SliceStable(order, func(a, b int) bool { return rems[order[a]] > rems[order[b]] })
	for _, c := range order[:left] {
		quota[c]++
	}

	var r rng
	r.seed(seed, tagSplit, 0)
	inVal := make([]bool, train.N)
	for c, members := range byClass {
		r.shuffle(members)
		for _, i := range members[:quota[c]] {
			inVal[i] = true
		}
	}
	restIdx := make([]int, 0, train.N-n)
	valIdx := make([]int, 0, n)
	for i, v := range inVal {
		if v {
			valIdx = append(valIdx, i)
		} else {
			restIdx = append(restIdx, i)
		}
	}
	return train.Subset(restIdx), train.Subset(valIdx), nil
}

// Stream tags keep the random streams of different uses independent even
// when they share a user seed.
const (
	tagSplit   = 0x73706c6974 // "split"
	tagShuffle = 0x73687566   // "shuf"
	tagAugment = 0x61756773   // "augs"
)

// rng is a PCG generator with its own bounded-integer and shuffle helpers.
// math/rand/v2 fixes the PCG output stream but not the algorithms of IntN
// or Shuffle, so doing those here keeps splits and batch orders identical
// across Go releases, which reproducing a published run depends on.
type rng struct {
	pcg rand.PCG
}

// seed derives both PCG state words from (seed, tag, epoch) through
// splitmix64, so nearby seeds or epochs give unrelated streams.
func (r *rng) seed(seed, tag, epoch uint64) {
	a := splitmix64(seed ^ splitmix64(tag))
	b := splitmix64(a ^ splitmix64(epoch+0x9e3779b97f4a7c15))
	r.pcg.Seed(a, b)
}

// intn returns a uniform integer in [0, n) by Lemire's multiply-shift with
// rejection, which is exact and rarely loops.
func (r *rng) intn(n int) int {
	bound := uint64(n)
	hi, lo := bits.Mul64(r.pcg.Uint64(), bound)
	if lo < bound {
		thresh := -bound % bound
		for lo < thresh {
			hi, lo = bits.Mul64(r.pcg.Uint64(), bound)
		}
	}
	return int(hi)
}

// bit returns a fair coin flip.
func (r *rng) bit() bool {
	return r.pcg.Uint64()>>63 == 1
}

// shuffle permutes x uniformly (Fisher–Yates).
func (r *rng) shuffle(x []int) {
	for i := len(x) - 1; i > 0; i-- {
		j := r.intn(i + 1)
		x[i], x[j] = x[j], x[i]
	}
}

func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
