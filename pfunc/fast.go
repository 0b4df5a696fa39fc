package pfunc

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
)

// The fast evaluator. A tree is evaluated per class like Eval, but its leaves P, Q and X
// are lazy: they carry the pooled statistics of LayerStats, and the reductions g_mean,
// sum, std, var, mean and num of a lazy matrix are answered in closed form. Any other
// operator applied to P, Q or X materialises the matrix (the only costly case) and then
// runs the direct evaluator's kernels, so the semantics are Eval's by construction.
// Subtrees that do not depend on the class (no P, Q, N, mP, mQ) are evaluated once per
// channel (the extended operands gamma, beta and G are per channel), and subtrees over
// W and constants only once per call (once per layer in ScoreAll). trace(mmul(tran(X),
// G)), the Taylor criterion, comes from a statistic SetExtended computes.

// fres is an intermediate result: a materialised value, or a lazy P, Q or X.
type fres struct {
	v    Value
	lazy Op // 0, OpP, OpQ or OpX
	st   *opStats
}

const (
	levelLayer   = 0 // constants and W
	levelChannel = 1 // X, mX, WI
	levelClass   = 2 // P, Q, N, mP, mQ
)

func nodeLevels(n *Node, m map[*Node]uint8) uint8 {
	if n == nil {
		return levelClass
	}
	if l, ok := m[n]; ok {
		return l
	}
	var l uint8
	switch n.Op {
	case OpConst, OpW:
		l = levelLayer
	case OpX, OpMX, OpWI, OpGamma, OpBeta, OpG:
		l = levelChannel
	case OpP, OpQ, OpN, OpMP, OpMQ:
		l = levelClass
	default:
		for _, a := range n.Args {
			l = max(l, nodeLevels(a, m))
		}
		if !n.Op.Valid() {
			l = levelClass
		}
	}
	m[n] = l
	return l
}

// fastCtx is the state of scoring one tree: caches per layer, channel and class.
type fastCtx struct {
	s      *LayerStats
	levels map[*Node]uint8
	layer  map[*Node]fres
	w      Value

	// per channel
	k      int
	wi     Value
	chan_  map[*Node]fres
	xStats *opStats
	xMat   Value
	mX     Value
	gMat   Value

	// per class
	ci         int
	pSt, qSt   *opStats
	pMat, qMat Value
	mP, mQ     Value
}

func (s *LayerStats) newCtx(n *Node, w Value) *fastCtx {
	ctx := &fastCtx{s: s, levels: map[*Node]uint8{}, layer: map[*Node]fres{}, w: w}
	nodeLevels(n, ctx.levels)
	return ctx
}

func (c *fastCtx) setChannel(k int, wi Value) {
	c.k, c.wi = k, wi
	c.chan_ = map[*Node]fres{}
	c.xStats, c.xMat, c.mX, c.gMat = nil, Value{}, Value{}, Value{}
}

func (c *fastCtx) setClass(ci int) {
	c.ci = ci
	c.pSt, c.qSt, c.pMat, c.qMat, c.mP, c.mQ = nil, nil, Value{}, Value{}, Value{}, Value{}
}

func (c *fastCtx) stats(op Op) *opStats {
	switch op {
	case OpX:
		if c.xStats == nil {
			c.xStats = c.s.opStats(OpX, c.k, 0)
		}
		return c.xStats
	case OpP:
		if c.pSt == nil {
			c.pSt = c.s.opStats(OpP, c.k, c.ci)
		}
		return c.pSt
	}
	if c.qSt == nil {
		c.qSt = c.s.opStats(OpQ, c.k, c.ci)
	}
	return c.qSt
}

func (c *fastCtx) materialise(op Op) Value {
	var dst *Value
	switch op {
	case OpX:
		dst = &c.xMat
	case OpP:
		dst = &c.pMat
	default:
		dst = &c.qMat
	}
	if !dst.provided() {
		*dst = c.s.matrix(op, c.k, c.ci)
	}
	return *dst
}

func (c *fastCtx) colMean(op Op) Value {
	var dst *Value
	switch op {
	case OpMX:
		dst = &c.mX
	case OpMP:
		dst = &c.mP
	default:
		dst = &c.mQ
	}
	if !dst.provided() {
		src := map[Op]Op{OpMX: OpX, OpMP: OpP, OpMQ: OpQ}[op]
		*dst = Value{Kind: Array, Shape: []int{c.s.d}, Data: c.stats(src).colMean()}
	}
	return *dst
}

func (c *fastCtx) eval(n *Node, path Path) (fres, error) {
	if n != nil {
		switch c.levels[n] {
		case levelLayer:
			if r, ok := c.layer[n]; ok {
				return r, nil
			}
		case levelChannel:
			if r, ok := c.chan_[n]; ok {
				return r, nil
			}
		}
	}
	r, err := c.evalNode(n, path)
	if err != nil {
		return r, err
	}
	switch c.levels[n] {
	case levelLayer:
		c.layer[n] = r
	case levelChannel:
		c.chan_[n] = r
	}
	return r, nil
}

func (c *fastCtx) evalNode(n *Node, path Path) (fres, error) {
	fail := func(op Op, err error, format string, args ...any) (fres, error) {
		return fres{}, &EvalError{Path: append(Path(nil), path...), Op: op, Err: err, Msg: fmt.Sprintf(format, args...)}
	}
	if n == nil {
		return fail(0, ErrMalformed, "missing node")
	}
	if !n.Op.Valid() || len(n.Args) != n.Op.Arity() {
		return fail(n.Op, ErrMalformed, "%d arguments, wants %d", len(n.Args), n.Op.Arity())
	}
	switch n.Op {
	case OpConst:
		return fres{v: ScalarValue(n.Value)}, nil
	case OpP, OpQ, OpX:
		st := c.stats(n.Op)
		return fres{lazy: n.Op, st: st}, nil
	case OpN:
		return fres{v: ScalarValue(float64(c.stats(OpP).rows))}, nil
	case OpMX, OpMP, OpMQ:
		return fres{v: c.colMean(n.Op)}, nil
	case OpGamma, OpBeta:
		src := c.s.gamma
		if n.Op == OpBeta {
			src = c.s.beta
		}
		if src == nil {
			return fail(n.Op, ErrOperand, "%s", missingOperand(n.Op, true))
		}
		return fres{v: ScalarValue(src[c.k])}, nil
	case OpG:
		if !c.gMat.provided() {
			g, ok := c.s.gradMatrix(c.k)
			if !ok {
				return fail(n.Op, ErrOperand, "%s", missingOperand(n.Op, true))
			}
			c.gMat = g
		}
		return fres{v: c.gMat}, nil
	case OpWI, OpW:
		v := c.wi
		if n.Op == OpW {
			v = c.w
		}
		if !v.provided() {
			return fail(n.Op, ErrOperand, "%s", missingOperand(n.Op, true))
		}
		if !v.consistent() {
			return fail(n.Op, ErrOperand, "operand %s has %d values for shape %v", n.Op, len(v.Data), v.Shape)
		}
		return fres{v: v}, nil
	}
	if n.Op == OpTrace {
		// trace(mmul(tran(X), G)), the Taylor criterion's sum of x·g: from the statistic
		// SetExtended computed, without materialising X or G.
		if v, ok := c.traceXG(n.Args[0]); ok {
			return fres{v: ScalarValue(v)}, nil
		}
	}
	if n.Op == OpTrace && n.Args[0] != nil && n.Args[0].Op == OpMmul && len(n.Args[0].Args) == 2 {
		// trace(mmul(a, b)) of two matrices: only the diagonal of the product.
		if r, ok, err := c.traceOfProduct(n.Args[0], append(path[:len(path):len(path)], 0)); ok || err != nil {
			return r, err
		}
	}
	if n.Op == OpMmul && n.Args[0] != nil && n.Args[0].Op == OpTran && len(n.Args[0].Args) == 1 && n.Args[0].Args[0].Equal(n.Args[1]) {
		// mmul(tran(B), B), the scatter matrix of a matrix B: computed directly.
		b, err := c.eval(n.Args[1], append(path[:len(path):len(path)], 1))
		if err != nil {
			return fres{}, err
		}
		bv := b.v
		if b.lazy != 0 {
			bv = c.materialise(b.lazy)
		}
		if bv.Kind == Array && bv.Rank() == 2 {
			r, d := bv.Shape[0], bv.Shape[1]
			if d*d > MaxElements {
				return fail(n.Op, ErrTooLarge, "result [%d %d] exceeds %d entries", d, d, MaxElements)
			}
			return fres{v: Value{Kind: Array, Shape: []int{d, d}, Data: gram(bv.Data, r, d)}}, nil
		}
	}
	args := make([]fres, len(n.Args))
	for i, a := range n.Args {
		r, err := c.eval(a, append(path[:len(path):len(path)], i))
		if err != nil {
			return fres{}, err
		}
		args[i] = r
	}
	if len(args) == 1 && args[0].lazy != 0 {
		if r, ok, err := c.reduce(n.Op, args[0]); ok || err != nil {
			if err != nil {
				return fail(n.Op, ErrShape, "%v", err)
			}
			return r, nil
		}
	}
	vals := make([]Value, len(args))
	shapes := make([]shapeOf[cdim], len(args))
	for i, a := range args {
		if a.lazy != 0 {
			vals[i] = c.materialise(a.lazy)
		} else {
			vals[i] = a.v
		}
		shapes[i] = shapeOfValue(vals[i])
	}
	v, oerr := applyOp(n.Op, vals, shapes, fastBinaryData)
	if oerr != nil {
		return fail(n.Op, oerr.kind, "%s", oerr.msg)
	}
	return fres{v: v}, nil
}

// reduce answers a reduction of a lazy matrix from its statistics; ok is false if the
// operator needs the matrix itself.
func (c *fastCtx) reduce(op Op, a fres) (fres, bool, error) {
	st := a.st
	switch op {
	case OpGMean:
		return fres{v: ScalarValue(st.mean())}, true, nil
	case OpSum:
		return fres{v: ScalarValue(st.sum())}, true, nil
	case OpVar:
		return fres{v: ScalarValue(st.variance())}, true, nil
	case OpStd:
		return fres{v: ScalarValue(math.Sqrt(st.variance()))}, true, nil
	case OpNum:
		return fres{v: Value{Kind: PyNumber, Data: []float64{float64(st.rows)}}}, true, nil
	case OpMean:
		if c.s.d == 1 {
			return fres{v: ScalarValue(st.mean())}, true, nil
		}
		src := map[Op]Op{OpX: OpMX, OpP: OpMP, OpQ: OpMQ}[a.lazy]
		return fres{v: c.colMean(src)}, true, nil
	}
	return fres{}, false, nil
}

// Score is the score of channel k (as Score and ScoreEnvs define it) computed from the
// statistics: the tree evaluated for every class, each value summed over its entries,
// and the sums added. wi and w are the filter operands in the reference layout (see
// FilterOperands), zero Values if there are none. A NaN or infinite score is returned
// together with an error wrapping ErrNonFinite.
func (s *LayerStats) Score(n *Node, k int, wi, w Value) (float64, error) {
	if k < 0 || k >= s.c {
		return 0, fmt.Errorf("pfunc: channel %d outside the layer's %d channels", k, s.c)
	}
	for i, v := range []Value{wi, w} {
		if v.provided() && !v.consistent() {
			return 0, fmt.Errorf("pfunc: %s has %d values for shape %v", []string{"WI", "W"}[i], len(v.Data), v.Shape)
		}
	}
	ctx := s.newCtx(n, w)
	return ctx.score(n, k, wi)
}

func (c *fastCtx) score(n *Node, k int, wi Value) (float64, error) {
	c.setChannel(k, wi)
	total := 0.0
	var first []int
	for ci, cl := range c.s.classes {
		c.setClass(ci)
		r, err := c.eval(n, nil)
		if err != nil {
			return 0, fmt.Errorf("class %d: %w", cl, err)
		}
		v := r.v
		if r.lazy != 0 {
			v = c.materialise(r.lazy)
		}
		if ci == 0 {
			first = v.Shape
		} else if !sameShape(first, v.Shape) {
			return 0, &EvalError{Op: n.Op, Err: ErrShape,
				Msg: fmt.Sprintf("class %d gives shape %v but class %d gives %v: per-class values must stack", c.s.classes[0], first, cl, v.Shape)}
		}
		total += v.Sum()
	}
	if math.IsNaN(total) || math.IsInf(total, 0) {
		return total, fmt.Errorf("pfunc: score %v: %w", total, ErrNonFinite)
	}
	return total, nil
}

// ScoreAll scores every channel of the layer. w holds the layer's weights in evoprune's
// PyTorch layout with shape wshape ([Cout, Cin, Kh, Kw] or [Cout, FanIn], Cout the
// number of channels), converted as FilterOperands does; nil w means no filter operands.
// Subtrees over W alone (geo_median(W)) are evaluated once for the layer.
//
// Channels are scored in parallel (GOMAXPROCS goroutines, each with its own caches).
// It returns one score per channel. An evaluation error stops it; a non-finite score
// does not: the scores are all returned with an error wrapping ErrNonFinite that names
// the first such channel.
func (s *LayerStats) ScoreAll(n *Node, w []float64, wshape []int) ([]float64, error) {
	var bank Value
	if w != nil {
		if len(wshape) == 0 || wshape[0] != s.c {
			return nil, fmt.Errorf("pfunc: filter shape %v for a layer of %d channels", wshape, s.c)
		}
		var err error
		if _, bank, err = FilterOperands(w, wshape, 0); err != nil {
			return nil, err
		}
	}
	scores := make([]float64, s.c)
	errs := make([]error, s.c)
	var next atomic.Int64
	var failed atomic.Bool
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), s.c) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := s.newCtx(n, bank)
			for !failed.Load() {
				k := int(next.Add(1) - 1)
				if k >= s.c {
					return
				}
				var wi Value
				if w != nil {
					// bank is [..., Cout]: filter k is every Cout-th value.
					per := len(bank.Data) / s.c
					data := make([]float64, per)
					for r := range data {
						data[r] = bank.Data[r*s.c+k]
					}
					wi = Value{Kind: Array, Shape: append([]int(nil), bank.Shape[:len(bank.Shape)-1]...), Data: data}
				}
				scores[k], errs[k] = ctx.score(n, k, wi)
				if errs[k] != nil && !errors.Is(errs[k], ErrNonFinite) {
					failed.Store(true)
				}
			}
		}()
	}
	wg.Wait()
	var nonFinite error
	for k, err := range errs {
		if err != nil && !errors.Is(err, ErrNonFinite) {
			return nil, fmt.Errorf("channel %d: %w", k, err)
		}
	}
	for k, err := range errs {
		if err != nil {
			nonFinite = fmt.Errorf("channel %d: %w", k, err)
			break
		}
	}
	return scores, nonFinite
}

// traceXG computes trace(m) for m = mmul(tran(X), G) or mmul(tran(G), X) from the
// statistic SetExtended computed: the diagonal entry i of XᵀG is the sum over samples,
// in order, of X[t,i]·G[t,i], which SetExtended added in that order, and the diagonal is
// summed here in order, so the result is identical to traceOfProduct and the direct
// evaluator. ok is false if m has another form or no gradients were given (the normal
// path then reports it).
func (c *fastCtx) traceXG(m *Node) (float64, bool) {
	if m == nil || m.Op != OpMmul || len(m.Args) != 2 || c.s.xg == nil {
		return 0, false
	}
	a, b := m.Args[0], m.Args[1]
	if a == nil || b == nil || a.Op != OpTran || len(a.Args) != 1 || a.Args[0] == nil {
		return 0, false
	}
	if x, g := a.Args[0].Op, b.Op; !(x == OpX && g == OpG || x == OpG && g == OpX) {
		return 0, false
	}
	tr := 0.0
	for _, v := range c.s.xg[c.k*c.s.d : (c.k+1)*c.s.d] {
		tr += v
	}
	return tr, true
}

// traceOfProduct computes trace(m) for m = mmul(a, b) when a and b are matrices (arrays
// of rank 2), without forming the product: entry i of the diagonal accumulates its
// products in the order matmul does, and the diagonal is summed as traceLeading does,
// so the result is identical. ok is false for other operands (the caller then
// evaluates the tree normally); path is m's path.
func (c *fastCtx) traceOfProduct(m *Node, path Path) (fres, bool, error) {
	var vals [2]Value
	for i, a := range m.Args {
		r, err := c.eval(a, append(path[:len(path):len(path)], i))
		if err != nil {
			return fres{}, false, err
		}
		vals[i] = r.v
		if r.lazy != 0 {
			vals[i] = c.materialise(r.lazy)
		}
		if vals[i].Kind != Array || vals[i].Rank() != 2 {
			return fres{}, false, nil
		}
	}
	sa, sb := shapeOfValue(vals[0]), shapeOfValue(vals[1])
	if _, err := binaryShape(OpMmul, sa, sb); err != nil {
		return fres{}, false, nil // let the normal path report it
	}
	_, _, dd := truncation(OpMmul, sa, sb)
	a, b := truncLast(vals[0], int(dd)), truncFirst(vals[1], int(dd))
	rows, k, cols := a.Shape[0], a.Shape[1], b.Shape[1]
	d := min(rows, cols)
	tr := 0.0
	for i := 0; i < d; i++ {
		s := 0.0
		for t := 0; t < k; t++ {
			s += a.Data[i*k+t] * b.Data[t*cols+i]
		}
		tr += s
	}
	return fres{v: ScalarValue(tr)}, true, nil
}
