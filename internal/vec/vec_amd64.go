//go:build amd64 && !purego

package vec

import "golang.org/x/sys/cpu"

func hasAsm() bool { return cpu.X86.HasAVX2 }

// The AVX2 kernels (vec_amd64.s) take n >= 8 elements.

//go:noescape
func scaleShiftAsm(dst, x *float32, n int, s, b float32)

//go:noescape
func scaleShiftReLUAsm(dst, z, x *float32, n int, s, b float32)

//go:noescape
func reluAsm(dst, x *float32, n int)

//go:noescape
func reluGradAsm(dx, y, grad *float32, n int)

//go:noescape
func addAsm(dst, a, b *float32, n int)

//go:noescape
func addReLUAsm(dst, z, a, b *float32, n int)

//go:noescape
func sum64Asm(x *float32, n int) float64

//go:noescape
func sumSqDev64Asm(x *float32, n int, mean float64) float64

// sumDyXhat64Asm takes dy = dz, or Mask(z, dz) when z is not nil.
//
//go:noescape
func sumDyXhat64Asm(z, dz, x *float32, n int, mean, inv float32) (sdy, sdyx float64)

// bnGradAsm: k holds k0, k1, k2, mean, inv; dy = dz, or Mask(z, dz) when
// z is not nil.
//
//go:noescape
func bnGradAsm(dx, z, dz, x *float32, n int, k *[5]float32)

// sgdMomentumAsm: k holds mu, decay, lr.
//
//go:noescape
func sgdMomentumAsm(w, grad, buf *float32, n int, k *[3]float32)
