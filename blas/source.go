package blas

import (
	"fmt"
	"sync"
)

// Source is a matrix that is produced block by block on demand instead of
// being stored whole. A convolution's im2col matrix is the motivating case:
// it is K*K times larger than the image it is gathered from, so writing it
// out and reading it back costs more memory traffic than the multiply-adds
// it feeds. Given as the B operand of SgemmSource, only cache-sized blocks of
// it ever exist.
//
// Block must be safe for concurrent calls (blocks are requested by several
// goroutines when the product is split across threads).
type Source interface {
	// Rows and Cols give the matrix's shape.
	Rows() int
	Cols() int
	// Block writes rows [r0, r0+nr) x columns [c0, c0+nc) of the matrix into
	// dst, row i at dst[i*ld : i*ld+nc]. It must not write dst outside those
	// ranges.
	Block(r0, nr, c0, nc int, dst []float32, ld int)
}

// SourceFloat32 is implemented by GEMM backends that take B from a Source
// without materialising it.
type SourceFloat32 interface {
	// SgemmSource is Sgemm with op(B) from src: src is k x n, or n x k when
	// transB. threads caps the goroutines used (0: GOMAXPROCS); callers
	// that already run one product per core pass 1.
	SgemmSource(threads int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int,
		src Source, beta float32, c []float32, ldc int)
}

// SgemmSource computes C = alpha*op(A)*op(B) + beta*C with op(B) taken from
// src (k x n, or n x k when transB). Backends without Source support get
// the matrix materialised once, so every backend gives the product.
func SgemmSource(threads int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int,
	src Source, beta float32, c []float32, ldc int) {
	rb, cb := k, n
	if transB {
		rb, cb = n, k
	}
	if src.Rows() != rb || src.Cols() != cb {
		panic(fmt.Sprintf("blas: SgemmSource needs a %dx%d source, got %dx%d", rb, cb, src.Rows(), src.Cols()))
	}
	if m == 0 || n == 0 {
		return
	}
	if s, ok := Implementation().(SourceFloat32); ok {
		s.SgemmSource(threads, transA, transB, m, n, k, alpha, a, lda, src, beta, c, ldc)
		return
	}
	// Other backends get the source materialised a slab at a time: column
	// slabs of C when op(B) = S, slabs of the k sum when op(B) = S^T.
	buf := materialised.Get().(*[]float32)
	defer materialised.Put(buf)
	// A slab is slab columns of the k x n source (op(B) = S) or slab
	// columns of the n x k source (op(B) = S^T): rows*slab floats.
	rows := k
	if transB {
		rows = n
	}
	slab := max(1, materialiseBudget/max(1, rows))
	if cap(*buf) < rows*slab {
		*buf = make([]float32, rows*slab)
	}
	if !transB {
		for j0 := 0; j0 < n; j0 += slab {
			nc := min(slab, n-j0)
			b := (*buf)[:k*nc]
			src.Block(0, k, j0, nc, b, nc)
			Sgemm(transA, false, m, nc, k, alpha, a, lda, b, nc, beta, c[j0:], ldc)
		}
		return
	}
	for p0 := 0; p0 < k; p0 += slab {
		kc := min(slab, k-p0)
		b := (*buf)[:n*kc]
		src.Block(0, n, p0, kc, b, kc)
		var aa []float32 // columns p0.. of op(A)
		if transA {
			aa = a[p0*lda:]
		} else {
			aa = a[p0:]
		}
		bet := beta
		if p0 > 0 {
			bet = 1
		}
		Sgemm(transA, true, m, n, kc, alpha, aa, lda, b, kc, bet, c, ldc)
	}
}

// materialiseBudget bounds (in float32s) the slab of a Source that
// SgemmSource materialises for backends without Source support.
var materialiseBudget = 1 << 20

var materialised = sync.Pool{New: func() any { return new([]float32) }}

// SgemmSource implements SourceFloat32.
func (g Blocked) SgemmSource(threads int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int,
	src Source, beta float32, c []float32, ldc int) {
	checkSizes(m, n, k)
	checkA(transA, m, n, k, a, lda)
	checkOperand("c", m, n, c, ldc, m, n, k)
	if k == 0 || alpha == 0 {
		scale(m, n, beta, c, ldc)
		return
	}
	f := g.family()
	nt, splitM, chunk, nchunks := gemmSplit(f, m, n, k)
	if threads > 0 {
		nt = min(nt, threads)
	}
	if nt <= 1 {
		ws := getWorkspace()
		f.serialSource(ws, transA, transB, m, n, k, alpha, a, lda, sourceView{src, 0, 0}, beta, c, ldc)
		putWorkspace(ws)
		return
	}
	job := jobPool.Get().(*gemmJob)
	job.f, job.transA, job.transB, job.m, job.n, job.k = f, transA, transB, m, n, k
	job.alpha, job.beta, job.a, job.b, job.c, job.lda, job.ldb, job.ldc = alpha, beta, a, nil, c, lda, 0, ldc
	job.src = src
	job.splitM, job.chunk, job.nchunks = splitM, chunk, nchunks
	job.dispatch(nt)
}

// sourceView is a Source seen from an offset, for the part of C one chunk
// of a threaded product computes.
type sourceView struct {
	src    Source
	r0, c0 int
}

func (v sourceView) block(r0, nr, c0, nc int, dst []float32, ld int) {
	v.src.Block(v.r0+r0, nr, v.c0+c0, nc, dst, ld)
}

// serialSource is serial with op(B) produced block by block from src. The
// k blocking is serial's, so the sums per element of C are ordered the same
// way for any thread count.
func (f *gemmFamily) serialSource(ws *gemmWorkspace, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int,
	src sourceView, beta float32, c []float32, ldc int) {
	kcs := blocks(k, f.kc, 1)
	ncs := blocks(n, f.nc, f.nr)
	if !transB && m <= f.smallM*f.mr {
		// Few rows: produce all k rows of a column block (small enough to
		// stay in cache) and let the small-M path read it in place.
		ld := (ncs+f.nr-1)/f.nr*f.nr + 16
		ws.s = aligned(&ws.sraw, k*ld)
		for jc := 0; jc < n; jc += ncs {
			nc := min(ncs, n-jc)
			src.block(0, k, jc, nc, ws.s, ld)
			f.serialSmallM(ws, transA, m, nc, k, kcs, alpha, a, lda, ws.s, ld, beta, c[jc:], ldc)
		}
		return
	}
	ws.sv = src
	f.blocked(ws, transA, transB, m, n, k, alpha, a, lda, &ws.sv, beta, c, ldc)
}

// pack implements bPacker: blocks of op(B) produced by the Source.
func (v *sourceView) pack(f *gemmFamily, ws *gemmWorkspace, transB bool, pc, kc, jc, nc, ldbt int) {
	if transB {
		// op(B) = S^T: produce S's rows [jc, jc+nc) x [pc, pc+kc) and pack
		// them as if they were a stored B^T.
		ws.s = aligned(&ws.sraw, nc*kc)
		v.block(jc, nc, pc, kc, ws.s, kc)
		packB(f, ws.s, kc, 0, kc, 0, nc, ws.b)
		return
	}
	v.block(pc, kc, jc, nc, ws.b, ldbt)
	if nce := (nc + f.nr - 1) / f.nr * f.nr; nce > nc {
		for p := 0; p < kc; p++ {
			clear(ws.b[p*ldbt+nc : p*ldbt+nce])
		}
	}
}
