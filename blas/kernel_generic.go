package blas

// gemmGeneric is the portable micro-kernel: 4x4 tiles in plain Go.
var gemmGeneric = &gemmFamily{name: "generic", desc: "go portable generic (4x4)", mr: 4, nr: 4,
	mc: 256, kc: 256, nc: 512, smallM: 6, kernel: kernelGeneric, kernelCopy: kernelGenericCopy}

// kernelGenericCopy is kernelGeneric on a full 4-column tile of B read in
// place (step p at b[p*bs:]), copied to bp[p*4:] first.
func kernelGenericCopy(mr, k int, a, b []float32, bs int, c []float32, ldc int, alpha, beta float32, bp []float32) {
	for p := 0; p < k; p++ {
		copy(bp[4*p:4*p+4], b[p*bs:p*bs+4])
	}
	kernelGeneric(mr, 4, k, a, bp, 4, c, ldc, alpha, beta)
}

// kernelGeneric computes an mr x nr tile (mr, nr <= 4) from an A sliver of
// height mr and a B sliver of width 4 (step p at b[p*bs:]), summing k in
// order.
func kernelGeneric(mr, nr, k int, a, b []float32, bs int, c []float32, ldc int, alpha, beta float32) {
	var acc [16]float32
	b = b[:(k-1)*bs+4]
	if mr == 4 {
		a = a[:4*k]
		var c00, c01, c02, c03, c10, c11, c12, c13 float32
		var c20, c21, c22, c23, c30, c31, c32, c33 float32
		for p := 0; p < k; p++ {
			ap := a[4*p : 4*p+4 : 4*p+4]
			bp := b[bs*p : bs*p+4 : bs*p+4]
			b0, b1, b2, b3 := bp[0], bp[1], bp[2], bp[3]
			a0 := ap[0]
			c00 += a0 * b0
			c01 += a0 * b1
			c02 += a0 * b2
			c03 += a0 * b3
			a1 := ap[1]
			c10 += a1 * b0
			c11 += a1 * b1
			c12 += a1 * b2
			c13 += a1 * b3
			a2 := ap[2]
			c20 += a2 * b0
			c21 += a2 * b1
			c22 += a2 * b2
			c23 += a2 * b3
			a3 := ap[3]
			c30 += a3 * b0
			c31 += a3 * b1
			c32 += a3 * b2
			c33 += a3 * b3
		}
		acc = [16]float32{c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33}
	} else {
		a = a[:mr*k]
		for p := 0; p < k; p++ {
			bp := b[bs*p : bs*p+4 : bs*p+4]
			for i := 0; i < mr; i++ {
				ai := a[p*mr+i]
				row := acc[4*i : 4*i+4 : 4*i+4]
				row[0] += ai * bp[0]
				row[1] += ai * bp[1]
				row[2] += ai * bp[2]
				row[3] += ai * bp[3]
			}
		}
	}
	for i := 0; i < mr; i++ {
		row := c[i*ldc : i*ldc+nr]
		for j := range row {
			v := alpha * acc[4*i+j]
			if beta != 0 {
				v += beta * row[j]
			}
			row[j] = v
		}
	}
}
