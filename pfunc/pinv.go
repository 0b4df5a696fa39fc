package pfunc

import (
	"math"

	"gonum.org/v1/gonum/mat"
)

// pinvRcond is NumPy's default cutoff: singular values at most rcond times the largest
// are treated as zero.
const pinvRcond = 1e-15

// maxJacobiSweeps bounds the SVD iteration; one-sided Jacobi converges quadratically and
// needs well under 30 sweeps at float64 precision, so the bound only guards termination.
const maxJacobiSweeps = 60

// pinv returns the n x m Moore-Penrose pseudo-inverse of the row-major m x n matrix a,
// computed as np.linalg.pinv does (SVD, reciprocal of singular values above the cutoff).
// It reports false for non-finite input, where NumPy's SVD raises "did not converge".
func pinv(a []float64, m, n int) ([]float64, bool) {
	scale := 0.0
	for _, x := range a {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, false
		}
		scale = math.Max(scale, math.Abs(x))
	}
	if scale == 0 {
		return make([]float64, n*m), true
	}
	if m < n {
		// pinv(A) = pinv(Aᵀ)ᵀ, and the SVD below wants at least as many rows as columns.
		t := make([]float64, m*n)
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				t[j*m+i] = a[i*n+j]
			}
		}
		pt, ok := pinv(t, n, m) // m x n
		if !ok {
			return nil, false
		}
		res := make([]float64, n*m)
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				res[j*m+i] = pt[i*n+j]
			}
		}
		return res, true
	}
	if m == n && symmetric(a, n) {
		return pinvSym(a, n, scale)
	}
	// Work on A/scale so that squared column norms cannot overflow; pinv(A) = pinv(A/s)/s.
	u := make([]float64, m*n) // column-major: column j is u[j*m : (j+1)*m]
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			u[j*m+i] = a[i*n+j] / scale
		}
	}
	v := make([]float64, n*n) // column-major
	for j := 0; j < n; j++ {
		v[j*n+j] = 1
	}
	for sweep := 0; sweep < maxJacobiSweeps; sweep++ {
		rotated := false
		for p := 0; p < n-1; p++ {
			for q := p + 1; q < n; q++ {
				up, uq := u[p*m:(p+1)*m], u[q*m:(q+1)*m]
				alpha, beta, gamma := 0.0, 0.0, 0.0
				for i := range up {
					alpha += up[i] * up[i]
					beta += uq[i] * uq[i]
					gamma += up[i] * uq[i]
				}
				if gamma == 0 || math.Abs(gamma) <= 1e-15*math.Sqrt(alpha*beta) {
					continue
				}
				rotated = true
				zeta := (beta - alpha) / (2 * gamma)
				t := math.Copysign(1, zeta) / (math.Abs(zeta) + math.Sqrt(1+zeta*zeta))
				c := 1 / math.Sqrt(1+t*t)
				s := c * t
				for i := range up {
					x, y := up[i], uq[i]
					up[i] = c*x - s*y
					uq[i] = s*x + c*y
				}
				vp, vq := v[p*n:(p+1)*n], v[q*n:(q+1)*n]
				for i := range vp {
					x, y := vp[i], vq[i]
					vp[i] = c*x - s*y
					vq[i] = s*x + c*y
				}
			}
		}
		if !rotated {
			break
		}
	}
	sv := make([]float64, n)
	smax := 0.0
	for j := 0; j < n; j++ {
		s := 0.0
		for _, x := range u[j*m : (j+1)*m] {
			s += x * x
		}
		sv[j] = math.Sqrt(s)
		smax = math.Max(smax, sv[j])
	}
	cutoff := pinvRcond * smax
	// pinv = V diag(1/s) Uᵀ with U's columns u_j / s_j, so each term is v_j u_jᵀ / s_j².
	res := make([]float64, n*m)
	for j := 0; j < n; j++ {
		if !(sv[j] > cutoff) {
			continue
		}
		w := 1 / (sv[j] * sv[j] * scale)
		vj, uj := v[j*n:(j+1)*n], u[j*m:(j+1)*m]
		for r := 0; r < n; r++ {
			f := vj[r] * w
			if f == 0 {
				continue
			}
			row := res[r*m : (r+1)*m]
			for c, x := range uj {
				row[c] += f * x
			}
		}
	}
	return res, true
}

// symmetric reports whether the n x n matrix a equals its transpose exactly.
func symmetric(a []float64, n int) bool {
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			if a[i*n+j] != a[j*n+i] {
				return false
			}
		}
	}
	return true
}

// pinvSym is pinv for a symmetric matrix through its eigendecomposition A = V diag(λ) Vᵀ
// (LAPACK's dsyev as gonum implements it): the singular values of a symmetric matrix are
// the |λ|, so pinv(A) = V diag(1/λ) Vᵀ over the |λ| above NumPy's cutoff, as the SVD gives
// it. The inverses that matter here, of scatter matrices XᵀX + εI with D = H*W up to 1024,
// are symmetric, and this costs a few times less than the one-sided Jacobi SVD. scale is
// max|A|; like the SVD path it works on A/scale.
func pinvSym(a []float64, n int, scale float64) ([]float64, bool) {
	sym := mat.NewSymDense(n, nil)
	for i := 0; i < n; i++ {
		for j := i; j < n; j++ {
			sym.SetSym(i, j, a[i*n+j]/scale)
		}
	}
	var es mat.EigenSym
	if !es.Factorize(sym, true) {
		return nil, false
	}
	vals := es.Values(nil)
	var v mat.Dense
	es.VectorsTo(&v)
	big := 0.0
	for _, l := range vals {
		big = math.Max(big, math.Abs(l))
	}
	cutoff := pinvRcond * big
	// pinv = (V diag(1/λ)) Vᵀ / scale, the eigenvalues below the cutoff left out.
	vs := mat.NewDense(n, n, nil)
	for j, l := range vals {
		if !(math.Abs(l) > cutoff) {
			continue
		}
		f := 1 / (l * scale)
		for i := 0; i < n; i++ {
			vs.Set(i, j, v.At(i, j)*f)
		}
	}
	res := mat.NewDense(n, n, make([]float64, n*n))
	res.Mul(vs, v.T())
	return res.RawMatrix().Data, true
}
