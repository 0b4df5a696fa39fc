package pfunc

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

// smallEnv is a hand-checkable class environment: X is 4 x 3 with labels 0 0 1 1,
// class 0; filters are a 2x2 conv of 2 input channels and 3 output channels.
func smallEnv(t *testing.T) (*Env, layer) {
	t.Helper()
	l := layer{
		x:      [][]float64{{1, 2, 3}, {4, 5, 6}, {7, 8, 10}, {-1, 0, 2}},
		labels: []int{0, 0, 1, 1},
		wshape: []int{3, 2, 2, 2},
		k:      1,
	}
	for i := 0; i < 24; i++ {
		l.w = append(l.w, float64(i*i%7)-2.5+float64(i)/10)
	}
	envs := l.envs(t)
	return &envs[0], l
}

func evalSrc(t *testing.T, env *Env, src string) Value {
	t.Helper()
	v, err := Eval(mustParse(t, src), env)
	if err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	return v
}

func wantValue(t *testing.T, src string, v Value, kind Kind, shape []int, data []float64) {
	t.Helper()
	if v.Kind != kind || !sameShape(v.Shape, shape) {
		t.Fatalf("%s: %v %v, want %v %v", src, v.Kind, v.Shape, kind, shape)
	}
	for i := range data {
		if math.Abs(v.Data[i]-data[i]) > 1e-12*math.Max(1, math.Abs(data[i])) {
			t.Fatalf("%s: data %v, want %v", src, v.Data, data)
		}
	}
}

func TestOperatorSemantics(t *testing.T) {
	env, _ := smallEnv(t)
	// P = [[1 2 3] [4 5 6]], Q = [[7 8 10] [-1 0 2]], mX = [2.75 3.75 5.25]
	cases := []struct {
		src   string
		kind  Kind
		shape []int
		data  []float64
	}{
		{"mP", Array, []int{3}, []float64{2.5, 3.5, 4.5}},
		{"N", Scalar, nil, []float64{2}},
		{"num(X)", PyNumber, nil, []float64{4}},
		{"g_mean(P)", Scalar, nil, []float64{3.5}},
		{"var(P)", Scalar, nil, []float64{35.0 / 12}},
		{"std(mP)", Scalar, nil, []float64{math.Sqrt(2.0 / 3)}},
		{"mean(P)", Array, []int{3}, []float64{2.5, 3.5, 4.5}},
		{"tran(mmul(tran(mP), mP))", Scalar, nil, []float64{2.5*2.5 + 3.5*3.5 + 4.5*4.5}}, // 1-D @ 1-D is a NumPy scalar
		{"sub(P, mX)", Array, []int{2, 3}, []float64{-1.75, -1.75, -2.25, 1.25, 1.25, 0.75}},
		{"mul(P, mP)", Array, []int{2, 3}, []float64{2.5, 7, 13.5, 10, 17.5, 27}},
		{"mmul(P, mP)", Array, []int{2}, []float64{2.5 + 7 + 13.5, 10 + 17.5 + 27}},
		{"mmul(P, tran(P))", Array, []int{2, 2}, []float64{14, 32, 32, 77}},
		// mmul truncates a's last and b's first axis: mP[:2] @ P[:2] (a 2-vector times 2 x 3).
		{"mmul(mP, P)", Array, []int{3}, []float64{2.5 + 14, 5 + 17.5, 7.5 + 21}},
		{"out_dot(mP, N)", Array, []int{3, 1}, []float64{5, 7, 9}},
		{"tran(P)", Array, []int{3, 2}, []float64{1, 4, 2, 5, 3, 6}},
		{"trace(P)", Scalar, nil, []float64{6}},
		{"trace(mP)", Scalar, nil, []float64{2.5}},
		{"inv(mP)", Scalar, nil, []float64{0.4}},
		{"inv(N)", Scalar, nil, []float64{0.5}},
		{"inv(num(P))", PyNumber, nil, []float64{0.5}},
		{"tran(num(P))", Array, nil, []float64{2}}, // a Python int becomes a 0-d array
		{"tran(N)", Scalar, nil, []float64{2}},     // a NumPy scalar stays one
		{"rho5(rho1(N))", Scalar, nil, []float64{2.0501}},
		{"sqrt(sub(N, mX))", Array, []int{3}, []float64{math.NaN(), math.NaN(), math.NaN()}},
		{"geo_median(mP)", Array, nil, []float64{3.5}}, // the median element, as a 0-d array
		{"geo_median(P)", Array, []int{2}, []float64{2, 5}},
		{"div(mP, sub(N, N))", Array, []int{3}, []float64{math.Inf(1), math.Inf(1), math.Inf(1)}},
	}
	for _, c := range cases {
		v := evalSrc(t, env, c.src)
		if v.Kind != c.kind || !sameShape(v.Shape, c.shape) {
			t.Errorf("%s: %v %v, want %v %v", c.src, v.Kind, v.Shape, c.kind, c.shape)
			continue
		}
		for i := range c.data {
			got, want := v.Data[i], c.data[i]
			if math.IsNaN(want) != math.IsNaN(got) || !math.IsNaN(want) && math.Abs(got-want) > 1e-12*math.Max(1, math.Abs(want)) && got != want {
				t.Errorf("%s: %v, want %v", c.src, v.Data, c.data)
				break
			}
		}
	}
}

func TestOperatorShapeErrors(t *testing.T) {
	env, _ := smallEnv(t)
	for _, src := range []string{
		"add(P, mean(tran(P)))",     // [2, 3] + [2]
		"sub(tran(num(P)), P)",      // a 0-d array cannot be truncated
		"num(N)",                    // len of a scalar
		"mean(mX)",                  // shape[1] of a vector
		"geo_median(g_mean(P))",     // no last axis
		"trace(tran(num(P)))",       // np.min of an empty shape
		"mmul(P, tran(W))",          // core dimensions 3 vs Kw
		"add(add(P, Q), mul(X, X))", // P and Q have 2 rows, X has 4
	} {
		_, err := Eval(mustParse(t, src), env)
		var ee *EvalError
		if !errors.As(err, &ee) || !errors.Is(err, ErrShape) {
			t.Errorf("%s: %v, want a shape error", src, err)
		}
	}
}

func TestTraceAndInvOfStacks(t *testing.T) {
	env, l := smallEnv(t)
	// W in the reference layout is [Kh=2, Kw=2, Cin=2, Cout=3]; trace sums W[i, i, :, :]
	// over i < 2.
	w := env.W
	v := evalSrc(t, env, "trace(W)")
	want := make([]float64, 6)
	for i := 0; i < 2; i++ {
		for r := 0; r < 6; r++ {
			want[r] += w.Data[(i*2+i)*6+r]
		}
	}
	wantValue(t, "trace(W)", v, Array, []int{2, 3}, want)
	_ = l
	// inv of [2, 2, 2] (WI): d = 2, the identity broadcasts over the last two axes, and pinv
	// inverts each trailing 2 x 2 matrix (then transposes its axes).
	wi := env.WI
	v = evalSrc(t, env, "inv(WI)")
	if !sameShape(v.Shape, []int{2, 2, 2}) {
		t.Fatalf("inv(WI) shape %v", v.Shape)
	}
	for i := 0; i < 2; i++ {
		a, b := wi.Data[i*4+0]+1e-4, wi.Data[i*4+1]
		c, d := wi.Data[i*4+2], wi.Data[i*4+3]+1e-4
		det := a*d - b*c
		inv := []float64{d / det, -b / det, -c / det, a / det}
		for j := range inv {
			if relDiff(v.Data[i*4+j], inv[j]) > 1e-10 {
				t.Fatalf("inv(WI)[%d] = %v, want %v", i, v.Data[i*4:i*4+4], inv)
			}
		}
	}
}

func TestRidgeInverseOfSingularMatrix(t *testing.T) {
	env, _ := smallEnv(t)
	// inv(out_dot(mX, mX)) = (v vᵀ + εI)⁻¹ = (I − v vᵀ / (ε + vᵀv)) / ε (Sherman-Morrison).
	v := evalSrc(t, env, "inv(out_dot(mX, mX))")
	mx := env.MX.Data
	vv := 0.0
	for _, x := range mx {
		vv += x * x
	}
	const eps = 1e-4
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			want := -mx[i] * mx[j] / (eps + vv) / eps
			if i == j {
				want += 1 / eps
			}
			if relDiff(v.Data[i*3+j], want) > 1e-6 {
				t.Errorf("(%d, %d): %v, want %v", i, j, v.Data[i*3+j], want)
			}
		}
	}
}

func TestPinvProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, mn := range [][2]int{{4, 4}, {6, 3}, {3, 6}, {1, 5}, {7, 1}} {
		m, n := mn[0], mn[1]
		a := make([]float64, m*n)
		for i := range a {
			a[i] = r.NormFloat64() * 1e3
		}
		p, ok := pinv(a, m, n)
		if !ok {
			t.Fatal("pinv failed")
		}
		// A A⁺ A = A
		ap := matmulPlain(a, p, m, n, m)
		apa := matmulPlain(ap, a, m, m, n)
		for i := range a {
			if math.Abs(apa[i]-a[i]) > 1e-9*1e3 {
				t.Fatalf("%dx%d: A A+ A differs from A at %d: %v vs %v", m, n, i, apa[i], a[i])
			}
		}
	}
	if _, ok := pinv([]float64{1, math.NaN(), 0, 1}, 2, 2); ok {
		t.Error("pinv of NaN succeeded")
	}
	z, ok := pinv(make([]float64, 6), 2, 3)
	if !ok || len(z) != 6 {
		t.Error("pinv of zeros")
	}
}

// The symmetric path (eigendecomposition) agrees with the SVD path on symmetric
// matrices: well conditioned, rank deficient (a Gram matrix of fewer samples than
// dimensions, plus the ridge, as di builds it) and indefinite.
func TestPinvSymmetricMatchesSVD(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	svd := func(a []float64, n int) []float64 {
		// One entry nudged by one ulp: no longer exactly symmetric, so pinv
		// takes the Jacobi SVD path on what is numerically the same matrix.
		t.Helper()
		b := append([]float64(nil), a...)
		b[1] = math.Nextafter(b[1], math.Inf(1))
		p, ok := pinv(b, n, n)
		if !ok {
			t.Fatal("svd pinv failed")
		}
		return p
	}
	for _, tc := range []struct {
		name string
		n    int
		make func(n int) []float64
		tol  float64
	}{
		{"well conditioned", 12, func(n int) []float64 {
			a := make([]float64, n*n)
			for i := 0; i < n; i++ {
				for j := i; j < n; j++ {
					x := r.NormFloat64()
					a[i*n+j], a[j*n+i] = x, x
				}
				a[i*n+i] += float64(n)
			}
			return a
		}, 1e-10},
		{"gram of fewer samples plus ridge", 16, func(n int) []float64 {
			rows := 5
			y := make([]float64, rows*n)
			for i := range y {
				y[i] = r.NormFloat64()
			}
			a := gram(y, rows, n)
			for i := 0; i < n; i++ {
				a[i*n+i] += 1e-4
			}
			return a
		}, 1e-7},
		{"indefinite", 9, func(n int) []float64 {
			a := make([]float64, n*n)
			for i := 0; i < n; i++ {
				for j := i; j < n; j++ {
					x := r.NormFloat64() * 1e3
					a[i*n+j], a[j*n+i] = x, x
				}
			}
			return a
		}, 1e-8},
	} {
		a := tc.make(tc.n)
		if !symmetric(a, tc.n) {
			t.Fatalf("%s: test matrix not symmetric", tc.name)
		}
		got, ok := pinv(a, tc.n, tc.n)
		if !ok {
			t.Fatalf("%s: pinv failed", tc.name)
		}
		want := svd(a, tc.n)
		scale := 0.0
		for _, x := range want {
			scale = math.Max(scale, math.Abs(x))
		}
		for i := range want {
			if math.Abs(got[i]-want[i]) > tc.tol*scale {
				t.Fatalf("%s: entry %d: eigen %v, svd %v (tolerance %g of %g)", tc.name, i, got[i], want[i], tc.tol, scale)
			}
		}
		// Moore-Penrose: A A⁺ A = A.
		n := tc.n
		apa := matmulPlain(matmulPlain(a, got, n, n, n), a, n, n, n)
		amax := 0.0
		for _, x := range a {
			amax = math.Max(amax, math.Abs(x))
		}
		for i := range a {
			if math.Abs(apa[i]-a[i]) > 1e-8*amax {
				t.Fatalf("%s: A A+ A differs from A at %d: %v vs %v", tc.name, i, apa[i], a[i])
			}
		}
	}
}

func matmulPlain(a, b []float64, m, k, n int) []float64 {
	c := make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			for t := 0; t < k; t++ {
				c[i*n+j] += a[i*k+t] * b[t*n+j]
			}
		}
	}
	return c
}

func TestFilterOperandsLayout(t *testing.T) {
	// w[o][c][y][x] = 1000o + 100c + 10y + x, shape [3, 2, 2, 4]
	shape := []int{3, 2, 2, 4}
	var w []float64
	for o := 0; o < 3; o++ {
		for c := 0; c < 2; c++ {
			for y := 0; y < 2; y++ {
				for x := 0; x < 4; x++ {
					w = append(w, float64(1000*o+100*c+10*y+x))
				}
			}
		}
	}
	wi, bank, err := FilterOperands(w, shape, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !sameShape(wi.Shape, []int{2, 4, 2}) || !sameShape(bank.Shape, []int{2, 4, 2, 3}) {
		t.Fatalf("shapes %v %v", wi.Shape, bank.Shape)
	}
	// bank[y][x][c][o]
	at := func(y, x, c, o int) float64 { return bank.Data[((y*4+x)*2+c)*3+o] }
	if at(1, 3, 1, 2) != 2113 || at(0, 2, 1, 0) != 102 {
		t.Errorf("bank layout: %v %v", at(1, 3, 1, 2), at(0, 2, 1, 0))
	}
	if wi.Data[(1*4+3)*2+0] != 2013 {
		t.Errorf("WI layout: %v", wi.Data[(1*4+3)*2+0])
	}
	fwi, fbank, err := FilterOperands([]float64{1, 2, 3, 4, 5, 6}, []int{2, 3}, 1)
	if err != nil || !sameShape(fwi.Shape, []int{3}) || fwi.Data[0] != 4 || !sameShape(fbank.Shape, []int{3, 2}) || fbank.Data[1] != 4 {
		t.Errorf("fc layout: %v %v %v", fwi, fbank, err)
	}
	for _, bad := range []struct {
		shape []int
		k     int
	}{{[]int{3, 2, 2, 4}, 3}, {[]int{3, 2, 2, 5}, 0}, {[]int{48}, 0}, {[]int{3, 0, 2, 4}, 0}} {
		if _, _, err := FilterOperands(w, bad.shape, bad.k); err == nil {
			t.Errorf("FilterOperands(%v, %d) accepted", bad.shape, bad.k)
		}
	}
}

func TestEvalMalformedTreesDoNotPanic(t *testing.T) {
	env, _ := smallEnv(t)
	for _, n := range []*Node{
		nil,
		{Op: OpAdd},
		{Op: OpAdd, Args: []*Node{Leaf(OpP), nil}},
		{Op: Op(200)},
		{Op: OpAbs, Args: []*Node{{Op: OpP, Args: []*Node{Leaf(OpQ)}}}},
	} {
		if _, err := Eval(n, env); !errors.Is(err, ErrMalformed) {
			t.Errorf("%v: %v, want ErrMalformed", n, err)
		}
		_, _ = TypeOf(n, SpaceConv)
		_ = Infix(n)
		_ = LaTeX(n)
		_ = Prefix(n)
		_ = Simplify(n)
		_ = Canonical(n)
		_ = n.Size()
		_ = n.Depth()
		if n.Validate() == nil {
			t.Errorf("%v validates", n)
		}
	}
}

func TestEvalTooLarge(t *testing.T) {
	env, _ := smallEnv(t)
	big := "out_dot(out_dot(out_dot(X, X), out_dot(X, X)), out_dot(out_dot(X, X), out_dot(X, X)))"
	if _, err := Eval(mustParse(t, big), env); !errors.Is(err, ErrTooLarge) {
		t.Errorf("%s: %v", big, err)
	}
}
