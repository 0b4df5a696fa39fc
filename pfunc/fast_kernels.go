package pfunc

// Faster kernels for the fast evaluator. They compute exactly what the direct
// evaluator's kernels compute, in the same floating-point order, only with better
// memory access.

// fastBinaryData is binaryData with a cache-friendly matrix product for the common
// case of two matrices; everything else goes to binaryData.
func fastBinaryData(op Op, a, b Value, sa, sb shapeOf[cdim], out []int) []float64 {
	if op != OpMmul || a.Kind.isScalar() || b.Kind.isScalar() || a.Rank() != 2 || b.Rank() != 2 {
		return binaryData(op, a, b, sa, sb, out)
	}
	_, _, d := truncation(op, sa, sb)
	a = truncLast(a, int(d))
	b = truncFirst(b, int(d))
	return matmul2(a.Data, b.Data, a.Shape[0], a.Shape[1], b.Shape[1])
}

// matmul2 is the product of an m x k and a k x n matrix. Each entry accumulates its k
// products in increasing order starting from zero, as matmul does, so the results are
// identical; the loop order (i, t, j) reads both operands sequentially.
func matmul2(A, B []float64, m, k, n int) []float64 {
	C := make([]float64, m*n)
	for i := 0; i < m; i++ {
		c := C[i*n : (i+1)*n]
		for t := 0; t < k; t++ {
			x := A[i*k+t]
			brow := B[t*n : (t+1)*n]
			for j, y := range brow {
				c[j] += x * y
			}
		}
	}
	return C
}

// gram is tran(B) x B for an r x d matrix B: entry (i, j) accumulates B[t, i]*B[t, j]
// over t in increasing order from zero, as matmul of the transpose does (the products
// commute exactly), so the result is identical; only the upper triangle is computed.
func gram(B []float64, r, d int) []float64 {
	C := make([]float64, d*d)
	for t := 0; t < r; t++ {
		row := B[t*d : (t+1)*d]
		for i, x := range row {
			c := C[i*d : (i+1)*d]
			for j := i; j < d; j++ {
				c[j] += x * row[j]
			}
		}
	}
	for i := 0; i < d; i++ {
		for j := 0; j < i; j++ {
			C[i*d+j] = C[j*d+i]
		}
	}
	return C
}
