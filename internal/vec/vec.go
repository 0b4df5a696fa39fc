// Package vec holds the element-wise loops of the training engine
// (BatchNorm, ReLU, residual adds) as SIMD kernels with a portable Go
// twin. These loops stream whole activations through memory a few
// operations per element; compiled Go runs them one element at a time,
// well below what memory delivers, which made them a quarter of a ResNet
// training step.
//
// Every kernel performs exactly the float32/float64 operations of its Go
// twin, in the same order (reductions keep 8 lanes, combined in a fixed
// tree, then the tail in sequence), so both give bitwise the same results
// and a test checks that. Slices must not overlap unless stated.
package vec

import "fmt"

// useAsm is set when the CPU runs the assembly kernels (AVX2 on amd64).
var useAsm = hasAsm()

func check(what string, n int, s ...[]float32) {
	for i, v := range s {
		if len(v) < n {
			panic(fmt.Sprintf("vec: %s operand %d has %d elements, need %d", what, i, len(v), n))
		}
	}
}

// ScaleShift sets dst[i] = x[i]*s + b (multiply, round, add; no FMA).
func ScaleShift(dst, x []float32, s, b float32) {
	n := len(x)
	check("ScaleShift", n, dst)
	if useAsm && n >= 8 {
		scaleShiftAsm(&dst[0], &x[0], n, s, b)
		return
	}
	scaleShiftGo(dst, x, s, b)
}

// ScaleShiftReLU is ScaleShift that also sets z[i] = max(dst[i], 0).
func ScaleShiftReLU(dst, z, x []float32, s, b float32) {
	n := len(x)
	check("ScaleShiftReLU", n, dst, z)
	if useAsm && n >= 8 {
		scaleShiftReLUAsm(&dst[0], &z[0], &x[0], n, s, b)
		return
	}
	scaleShiftReLUGo(dst, z, x, s, b)
}

// ReLU sets dst[i] = max(x[i], 0) with Go's max: NaN stays NaN, -0 gives +0.
func ReLU(dst, x []float32) {
	n := len(x)
	check("ReLU", n, dst)
	if useAsm && n >= 8 {
		reluAsm(&dst[0], &x[0], n)
		return
	}
	reluGo(dst, x)
}

// ReLUGrad adds g[i] into dx[i] where the ReLU output y[i] is positive,
// judged on the bits (see Mask).
func ReLUGrad(dx, y, g []float32) {
	n := len(y)
	check("ReLUGrad", n, dx, g)
	if useAsm && n >= 8 {
		reluGradAsm(&dx[0], &y[0], &g[0], n)
		return
	}
	reluGradGo(dx, y, g)
}

// Add sets dst[i] = a[i] + b[i]; dst may be a or b.
func Add(dst, a, b []float32) {
	n := len(a)
	check("Add", n, dst, b)
	if useAsm && n >= 8 {
		addAsm(&dst[0], &a[0], &b[0], n)
		return
	}
	addGo(dst, a, b)
}

// AddReLU is Add that also sets z[i] = max(dst[i], 0).
func AddReLU(dst, z, a, b []float32) {
	n := len(a)
	check("AddReLU", n, dst, z, b)
	if useAsm && n >= 8 {
		addReLUAsm(&dst[0], &z[0], &a[0], &b[0], n)
		return
	}
	addReLUGo(dst, z, a, b)
}

// AddTo sets dst[i] += x[i].
func AddTo(dst, x []float32) {
	n := len(x)
	check("AddTo", n, dst)
	if useAsm && n >= 8 {
		addAsm(&dst[0], &dst[0], &x[0], n)
		return
	}
	addGo(dst, dst, x)
}

// Sum64 returns the sum of x in float64.
func Sum64(x []float32) float64 {
	if useAsm && len(x) >= 8 {
		return sum64Asm(&x[0], len(x))
	}
	return sum64Go(x)
}

// SumSqDev64 returns the sum of (x[i]-mean)^2 in float64.
func SumSqDev64(x []float32, mean float64) float64 {
	if useAsm && len(x) >= 8 {
		return sumSqDev64Asm(&x[0], len(x), mean)
	}
	return sumSqDev64Go(x, mean)
}

// SumDyXhat64 returns sum(dy) and sum(dy*xhat) in float64, with
// xhat = (x-mean)*inv computed in float32, as BatchNorm's forward does.
func SumDyXhat64(dy, x []float32, mean, inv float32) (sdy, sdyx float64) {
	n := len(dy)
	check("SumDyXhat64", n, x)
	if useAsm && n >= 8 {
		return sumDyXhat64Asm(nil, &dy[0], &x[0], n, mean, inv)
	}
	return sumDyXhat64Go(nil, dy, x, mean, inv)
}

// SumDyXhatReLU64 is SumDyXhat64 with dy = Mask(z, dz): the gradient
// below a ReLU whose output is z and output gradient dz.
func SumDyXhatReLU64(z, dz, x []float32, mean, inv float32) (sdy, sdyx float64) {
	n := len(dz)
	check("SumDyXhatReLU64", n, z, x)
	if useAsm && n >= 8 {
		return sumDyXhat64Asm(&z[0], &dz[0], &x[0], n, mean, inv)
	}
	return sumDyXhat64Go(z, dz, x, mean, inv)
}

// BNGrad adds BatchNorm's input gradient into dx:
// dx[i] += ((k0*dy[i]) - k1) - k2*((x[i]-mean)*inv).
func BNGrad(dx, dy, x []float32, k0, k1, k2, mean, inv float32) {
	n := len(dy)
	check("BNGrad", n, dx, x)
	if useAsm && n >= 8 {
		bnGradAsm(&dx[0], nil, &dy[0], &x[0], n, &[5]float32{k0, k1, k2, mean, inv})
		return
	}
	bnGradGo(dx, nil, dy, x, k0, k1, k2, mean, inv)
}

// BNGradReLU is BNGrad with dy = Mask(z, dz).
func BNGradReLU(dx, z, dz, x []float32, k0, k1, k2, mean, inv float32) {
	n := len(dz)
	check("BNGradReLU", n, dx, z, x)
	if useAsm && n >= 8 {
		bnGradAsm(&dx[0], &z[0], &dz[0], &x[0], n, &[5]float32{k0, k1, k2, mean, inv})
		return
	}
	bnGradGo(dx, z, dz, x, k0, k1, k2, mean, inv)
}

// SGDMomentum is one momentum SGD update in PyTorch's order:
// buf[i] = (mu*buf[i] + g[i]) + decay*w[i], then w[i] -= lr*buf[i].
func SGDMomentum(w, g, buf []float32, mu, decay, lr float32) {
	n := len(w)
	check("SGDMomentum", n, g, buf)
	if useAsm && n >= 8 {
		sgdMomentumAsm(&w[0], &g[0], &buf[0], n, &[3]float32{mu, decay, lr})
		return
	}
	sgdMomentumGo(w, g, buf, mu, decay, lr)
}
