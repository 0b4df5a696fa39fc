//go:build !openblas || !cgo

package blas

import "errors"

// loadOpenBLAS in builds without the OpenBLAS backend (no -tags openblas,
// or cgo disabled): say how to get it.
func loadOpenBLAS(OpenBLASOptions) (Float32, error) {
	return nil, errors.New("blas: this binary has no OpenBLAS backend; rebuild it with " +
		"`go build -tags openblas ./cmd/evoprune` (needs cgo, i.e. gcc and CGO_ENABLED=1) and install " +
		"the library with `" + OpenBLASInstallHint + "` (see docs/BLAS.md)")
}
