package vec

import "math"

// Mask returns g where the ReLU output y is positive and +0 elsewhere. It
// is a bit mask, not a branch (about half the outputs are positive, so a
// branch mispredicts constantly): all ones exactly when -bits(y), as an
// int32, is negative.
func Mask(y, g float32) float32 {
	m := uint32(-int32(math.Float32bits(y)) >> 31)
	return math.Float32frombits(math.Float32bits(g) & m)
}

// The Go twins. Explicit conversions round every product, so the compiler
// never fuses a multiply and an add (which it may do when allowed FMA).

func scaleShiftGo(dst, x []float32, s, b float32) {
	dst = dst[:len(x)]
	for i, v := range x {
		dst[i] = float32(v*s) + b
	}
}

func scaleShiftReLUGo(dst, z, x []float32, s, b float32) {
	dst, z = dst[:len(x)], z[:len(x)]
	for i, v := range x {
		y := float32(v*s) + b
		dst[i] = y
		z[i] = max(y, 0)
	}
}

func reluGo(dst, x []float32) {
	dst = dst[:len(x)]
	for i, v := range x {
		dst[i] = max(v, 0)
	}
}

func reluGradGo(dx, y, g []float32) {
	dx, g = dx[:len(y)], g[:len(y)]
	for i, v := range y {
		dx[i] += Mask(v, g[i])
	}
}

func addGo(dst, a, b []float32) {
	dst, b = dst[:len(a)], b[:len(a)]
	for i, v := range a {
		dst[i] = v + b[i]
	}
}

func addReLUGo(dst, z, a, b []float32) {
	dst, z, b = dst[:len(a)], z[:len(a)], b[:len(a)]
	for i, v := range a {
		y := v + b[i]
		dst[i] = y
		z[i] = max(y, 0)
	}
}

// lanes8 combines eight lane sums the way the kernels do.
func lanes8(a *[8]float64) float64 {
	c0, c1, c2, c3 := a[0]+a[4], a[1]+a[5], a[2]+a[6], a[3]+a[7]
	return (c0 + c2) + (c1 + c3)
}

func sum64Go(x []float32) float64 {
	var a [8]float64
	n8 := len(x) &^ 7
	for i := 0; i < n8; i += 8 {
		for l := range 8 {
			a[l] += float64(x[i+l])
		}
	}
	s := lanes8(&a)
	for _, v := range x[n8:] {
		s += float64(v)
	}
	return s
}

func sumSqDev64Go(x []float32, mean float64) float64 {
	var a [8]float64
	n8 := len(x) &^ 7
	for i := 0; i < n8; i += 8 {
		for l := range 8 {
			d := float64(x[i+l]) - mean
			a[l] += float64(d * d)
		}
	}
	s := lanes8(&a)
	for _, v := range x[n8:] {
		d := float64(v) - mean
		s += float64(d * d)
	}
	return s
}

// sumDyXhat64Go takes dy = dz, or Mask(z, dz) when z is not nil.
func sumDyXhat64Go(z, dz, x []float32, mean, inv float32) (float64, float64) {
	var s, t [8]float64
	n := len(dz)
	x = x[:n]
	if z != nil {
		z = z[:n]
	}
	dy := func(i int) float32 {
		if z != nil {
			return Mask(z[i], dz[i])
		}
		return dz[i]
	}
	n8 := n &^ 7
	for i := 0; i < n8; i += 8 {
		for l := range 8 {
			g := float64(dy(i + l))
			s[l] += g
			t[l] += float64(g * float64(float32(x[i+l]-mean)*inv))
		}
	}
	ss, tt := lanes8(&s), lanes8(&t)
	for i := n8; i < n; i++ {
		g := float64(dy(i))
		ss += g
		tt += float64(g * float64(float32(x[i]-mean)*inv))
	}
	return ss, tt
}

func bnGradGo(dx, z, dz, x []float32, k0, k1, k2, mean, inv float32) {
	n := len(dz)
	dx, x = dx[:n], x[:n]
	if z != nil {
		z = z[:n]
	}
	for i, g := range dz {
		if z != nil {
			g = Mask(z[i], g)
		}
		dx[i] += (float32(k0*g) - k1) - float32(k2*float32(float32(x[i]-mean)*inv))
	}
}

func sgdMomentumGo(w, g, buf []float32, mu, decay, lr float32) {
	g, buf = g[:len(w)], buf[:len(w)]
	for i, v := range w {
		b := float32(float32(mu*buf[i])+g[i]) + float32(decay*v)
		buf[i] = b
		w[i] = v - float32(lr*b)
	}
}
