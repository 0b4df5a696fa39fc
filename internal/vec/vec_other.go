//go:build !amd64 || purego

package vec

func hasAsm() bool { return false }

// The stubs below are never called (useAsm is false).

func scaleShiftAsm(dst, x *float32, n int, s, b float32)        { panic("vec: no assembly") }
func scaleShiftReLUAsm(dst, z, x *float32, n int, s, b float32) { panic("vec: no assembly") }
func reluAsm(dst, x *float32, n int)                            { panic("vec: no assembly") }
func reluGradAsm(dx, y, grad *float32, n int)                   { panic("vec: no assembly") }
func addAsm(dst, a, b *float32, n int)                          { panic("vec: no assembly") }
func addReLUAsm(dst, z, a, b *float32, n int)                   { panic("vec: no assembly") }
func sum64Asm(x *float32, n int) float64                        { panic("vec: no assembly") }
func sumSqDev64Asm(x *float32, n int, mean float64) float64     { panic("vec: no assembly") }
func bnGradAsm(dx, z, dz, x *float32, n int, k *[5]float32)     { panic("vec: no assembly") }
func sumDyXhat64Asm(z, dz, x *float32, n int, mean, inv float32) (float64, float64) {
	panic("vec: no assembly")
}

func sgdMomentumAsm(w, grad, buf *float32, n int, k *[3]float32) { panic("vec: no assembly") }
