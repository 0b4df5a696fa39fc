//go:build !amd64 || purego

package direct

// Without the amd64 assembly there are no kernels; callers use the GEMM route.
var available = false

var conv3Kernels [maxTile]func(a, x *float32, cin, plane, row int, masks *uint16, c *float32, ldc int, accumulate int)

func dw3(mr int, x, d *float32, nimg, ximg, dimg, steps, row, ldd int, masks *uint16, out *[maxDW * 9 * 16]float32) {
	panic("direct: no kernels in this build")
}
