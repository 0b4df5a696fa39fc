// Package blas is evoprune's single door to matrix multiplication. Every
// convolution and linear layer goes through Sgemm, so the whole engine gets
// faster by swapping the implementation behind it (the pattern of gonum's
// blas64.Use). The default is pure Go, so `go install` works anywhere.
//
// The default implementation is Blocked: a BLIS-style packed, cache-blocked
// GEMM with Go-assembly micro-kernels (AVX-512 12x32 or AVX2+FMA 6x16 on
// amd64, chosen at run time; portable Go 4x4 elsewhere or with the purego
// build tag), multi-threaded over up to GOMAXPROCS goroutines with results
// that do not depend on the thread count. EVOPRUNE_GEMM_KERNEL=avx512|avx2|
// generic forces its kernel (GemmKernelError reports a bad value); Name
// says which one runs. Gonum and Reference stay available through Use.
package blas

import (
	"fmt"
	"sync"

	gblas "gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// Float32 is a single-precision GEMM: C = alpha*op(A)*op(B) + beta*C with
// row-major matrices, op(A) m x k, op(B) k x n, C m x n, and leading
// dimensions lda, ldb, ldc (elements between consecutive rows).
type Float32 interface {
	Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int,
		b []float32, ldb int, beta float32, c []float32, ldc int)
	// Name says which implementation and kernel runs, so a slow fallback is
	// never silent.
	Name() string
}

var (
	mu   sync.RWMutex
	impl Float32 = Blocked{}
)

// Use replaces the implementation used by Sgemm and returns the previous one.
func Use(f Float32) Float32 {
	mu.Lock()
	defer mu.Unlock()
	old := impl
	impl = f
	return old
}

// Implementation returns the implementation in use.
func Implementation() Float32 {
	mu.RLock()
	defer mu.RUnlock()
	return impl
}

// Sgemm runs the current implementation. See Float32 for the meaning.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int,
	b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	Implementation().Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Gonum is the pure-Go implementation from gonum.org/v1/gonum/blas/gonum.
type Gonum struct{}

// Name implements Float32.
func (Gonum) Name() string { return "gonum (pure Go)" }

// Sgemm implements Float32.
func (Gonum) Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int,
	b []float32, ldb int, beta float32, c []float32, ldc int) {
	if k == 0 {
		// gonum rejects k == 0; the product is empty, so only scale C.
		scale(m, n, beta, c, ldc)
		return
	}
	gonum.Implementation{}.Sgemm(trans(transA), trans(transB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func trans(t bool) gblas.Transpose {
	if t {
		return gblas.Trans
	}
	return gblas.NoTrans
}

func scale(m, n int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

// Reference is a naive triple loop accumulating in float64. It is slow and
// exists to check the fast implementations against.
type Reference struct{}

// Name implements Float32.
func (Reference) Name() string { return "reference (naive, float64 accumulation)" }

// Sgemm implements Float32.
func (Reference) Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int,
	b []float32, ldb int, beta float32, c []float32, ldc int) {
	at := func(i, p int) float32 {
		if transA {
			return a[p*lda+i]
		}
		return a[i*lda+p]
	}
	bt := func(p, j int) float32 {
		if transB {
			return b[j*ldb+p]
		}
		return b[p*ldb+j]
	}
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				s += float64(at(i, p)) * float64(bt(p, j))
			}
			v := float64(alpha) * s
			if beta != 0 {
				v += float64(beta) * float64(c[i*ldc+j])
			}
			c[i*ldc+j] = float32(v)
		}
	}
}

// String describes a GEMM shape for error messages and benchmarks.
func String(m, n, k int) string { return fmt.Sprintf("%dx%dx%d", m, n, k) }
