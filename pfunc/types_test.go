package pfunc

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestTypeOf(t *testing.T) {
	cases := []struct {
		src   string
		space Space
		want  string
	}{
		{"P", SpaceConv, "matrix[Nc × D]"},
		{"mmul(tran(X), X)", SpaceConv, "matrix[D × D]"},
		{"mmul(X, tran(X))", SpaceConv, "matrix[N × N]"},
		{"mean(P)", SpaceConv, "vector[D]"},
		{"mean(P)", SpaceFC, "scalar"}, // shape[1] == 1: the global mean
		{"geo_median(W)", SpaceConv, "array[Kh × Kw × Cin]"},
		{"geo_median(W)", SpaceFC, "vector[FanIn]"},
		{"sub(WI, mX)", SpaceConv, "array[Kh × Kw × min(D, Cin)]"},
		{"out_dot(P, mX)", SpaceConv, "matrix[Nc·D × D]"},
		{"num(P)", SpaceConv, "python number"},
		{"tran(num(P))", SpaceConv, "0-d array"},
		{"tran(g_mean(P))", SpaceConv, "scalar"},
		{"inv(num(P))", SpaceConv, "python number"},
		{"trace(W)", SpaceConv, "matrix[Cin × Cout]"},
		{"inv(X)", SpaceConv, "matrix[min(N, D) × min(N, D)]"},
		{"mul(P, mX)", SpaceConv, "matrix[Nc × D]"},
	}
	for _, c := range cases {
		ty, err := TypeOf(mustParse(t, c.src), c.space)
		if err != nil {
			t.Errorf("%s in %s: %v", c.src, c.space.Name, err)
			continue
		}
		if ty.String() != c.want {
			t.Errorf("%s in %s: %v, want %s", c.src, c.space.Name, ty, c.want)
		}
	}
	// Products are printed from out_dot sizes; check one by hand.
	ty, _ := TypeOf(mustParse(t, "out_dot(P, Q)"), SpaceConv)
	if ty.String() != "matrix[Nc·D × Nq·D]" {
		t.Errorf("out_dot(P, Q): %v", ty)
	}
}

func TestCheckRejectsWithReasons(t *testing.T) {
	cases := []struct {
		src, space, path, reason string
	}{
		{"add(P, Q)", "conv", "[]", "could not be broadcast together: [Nc, D] and [Nq, D] (axis 2 from the end: Nc vs Nq)"},
		{"P", "conv", "[]", "matrix[Nc × D] whose shape depends on the class"},
		{"g_mean(mean(mX))", "conv", "[0]", "mean needs an array of rank >= 2"},
		{"sum(num(N))", "conv", "[0]", "num (len) of a scalar"},
		{"sub(tran(num(P)), P)", "conv", "[]", "0-d array operand has no axis to truncate"},
		{"trace(tran(num(P)))", "conv", "[]", "trace of a 0-d array"},
		{"g_mean(geo_median(g_mean(W)))", "conv", "[0]", "geo_median of a scalar"},
		{"num(mean(P))", "conv-1x1-maps", "[]", "num (len) of a scalar"},
		{"sum(add(WI, mX))", "conv", "[0]", "(axis 1 from the end: Cin vs D)"},
		{"sum(mmul(P, W))", "conv", "[0]", "matmul core dimensions differ: min(D, Kh) vs Cin"},
	}
	for _, c := range cases {
		_, err := Check(mustParse(t, c.src))
		var te *TypeError
		if !errors.As(err, &te) {
			t.Errorf("%s: %v, want a TypeError", c.src, err)
			continue
		}
		if te.Space != c.space || !strings.Contains(te.Reason, c.reason) || fmt.Sprint([]int(te.Path)) != c.path {
			t.Errorf("%s:\n got %v\nwant space %s, path %s, reason containing %q", c.src, err, c.space, c.path, c.reason)
		}
	}
}

func TestManySamples(t *testing.T) {
	for _, src := range []string{"sum(mul(mX, P))", "inv(P)", "sum(mul(mQ, X))"} {
		n := mustParse(t, src)
		if _, err := Check(n); err == nil || !strings.Contains(err.Error(), "Space.ManySamples") {
			t.Errorf("%s: %v, want a rejection that points to ManySamples", src, err)
		}
		sp := SpaceConv
		sp.ManySamples = true
		if _, err := CheckIn(n, sp); err != nil {
			t.Errorf("%s: rejected assuming Nc, Nq >= D: %v", src, err)
		}
	}
	sp := SpaceConv
	sp.ManySamples = true
	ty, _ := TypeOf(mustParse(t, "inv(P)"), sp)
	if ty.String() != "matrix[D × D]" {
		t.Errorf("inv(P) with many samples: %v", ty)
	}
}

func TestDimAlgebra(t *testing.T) {
	n, nc, d := symDim(SymN), symDim(SymNc), symDim(SymD)
	if got := nc.min(n); !got.eq(nc) {
		t.Errorf("min(Nc, N) = %v, want Nc", got)
	}
	if got := d.min(oneDim()); !got.isOne() {
		t.Errorf("min(D, 1) = %v", got)
	}
	p, _ := nc.min(d).mul(d) // min(Nc, D)·D = min(Nc·D, D^2)
	if p.String() != "min(Nc·D, D^2)" {
		t.Errorf("product: %v", p)
	}
	m := d.min(nc)
	m.manySamples = true
	if got := m.canonical(); !got.eq(d) {
		t.Errorf("with many samples min(D, Nc) = %v", got)
	}
}

func TestCost(t *testing.T) {
	s := Sizes{N: 100, Classes: 2, D: 10, Cin: 3, Kh: 3, Kw: 3, Cout: 8}
	rep, err := Cost(mustParse(t, "sum(mmul(X, tran(X)))"), s)
	if err != nil {
		t.Fatal(err)
	}
	if rep.DominantOp != OpMmul || rep.DominantCost != 2*100*100*10 {
		t.Errorf("mmul N x D by D x N: %+v, want N*N*D per class = %d", rep, 100*100*10)
	}
	if want := 2 * (100.0*100*10 + 100*10 + 100*100); rep.Ops != want {
		t.Errorf("total %v, want %v", rep.Ops, want)
	}
	rep, _ = Cost(mustParse(t, "trace(inv(mmul(tran(X), X)))"), s)
	if rep.DominantOp != OpMmul || rep.Ops != 2*(10*100*10+100*10+10*10*10+10) {
		t.Errorf("inv of D x D: %+v", rep)
	}
	s.Classes = 10
	f, _ := Lookup("abs_snr")
	rep, _ = Cost(f.Tree, s)
	// Per class: g_mean(P) Nc*D + g_mean(Q) Nq*D + std 3*(Nc*D + Nq*D) + five scalar ops.
	if want := 10 * (10*10 + 90*10 + 3*(10*10+90*10) + 5.0); rep.Ops != want {
		t.Errorf("abs_snr: %v, want %v", rep.Ops, want)
	}
	err = CheckCost(mustParse(t, "sum(mmul(X, tran(X)))"), s, 1e4)
	if !errors.Is(err, ErrOverBudget) || !strings.Contains(err.Error(), "mmul") {
		t.Errorf("over budget: %v", err)
	}
	if err := CheckCost(f.Tree, s, 1e6); err != nil {
		t.Errorf("abs_snr within budget: %v", err)
	}
	if _, err := Cost(mustParse(t, "add(P, Q)"), s); err == nil {
		t.Error("Cost of an ill-typed tree")
	}
	if _, err := Cost(f.Tree, Sizes{N: 100, Classes: 1, D: 4}); err == nil {
		t.Error("Cost with one class")
	}
	fc := Sizes{N: 100, Classes: 10, FC: true, FanIn: 20, Cout: 30}
	rep, err = Cost(mustParse(t, "sqrt(sum(pow2(sub(WI, geo_median(W)))))"), fc)
	if err != nil || rep.DominantOp != OpGeoMedian || rep.DominantCost != 10*30*30*20 {
		t.Errorf("fc geo_median cost: %+v %v", rep, err)
	}
}
