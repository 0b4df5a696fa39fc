package pfunc

import "math"

// Array kernels of the direct evaluator. They trade speed for being obviously NumPy's
// definitions: every result is a fresh slice, inputs are never written, and the loops
// follow the index arithmetic of a row-major array.

// rowStrides are the row-major strides of a shape.
func rowStrides(shape []int) []int {
	s := make([]int, len(shape))
	acc := 1
	for i := len(shape) - 1; i >= 0; i-- {
		s[i] = acc
		acc *= shape[i]
	}
	return s
}

// bcastStrides gives, for each axis of out, the stride of the operand with that shape
// when broadcast to out: 0 along axes it lacks or has size 1.
func bcastStrides(shape, out []int) []int {
	rs := rowStrides(shape)
	s := make([]int, len(out))
	off := len(out) - len(shape)
	for i := range shape {
		if shape[i] != 1 {
			s[off+i] = rs[i]
		}
	}
	return s
}

// bcast applies f elementwise with broadcasting; out is the broadcast shape.
func bcast(a, b Value, out []int, f func(x, y float64) float64) []float64 {
	n := shapeSize(out)
	res := make([]float64, n)
	sa, sb := bcastStrides(a.Shape, out), bcastStrides(b.Shape, out)
	idx := make([]int, len(out))
	oa, ob := 0, 0
	for i := 0; i < n; i++ {
		res[i] = f(a.Data[oa], b.Data[ob])
		for ax := len(out) - 1; ax >= 0; ax-- {
			idx[ax]++
			oa += sa[ax]
			ob += sb[ax]
			if idx[ax] < out[ax] {
				break
			}
			oa -= sa[ax] * out[ax]
			ob -= sb[ax] * out[ax]
			idx[ax] = 0
		}
	}
	return res
}

// mapValue applies f to every entry.
func mapValue(a Value, f func(float64) float64) []float64 {
	res := make([]float64, len(a.Data))
	for i, x := range a.Data {
		res[i] = f(x)
	}
	return res
}

// truncLast is a[..., :d].
func truncLast(a Value, d int) Value {
	r := len(a.Shape)
	last := a.Shape[r-1]
	if d >= last {
		return a
	}
	shape := append([]int(nil), a.Shape...)
	shape[r-1] = d
	rows := len(a.Data) / last
	data := make([]float64, 0, rows*d)
	for i := 0; i < rows; i++ {
		data = append(data, a.Data[i*last:i*last+d]...)
	}
	return Value{Kind: a.Kind, Shape: shape, Data: data}
}

// truncFirst is a[:d]: a prefix of the row-major data.
func truncFirst(a Value, d int) Value {
	if d >= a.Shape[0] {
		return a
	}
	shape := append([]int(nil), a.Shape...)
	shape[0] = d
	inner := len(a.Data) / a.Shape[0]
	return Value{Kind: a.Kind, Shape: shape, Data: a.Data[: d*inner : d*inner]}
}

// matmul is np.matmul for operands of rank >= 1 whose shapes matmulShape accepted.
func matmul(a, b Value) []float64 {
	as, bs := a.Shape, b.Shape
	if len(as) == 1 {
		as = []int{1, as[0]}
	}
	if len(bs) == 1 {
		bs = []int{bs[0], 1}
	}
	m, k, n := as[len(as)-2], as[len(as)-1], bs[len(bs)-1]
	ab, bb := as[:len(as)-2], bs[:len(bs)-2]
	batch := make([]int, max(len(ab), len(bb)))
	for i := 1; i <= len(batch); i++ {
		x, y := 1, 1
		if i <= len(ab) {
			x = ab[len(ab)-i]
		}
		if i <= len(bb) {
			y = bb[len(bb)-i]
		}
		batch[len(batch)-i] = max(x, y)
	}
	sa, sb := bcastStrides(ab, batch), bcastStrides(bb, batch)
	nb := shapeSize(batch)
	res := make([]float64, nb*m*n)
	idx := make([]int, len(batch))
	for bi := 0; bi < nb; bi++ {
		oa, ob := 0, 0
		for ax, v := range idx {
			oa += sa[ax] * v
			ob += sb[ax] * v
		}
		A := a.Data[oa*m*k : (oa+1)*m*k]
		B := b.Data[ob*k*n : (ob+1)*k*n]
		C := res[bi*m*n : (bi+1)*m*n]
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				s := 0.0
				for t := 0; t < k; t++ {
					s += A[i*k+t] * B[t*n+j]
				}
				C[i*n+j] = s
			}
		}
		for ax := len(idx) - 1; ax >= 0; ax-- {
			idx[ax]++
			if idx[ax] < batch[ax] {
				break
			}
			idx[ax] = 0
		}
	}
	return res
}

// transpose reverses all axes.
func transpose(a Value) Value {
	r := len(a.Shape)
	out := make([]int, r)
	for i, d := range a.Shape {
		out[r-1-i] = d
	}
	src := rowStrides(a.Shape)
	res := make([]float64, len(a.Data))
	idx := make([]int, r)
	off := 0
	for i := range res {
		res[i] = a.Data[off]
		for ax := r - 1; ax >= 0; ax-- {
			s := src[r-1-ax]
			idx[ax]++
			off += s
			if idx[ax] < out[ax] {
				break
			}
			off -= s * out[ax]
			idx[ax] = 0
		}
	}
	return Value{Kind: Array, Shape: out, Data: res}
}

// traceLeading is np.trace(a[:d, :d]) with d the smallest axis: the sum over i < d of
// a[i, i, ...], one entry per index of the trailing axes.
func traceLeading(a Value) []float64 {
	d := a.Shape[0]
	for _, s := range a.Shape {
		d = min(d, s)
	}
	rest := len(a.Data) / (a.Shape[0] * a.Shape[1])
	res := make([]float64, rest)
	for r := 0; r < rest; r++ {
		s := 0.0
		for i := 0; i < d; i++ {
			s += a.Data[(i*a.Shape[1]+i)*rest+r]
		}
		res[r] = s
	}
	return res
}

// invLeading is np.linalg.pinv(a[:d, :d] + 1e-4 I) with d the smallest axis, for
// rank >= 2; out is the result shape unaryShape computed (it checked the broadcast).
func invLeading(a Value, out []int) ([]float64, bool) {
	d := a.Shape[0]
	for _, s := range a.Shape {
		d = min(d, s)
	}
	// block = a[:d, :d]
	rest := len(a.Data) / (a.Shape[0] * a.Shape[1])
	bshape := append([]int{d, d}, a.Shape[2:]...)
	block := make([]float64, 0, d*d*rest)
	for i := 0; i < d; i++ {
		row := a.Data[i*a.Shape[1]*rest:]
		block = append(block, row[:d*rest]...)
	}
	eye := make([]float64, d*d)
	for i := 0; i < d; i++ {
		eye[i*d+i] = 1e-4
	}
	r := len(out)
	sum := make([]int, r)
	copy(sum, out)
	sum[r-1], sum[r-2] = out[r-2], out[r-1] // the matrix axes before pinv transposes them
	data := bcast(Value{Shape: bshape, Data: block}, Value{Shape: []int{d, d}, Data: eye}, sum, func(x, y float64) float64 { return x + y })
	m, n := sum[r-2], sum[r-1]
	res := make([]float64, len(data))
	for off := 0; off < len(data); off += m * n {
		p, ok := pinv(data[off:off+m*n], m, n)
		if !ok {
			return nil, false
		}
		copy(res[off:off+m*n], p)
	}
	return res, true
}

// geoMedian returns the slice a[..., i] (along the last axis) with the smallest sum of
// L2 distances to the other slices, the first on ties; NaN sums win as in np.argmin.
func geoMedian(a Value) []float64 {
	n := a.Shape[len(a.Shape)-1]
	s := len(a.Data) / n
	at := func(filter, j int) float64 { return a.Data[j*n+filter] }
	best, bestScore := 0, 0.0
	for i := 0; i < n; i++ {
		score := 0.0
		for o := 0; o < n; o++ {
			if o == i {
				continue
			}
			sq := 0.0
			for j := 0; j < s; j++ {
				diff := at(i, j) - at(o, j)
				sq += diff * diff
			}
			score += math.Sqrt(sq)
		}
		if i == 0 || (!math.IsNaN(bestScore) && (math.IsNaN(score) || score < bestScore)) {
			best, bestScore = i, score
		}
	}
	res := make([]float64, s)
	for j := range res {
		res[j] = at(best, j)
	}
	return res
}

func meanAll(a []float64) float64 {
	s := 0.0
	for _, x := range a {
		s += x
	}
	return s / float64(len(a))
}

// varAll is the population variance, two passes as np.var computes it.
func varAll(a []float64) float64 {
	m := meanAll(a)
	s := 0.0
	for _, x := range a {
		d := x - m
		s += d * d
	}
	return s / float64(len(a))
}

// meanAxis0 is np.mean(a, axis=0).
func meanAxis0(a Value) []float64 {
	rows := a.Shape[0]
	inner := len(a.Data) / rows
	res := make([]float64, inner)
	for i := 0; i < rows; i++ {
		for j, x := range a.Data[i*inner : (i+1)*inner] {
			res[j] += x
		}
	}
	for j := range res {
		res[j] /= float64(rows)
	}
	return res
}

// outer is np.outer of the flattened operands.
func outer(a, b Value) []float64 {
	res := make([]float64, 0, len(a.Data)*len(b.Data))
	for _, x := range a.Data {
		for _, y := range b.Data {
			res = append(res, x*y)
		}
	}
	return res
}
