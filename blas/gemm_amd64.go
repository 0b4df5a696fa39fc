//go:build !purego

package blas

//go:generate go run kernel_gen.go

import "golang.org/x/sys/cpu"

var (
	gemmAVX512 = &gemmFamily{name: "avx512", desc: "go-asm avx512 (12x32)", mr: 12, nr: 32, narrow: 16,
		mc: 480, kc: 384, nc: 512, smallM: 3, kernel: kernelAVX512, kernelCopy: kernelAVX512cp}
	gemmAVX2 = &gemmFamily{name: "avx2", desc: "go-asm avx2 (6x16)", mr: 6, nr: 16, narrow: 8,
		mc: 480, kc: 256, nc: 512, smallM: 4, kernel: kernelAVX2, kernelCopy: kernelAVX2cp}
)

// gemmFamilies lists the kernels this CPU runs, best first.
func gemmFamilies() []*gemmFamily {
	var fs []*gemmFamily
	if cpu.X86.HasAVX512F {
		fs = append(fs, gemmAVX512)
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		fs = append(fs, gemmAVX2)
	}
	return append(fs, gemmGeneric)
}

// avx2MaskTable's window at 8-n has n lanes set, then zeros.
var avx2MaskTable = [16]int32{-1, -1, -1, -1, -1, -1, -1, -1}

// avx2Mask returns the lane mask of the last vector for n valid columns
// (1..8), or nil when all 8 are.
func avx2Mask(n int) *int32 {
	if n >= 8 {
		return nil
	}
	return &avx2MaskTable[8-n]
}

var gemmHasAVX = cpu.X86.HasAVX

//go:noescape
func packRowsAVX(dst, src *float32, ld, h4, kc8, w int)

//go:noescape
func packRows8AVX(dst, src *float32, ld, h8, kc8, w int)

// packStep is the k steps packRowsAVX takes from 4 rows before moving to
// the next 4 (a multiple of 8).
const packStep = 64

// packRows interleaves h rows of length kc (row r at src[r*ld:]) into
// dst[p*w+r] with w = len(dst)/kc, 4x8 blocks at a time with AVX.
func packRows(dst, src []float32, ld, h, kc int) {
	h4, kc8 := h&^3, kc&^7
	if !gemmHasAVX || h4 == 0 || kc8 == 0 {
		packRowsGo(dst, src, ld, h, kc)
		return
	}
	w := len(dst) / kc
	_ = src[(h-1)*ld+kc-1]
	_ = dst[(kc-1)*w+h-1]
	h8 := h &^ 7
	for p := 0; p < kc8; p += packStep {
		if h8 > 0 {
			packRows8AVX(&dst[p*w], &src[p], ld, h8, min(packStep, kc8-p), w)
		}
		if h4 > h8 {
			packRowsAVX(&dst[p*w+h8], &src[h8*ld+p], ld, h4-h8, min(packStep, kc8-p), w)
		}
	}
	for r := 0; r < h; r++ {
		p0 := kc8
		if r >= h4 {
			p0 = 0
		}
		row := src[r*ld : r*ld+kc]
		d := dst[r:]
		for p := p0; p < kc; p++ {
			d[p*w] = row[p]
		}
	}
}

// peakFMA512 runs n iterations of 16 independent zmm FMAs (512 flops).
//
//go:noescape
func peakFMA512(n int)

// peakFMA256 runs n iterations of 14 independent ymm FMAs (224 flops).
//
//go:noescape
func peakFMA256(n int)
