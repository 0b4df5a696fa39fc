package pfunc

import (
	"sort"
	"strconv"
	"strings"
)

// Sym is a size symbol of the shape algebra: the dimensions a layer and a class give
// the operands.
type Sym uint8

// The size symbols. Nc and Nq change from class to class; the others are fixed for a
// channel.
const (
	SymN     Sym = iota // samples (rows of X)
	SymNc               // class-c samples (rows of P)
	SymNq               // other samples (rows of Q), N - Nc
	SymD                // values per feature map, H*W (1 for a fully connected node)
	SymCin              // input channels of a convolution
	SymKh               // kernel height
	SymKw               // kernel width
	SymCout             // active output channels (filters in W)
	SymFanIn            // inputs of a fully connected node
	numSyms
)

var symNames = [numSyms]string{"N", "Nc", "Nq", "D", "Cin", "Kh", "Kw", "Cout", "FanIn"}

// String returns the symbol's name.
func (s Sym) String() string {
	if s < numSyms {
		return symNames[s]
	}
	return "Sym(" + strconv.Itoa(int(s)) + ")"
}

// maxExponent bounds the powers a dimension may carry; beyond it an array could never
// be materialised (and the exponents must not overflow).
const maxExponent = 64

// mono is a product of symbols, as exponents; the zero mono is the literal 1.
type mono [numSyms]uint8

func (m mono) isOne() bool { return m == mono{} }

func (m mono) times(o mono) (mono, bool) {
	var r mono
	for i := range m {
		e := int(m[i]) + int(o[i])
		if e > maxExponent {
			return r, false
		}
		r[i] = uint8(e)
	}
	return r, true
}

// le reports whether m <= o for every admissible assignment of sizes >= 1. Besides
// exponent-wise comparison it knows Nc <= N and Nq <= N, and with manySamples also
// D <= Nc and D <= Nq: each factor of m is matched to a distinct factor of o at least as
// large, the least flexible factors first, which finds a matching if there is one
// because the relations form two chains D <= Nc <= N and D <= Nq <= N.
func (m mono) le(o mono, manySamples bool) bool {
	spare := o
	take := func(s Sym, n int, from ...Sym) int {
		for _, f := range from {
			k := min(n, int(spare[f]))
			spare[f] -= uint8(k)
			n -= k
		}
		return n
	}
	for i := range m {
		s := Sym(i)
		if s == SymN || s == SymNc || s == SymNq || s == SymD {
			continue
		}
		if m[i] > o[i] {
			return false
		}
	}
	if take(SymN, int(m[SymN]), SymN) > 0 ||
		take(SymNc, int(m[SymNc]), SymNc, SymN) > 0 ||
		take(SymNq, int(m[SymNq]), SymNq, SymN) > 0 {
		return false
	}
	if manySamples {
		return take(SymD, int(m[SymD]), SymD, SymNc, SymNq, SymN) == 0
	}
	return m[SymD] <= o[SymD]
}

func (m mono) less(o mono) bool {
	for i := range m {
		if m[i] != o[i] {
			return m[i] > o[i] // higher powers of earlier symbols first: N before D
		}
	}
	return false
}

func (m mono) String() string {
	if m.isOne() {
		return "1"
	}
	var parts []string
	for i, e := range m {
		switch {
		case e == 1:
			parts = append(parts, symNames[i])
		case e > 1:
			parts = append(parts, symNames[i]+"^"+strconv.Itoa(int(e)))
		}
	}
	return strings.Join(parts, "·")
}

// Dim is a symbolic size: the minimum of one or more products of symbols, e.g. D,
// min(D, Kw) or Nc·D. Truncation creates minima and out_dot creates products; both stay
// in this form because min(a, b)·c = min(a·c, b·c) for positive sizes. A Dim is kept
// canonical (no term dominated by another, terms sorted), so equal Dims are equal sizes
// for every assignment; the converse can fail only for relations the algebra does not
// know, which makes the type checker conservative, never unsound.
type Dim struct {
	terms       []mono
	manySamples bool // the algebra may use D <= Nc and D <= Nq (see Space.ManySamples)
}

func oneDim() Dim { return Dim{terms: []mono{{}}} }

func symDim(s Sym) Dim {
	var m mono
	m[s] = 1
	return Dim{terms: []mono{m}}
}

func (d Dim) canonical() Dim {
	var keep []mono
	for i, t := range d.terms {
		dominated := false
		for j, o := range d.terms {
			if i == j {
				continue
			}
			if o.le(t, d.manySamples) && (!t.le(o, d.manySamples) || j < i) {
				dominated = true
				break
			}
		}
		if !dominated {
			keep = append(keep, t)
		}
	}
	sort.Slice(keep, func(i, j int) bool { return keep[i].less(keep[j]) })
	return Dim{terms: keep, manySamples: d.manySamples}
}

// isOne reports whether the size is 1 for every assignment.
func (d Dim) isOne() bool { return len(d.terms) == 1 && d.terms[0].isOne() }

func (d Dim) eq(o Dim) bool {
	if len(d.terms) != len(o.terms) {
		return false
	}
	for i := range d.terms {
		if d.terms[i] != o.terms[i] {
			return false
		}
	}
	return true
}

func (d Dim) min(o Dim) Dim {
	return Dim{terms: append(append([]mono(nil), d.terms...), o.terms...), manySamples: d.manySamples || o.manySamples}.canonical()
}

func (d Dim) mul(o Dim) (Dim, bool) {
	var ts []mono
	for _, a := range d.terms {
		for _, b := range o.terms {
			p, ok := a.times(b)
			if !ok {
				return Dim{}, false
			}
			ts = append(ts, p)
		}
	}
	return Dim{terms: ts, manySamples: d.manySamples || o.manySamples}.canonical(), true
}

// mentions reports whether the size depends on symbol s.
func (d Dim) mentions(s Sym) bool {
	for _, t := range d.terms {
		if t[s] > 0 {
			return true
		}
	}
	return false
}

// eval returns the size for concrete symbol values (indexed by Sym); 0 if d is empty.
func (d Dim) eval(size [numSyms]int) float64 {
	best := -1.0
	for _, t := range d.terms {
		v := 1.0
		for i, e := range t {
			for k := 0; k < int(e); k++ {
				v *= float64(size[i])
			}
		}
		if best < 0 || v < best {
			best = v
		}
	}
	if best < 0 {
		return 0
	}
	return best
}

// String writes the size as "D", "Nc·D" or "min(D, Kw)".
func (d Dim) String() string {
	if len(d.terms) == 1 {
		return d.terms[0].String()
	}
	parts := make([]string, len(d.terms))
	for i, t := range d.terms {
		parts[i] = t.String()
	}
	return "min(" + strings.Join(parts, ", ") + ")"
}
