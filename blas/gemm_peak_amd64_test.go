//go:build !purego

package blas

import (
	"fmt"
	"testing"

	"golang.org/x/sys/cpu"
)

// BenchmarkPeak measures one core's peak float32 FMA throughput with
// independent FMAs on registers: the 100 % for the GFLOPS of BenchmarkSgemm.
// Run it with -cpu 1.
func BenchmarkPeak(b *testing.B) {
	const iters = 1 << 20
	run := func(name string, ok bool, f func(int), flops float64) {
		b.Run(name, func(b *testing.B) {
			if !ok {
				b.Skip("CPU lacks it")
			}
			t := startGflops(b)
			for i := 0; i < b.N; i++ {
				f(iters)
			}
			t.report(b, flops*iters)
		})
	}
	run("avx512", cpu.X86.HasAVX512F, peakFMA512, 16*16*2)
	run("avx2", cpu.X86.HasAVX2 && cpu.X86.HasFMA, peakFMA256, 14*8*2)
}

// BenchmarkGemmKernel runs the full-tile micro-kernels alone on packed
// slivers that stay in L1/L2: the ceiling of the blocked GEMM.
func BenchmarkGemmKernel(b *testing.B) {
	for _, f := range []*gemmFamily{gemmAVX512, gemmAVX2} {
		if _, err := NewBlocked(f.name); err != nil {
			continue
		}
		for _, k := range []int{64, 256, 384} {
			// A few slivers of B so that A stays in L1 and B streams, as in
			// the blocked loops.
			const nb = 8
			a := make([]float32, f.mr*k)
			bs := make([]float32, nb*f.nr*k)
			c := make([]float32, nb*f.mr*f.nr)
			b.Run(fmt.Sprintf("%s_%dx%d/k=%d", f.name, f.mr, f.nr, k), func(b *testing.B) {
				t := startGflops(b)
				for i := 0; i < b.N; i++ {
					for j := 0; j < nb; j++ {
						f.kernel(f.mr, f.nr, k, a, bs[j*f.nr*k:], f.nr, c[j*f.nr:], nb*f.nr, 1, 1)
					}
				}
				t.report(b, 2*float64(f.mr*f.nr*k*nb))
			})
		}
	}
}

// BenchmarkGemmPack times the transposing pack (packRows) of 32 or 12 rows
// of a large matrix, with a power-of-two and an odd leading dimension.
func BenchmarkGemmPack(b *testing.B) {
	for _, h := range []int{32, 12} {
		for _, ld := range []int{16384, 16400, 1152} {
			const kc = 384
			rows := 144
			src := make([]float32, rows*ld)
			dst := make([]float32, rows*kc+64)
			b.Run(fmt.Sprintf("h=%d/ld=%d", h, ld), func(b *testing.B) {
				cpu0 := cpuSeconds()
				for i := 0; i < b.N; i++ {
					for p0 := 0; p0+kc <= ld; p0 += kc {
						for r := 0; r+h <= rows; r += h {
							packRows(dst[r*kc:r*kc+h*kc], src[r*ld+p0:], ld, h, kc)
						}
					}
				}
				el := float64(rows/h*h) * float64(ld/kc*kc) * float64(b.N)
				b.ReportMetric(b.Elapsed().Seconds()*1e9/el, "ns/elem")
				b.ReportMetric((cpuSeconds()-cpu0)*1e9/el, "cpu-ns/elem")
			})
		}
	}
}
