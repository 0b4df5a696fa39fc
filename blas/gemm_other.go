//go:build !amd64 || purego

package blas

// gemmFamilies lists the kernels this build runs: the portable one.
func gemmFamilies() []*gemmFamily { return []*gemmFamily{gemmGeneric} }

func packRows(dst, src []float32, ld, h, kc int) { packRowsGo(dst, src, ld, h, kc) }
