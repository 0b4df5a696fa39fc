//go:build !purego

package direct

//go:generate go run gen.go

import "golang.org/x/sys/cpu"

var available = cpu.X86.HasAVX512F

// dw3 calls the weight-gradient kernel for mr output channels. The calls
// are direct, not through dw3Kernels, so that out can stay on the
// caller's stack (a call through a func value makes its arguments escape).
func dw3(mr int, x, d *float32, nimg, ximg, dimg, steps, row, ldd int, masks *uint16, out *[maxDW * 9 * 16]float32) {
	switch mr {
	case 1:
		dw3AVX512_1(x, d, nimg, ximg, dimg, steps, row, ldd, masks, &out[0])
	case 2:
		dw3AVX512_2(x, d, nimg, ximg, dimg, steps, row, ldd, masks, &out[0])
	default:
		dw3AVX512_3(x, d, nimg, ximg, dimg, steps, row, ldd, masks, &out[0])
	}
}
