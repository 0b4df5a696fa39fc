package pfunc

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
)

// LayerStats holds the sufficient statistics of one layer's feature maps, computed once
// so that many pruning functions can score the layer's channels cheaply (Score,
// ScoreAll). Per channel and per label it keeps the count, the shifted sum and sum of
// squares, the minimum and maximum and the column sums (float64 accumulation); the
// statistics of P, Q and X for any class follow by adding labels. The raw features are
// kept (not copied) so that a tree whose operators need whole matrices (mmul, tran,
// out_dot, inv, trace, elementwise operators on P, Q or X ...) can materialise them.
//
// A LayerStats is safe for concurrent use by several goroutines once built; the caller
// must not modify the features while it is in use.
type LayerStats struct {
	n, c, d int
	f32     []float32
	f64     []float64
	classes []int // the classes summed over, in order
	group   []int // group (distinct label) of each sample
	ngroups int
	cgroup  []int // group of each class
	cnt     []int // samples per group
	shift   []float64
	// per channel k and group g at k*ngroups+g: sums of (x - shift[k]) and of its
	// square, minimum and maximum of x; column sums of x at (k*ngroups+g)*d.
	s1, s2, mn, mx []float64
	col            []float64

	// extended operands (SetExtended): per channel BN scale and shift, and the loss
	// gradients laid out like the features; nil when not given.
	gamma, beta []float64
	g32         []float32
	g64         []float64
	// xg[k*d+i] is the sum over samples, in order, of x·g at position i of channel k:
	// the diagonal of XᵀG, from which the Taylor criterion follows.
	xg []float64

	materialised atomic.Int64 // how many P, Q, X or G matrices were built (tests)
}

// SetExtended supplies the layer's extended operands (see ExtendedOperands): gamma and
// beta the scale and shift of the batch normalisation after each channel (c values
// each, both nil if the layer has none) and grads the loss gradients of the feature
// maps, float64 laid out exactly like the features ([n][c][d], nil if not computed).
// With gradients it makes one pass over them and the features to add up x·g per channel
// and position (the statistic of the Taylor criterion, trace(mmul(tran(X), G))); grads
// is kept, not copied, for trees that need G itself. It replaces what an earlier call
// set. Call it before scoring, not concurrently with Score or ScoreAll.
func (s *LayerStats) SetExtended(gamma, beta []float64, grads []float64) error {
	if err := s.checkExtended(gamma, beta, len(grads), grads == nil); err != nil {
		return err
	}
	s.gamma, s.beta, s.g32, s.g64, s.xg = gamma, beta, nil, grads, nil
	if grads != nil {
		if s.f32 != nil {
			s.xg = columnDots(s.f32, grads, s.n, s.c, s.d)
		} else {
			s.xg = columnDots(s.f64, grads, s.n, s.c, s.d)
		}
	}
	return nil
}

// SetExtended32 is SetExtended for float32 gradients.
func (s *LayerStats) SetExtended32(gamma, beta []float64, grads []float32) error {
	if err := s.checkExtended(gamma, beta, len(grads), grads == nil); err != nil {
		return err
	}
	s.gamma, s.beta, s.g32, s.g64, s.xg = gamma, beta, grads, nil, nil
	if grads != nil {
		if s.f32 != nil {
			s.xg = columnDots(s.f32, grads, s.n, s.c, s.d)
		} else {
			s.xg = columnDots(s.f64, grads, s.n, s.c, s.d)
		}
	}
	return nil
}

// columnDots returns, for [n][c][d] features x and gradients g, the sum over samples of
// x·g at every channel k and position i, at k*d+i. Each sum adds its products in sample
// order, exactly as the diagonal of matmul(Xᵀ, G) does; channels are split among
// goroutines, which changes no sum.
func columnDots[A, B feature](x []A, g []B, n, c, d int) []float64 {
	acc := make([]float64, c*d)
	workers := min(runtime.GOMAXPROCS(0), c)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		lo, hi := w*c/workers, (w+1)*c/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := 0; t < n; t++ {
				off := (t*c + lo) * d
				xr, gr := x[off:off+(hi-lo)*d], g[off:off+(hi-lo)*d]
				a := acc[lo*d : hi*d]
				for i := range a {
					a[i] += float64(xr[i]) * float64(gr[i])
				}
			}
		}()
	}
	wg.Wait()
	return acc
}

func (s *LayerStats) checkExtended(gamma, beta []float64, ngrads int, noGrads bool) error {
	if (gamma == nil) != (beta == nil) {
		return errors.New("pfunc: SetExtended: gamma and beta go together (both nil if the layer has no batch normalisation)")
	}
	if gamma != nil && (len(gamma) != s.c || len(beta) != s.c) {
		return fmt.Errorf("pfunc: SetExtended: %d gamma and %d beta values for a layer of %d channels", len(gamma), len(beta), s.c)
	}
	if !noGrads && ngrads != s.n*s.c*s.d {
		return fmt.Errorf("pfunc: SetExtended: %d gradient values, want %d (laid out like the features: n=%d c=%d d=%d)", ngrads, s.n*s.c*s.d, s.n, s.c, s.d)
	}
	return nil
}

// gradMatrix materialises G of channel k (n x d), or reports false if no gradients
// were given.
func (s *LayerStats) gradMatrix(k int) (Value, bool) {
	if s.g32 == nil && s.g64 == nil {
		return Value{}, false
	}
	s.materialised.Add(1)
	data := make([]float64, s.n*s.d)
	for i := 0; i < s.n; i++ {
		off := (i*s.c + k) * s.d
		dst := data[i*s.d : (i+1)*s.d]
		if s.g64 != nil {
			copy(dst, s.g64[off:off+s.d])
			continue
		}
		for j, v := range s.g32[off : off+s.d] {
			dst[j] = float64(v)
		}
	}
	return Value{Kind: Array, Shape: []int{s.n, s.d}, Data: data}, true
}

// NewLayerStats computes the statistics of a layer from float64 features laid out
// row-major as [n][c][d] (n samples, c channels, d = H*W values per feature map; d = 1
// for a fully connected layer). labels[i] is sample i's label; classes lists the
// classes to sum over in order, nil meaning the sorted distinct labels (as ClassEnvs).
// Every class needs at least one sample and one non-sample.
func NewLayerStats(features []float64, n, c, d int, labels []int, classes []int) (*LayerStats, error) {
	s, err := newStats(n, c, d, len(features), labels, classes)
	if err != nil {
		return nil, err
	}
	s.f64 = features
	accumulate(s, features)
	return s, nil
}

// NewLayerStats32 is NewLayerStats for float32 features (accumulated in float64).
func NewLayerStats32(features []float32, n, c, d int, labels []int, classes []int) (*LayerStats, error) {
	s, err := newStats(n, c, d, len(features), labels, classes)
	if err != nil {
		return nil, err
	}
	s.f32 = features
	accumulate(s, features)
	return s, nil
}

// Channels is the number of channels.
func (s *LayerStats) Channels() int { return s.c }

// Classes lists the classes summed over, in order.
func (s *LayerStats) Classes() []int { return append([]int(nil), s.classes...) }

func newStats(n, c, d, size int, labels []int, classes []int) (*LayerStats, error) {
	if n < 1 || c < 1 || d < 1 {
		return nil, fmt.Errorf("pfunc: layer sizes n=%d c=%d d=%d must be positive", n, c, d)
	}
	if n*c*d != size {
		return nil, fmt.Errorf("pfunc: %d feature values for n=%d c=%d d=%d", size, n, c, d)
	}
	if len(labels) != n {
		return nil, fmt.Errorf("pfunc: %d labels for %d samples", len(labels), n)
	}
	s := &LayerStats{n: n, c: c, d: d, group: make([]int, n)}
	gid := map[int]int{}
	for i, l := range labels {
		g, ok := gid[l]
		if !ok {
			g = len(gid)
			gid[l] = g
			s.cnt = append(s.cnt, 0)
		}
		s.group[i] = g
		s.cnt[g]++
	}
	s.ngroups = len(gid)
	if classes == nil {
		for l := range gid {
			classes = append(classes, l)
		}
		sort.Ints(classes)
	}
	if len(classes) == 0 {
		return nil, errors.New("pfunc: no classes to score")
	}
	s.classes = append([]int(nil), classes...)
	for _, cl := range s.classes {
		g, ok := gid[cl]
		np := 0
		if ok {
			np = s.cnt[g]
		}
		if np == 0 || np == n {
			return nil, fmt.Errorf("pfunc: class %d has %d samples and %d others; both must be positive", cl, np, n-np)
		}
		s.cgroup = append(s.cgroup, g)
	}
	return s, nil
}

type feature interface{ ~float32 | ~float64 }

// accumulate fills the statistics. Samples are split into a fixed number of chunks
// (independent of the CPU count, so results are reproducible), accumulated in parallel
// and merged in order.
func accumulate[T feature](s *LayerStats, f []T) {
	n, c, d, G := s.n, s.c, s.d, s.ngroups
	// Shift: the mean of each channel over the first samples, so that the sums of
	// squares do not cancel when the variance is small against the mean.
	s.shift = make([]float64, c)
	m := min(n, 16)
	for i := 0; i < m; i++ {
		for k := 0; k < c; k++ {
			for _, v := range f[(i*c+k)*d : (i*c+k+1)*d] {
				s.shift[k] += float64(v)
			}
		}
	}
	for k := range s.shift {
		s.shift[k] /= float64(m * d)
	}
	chunks := min(16, (n+255)/256)
	type acc struct{ s1, s2, mn, mx, col []float64 }
	accs := make([]acc, chunks)
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for ch := 0; ch < chunks; ch++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(ch int) {
			defer func() { <-sem; wg.Done() }()
			a := acc{make([]float64, c*G), make([]float64, c*G), make([]float64, c*G), make([]float64, c*G), make([]float64, c*G*d)}
			for i := range a.mn {
				a.mn[i], a.mx[i] = math.Inf(1), math.Inf(-1)
			}
			lo, hi := ch*n/chunks, (ch+1)*n/chunks
			for i := lo; i < hi; i++ {
				g := s.group[i]
				for k := 0; k < c; k++ {
					row := f[(i*c+k)*d : (i*c+k+1)*d]
					sh := s.shift[k]
					ix := k*G + g
					colv := a.col[ix*d : ix*d+d]
					s1, s2, lo, hi := 0.0, 0.0, a.mn[ix], a.mx[ix]
					for j, v := range row {
						x := float64(v)
						colv[j] += x
						t := x - sh
						s1 += t
						s2 += t * t
						lo = min(lo, x)
						hi = max(hi, x)
					}
					a.s1[ix] += s1
					a.s2[ix] += s2
					a.mn[ix], a.mx[ix] = lo, hi
				}
			}
			accs[ch] = a
		}(ch)
	}
	wg.Wait()
	s.s1, s.s2, s.mn, s.mx, s.col = accs[0].s1, accs[0].s2, accs[0].mn, accs[0].mx, accs[0].col
	for _, a := range accs[1:] {
		for i := range s.s1 {
			s.s1[i] += a.s1[i]
			s.s2[i] += a.s2[i]
			s.mn[i] = min(s.mn[i], a.mn[i])
			s.mx[i] = max(s.mx[i], a.mx[i])
		}
		for i := range s.col {
			s.col[i] += a.col[i]
		}
	}
}

// row copies the feature map of sample i, channel k into dst as float64.
func (s *LayerStats) row(i, k int, dst []float64) {
	off := (i*s.c + k) * s.d
	if s.f64 != nil {
		copy(dst, s.f64[off:off+s.d])
		return
	}
	for j, v := range s.f32[off : off+s.d] {
		dst[j] = float64(v)
	}
}

// matrix materialises P (which=OpP), Q (OpQ) or X (OpX) of channel k for class index ci.
func (s *LayerStats) matrix(which Op, k, ci int) Value {
	s.materialised.Add(1)
	g := -1
	if which != OpX {
		g = s.cgroup[ci]
	}
	rows := 0
	switch which {
	case OpX:
		rows = s.n
	case OpP:
		rows = s.cnt[g]
	default:
		rows = s.n - s.cnt[g]
	}
	data := make([]float64, rows*s.d)
	r := 0
	for i := 0; i < s.n; i++ {
		if which == OpX || (which == OpP) == (s.group[i] == g) {
			s.row(i, k, data[r*s.d:(r+1)*s.d])
			r++
		}
	}
	return Value{Kind: Array, Shape: []int{rows, s.d}, Data: data}
}

// opStats are the pooled statistics of P, Q or X of one channel and class.
type opStats struct {
	rows          int
	shift, s1, s2 float64
	constant      bool
	s             *LayerStats
	k, ci         int
	which         Op
}

func (s *LayerStats) opStats(which Op, k, ci int) *opStats {
	o := &opStats{s: s, k: k, ci: ci, which: which, shift: s.shift[k]}
	G := s.ngroups
	g := -1
	if which != OpX {
		g = s.cgroup[ci]
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for h := 0; h < G; h++ {
		if which == OpP && h != g || which == OpQ && h == g {
			continue
		}
		ix := k*G + h
		o.rows += s.cnt[h]
		o.s1 += s.s1[ix]
		o.s2 += s.s2[ix]
		lo, hi = min(lo, s.mn[ix]), max(hi, s.mx[ix])
	}
	o.constant = lo == hi
	return o
}

func (o *opStats) size() float64 { return float64(o.rows * o.s.d) }

func (o *opStats) mean() float64 { return o.shift + o.s1/o.size() }

func (o *opStats) sum() float64 { return o.size()*o.shift + o.s1 }

func (o *opStats) variance() float64 {
	if o.constant {
		return 0
	}
	m := o.s1 / o.size()
	return max(0, o.s2/o.size()-m*m)
}

// colMean is the column mean (D values).
func (o *opStats) colMean() []float64 {
	s := o.s
	G, d := s.ngroups, s.d
	g := -1
	if o.which != OpX {
		g = s.cgroup[o.ci]
	}
	res := make([]float64, d)
	for h := 0; h < G; h++ {
		if o.which == OpP && h != g || o.which == OpQ && h == g {
			continue
		}
		ix := o.k*G + h
		for j, v := range s.col[ix*d : ix*d+d] {
			res[j] += v
		}
	}
	for j := range res {
		res[j] /= float64(o.rows)
	}
	return res
}
