package pfunc

import (
	"errors"
	"strings"
	"testing"
)

func TestParseErrors(t *testing.T) {
	cases := []struct {
		src  string
		pos  int
		want string // substring of the message
	}{
		{"", 0, "empty input"},
		{"   \n\t", 5, "empty input"},
		{"foo(P)", 0, `unknown name "foo"`},
		{"div(P, mx)", 7, `unknown name "mx" (did you mean mX?)`},
		{"abs(P, Q)", 5, "too many arguments: abs takes 1 argument"},
		{"div(P)", 5, "div takes 2 arguments, got 1"},
		{"abs()", 4, "abs takes 1 argument, got 0"},
		{"div(abs(P), Q", 13, "expected ')' to close div( opened at byte 3, found end of input"},
		{"abs(P))", 6, "unbalanced ')'"},
		{"abs(P) Q", 7, `unexpected 'Q' after the complete expression`},
		{"abs P", 4, "expected '(' after operator abs, found 'P'"},
		{"abs", 3, "expected '(' after operator abs, found end of input"},
		{"P(Q)", 1, "operand P takes no arguments"},
		{"add(P Q)", 6, "expected ',' before argument 2 of add, found 'Q'"},
		{"add(P, )", 7, "expected an operand or operator name"},
		{"add(P, 0.5)", 7, "numeric constant \"0.5\": the reference primitive set has no constants"},
		{"sum(W) é", 7, "unexpected 'é'"},
		{"(P)", 0, "unexpected '('"},
		{"add(P,", 6, "found end of input"},
	}
	for _, c := range cases {
		_, err := Parse(c.src)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q) = %v, want a SyntaxError", c.src, err)
			continue
		}
		if se.Pos != c.pos || !strings.Contains(se.Msg, c.want) {
			t.Errorf("Parse(%q): byte %d %q, want byte %d containing %q", c.src, se.Pos, se.Msg, c.pos, c.want)
		}
		if !strings.Contains(err.Error(), "byte") {
			t.Errorf("error text %q lacks the position", err)
		}
	}
}

func TestParseDepthLimit(t *testing.T) {
	src := strings.Repeat("abs(", maxParseDepth+1) + "P" + strings.Repeat(")", maxParseDepth+1)
	var se *SyntaxError
	if _, err := Parse(src); !errors.As(err, &se) || !strings.Contains(se.Msg, "nesting") {
		t.Errorf("deep nesting: %v", err)
	}
	ok := strings.Repeat("abs(", 50) + "P" + strings.Repeat(")", 50)
	if n, err := Parse(ok); err != nil || n.Depth() != 50 {
		t.Errorf("depth 50: %v", err)
	}
}

func TestParseWhitespaceAndAliases(t *testing.T) {
	a, err := Parse(" div (\n abs(sub( g_mean(P),g_mean(Q) ) ),\trho1( add(std(P), std(Q)))) ")
	if err != nil {
		t.Fatal(err)
	}
	f, _ := Lookup("abs_snr")
	if !a.Equal(f.Tree) {
		t.Errorf("whitespace changed the tree: %s", a)
	}
	b, err := Parse("m_trace(m_inv(mmul(tran(X), X)))")
	if err != nil {
		t.Fatal(err)
	}
	if got := Prefix(b); got != "trace(inv(mmul(tran(X), X)))" {
		t.Errorf("aliases print as %s", got)
	}
}

func TestParseConstants(t *testing.T) {
	for _, src := range []string{"add(P, 0.5)", "add(P, -2e-4)", "mul(1e+300, N)", "add(.5, +3)", "add(N, -0)"} {
		n, err := ParseWithConstants(src)
		if err != nil {
			t.Errorf("%s: %v", src, err)
			continue
		}
		back, err := ParseWithConstants(Prefix(n))
		if err != nil || !back.Equal(n) {
			t.Errorf("%s -> %s does not round-trip: %v", src, Prefix(n), err)
		}
	}
	for _, src := range []string{"add(P, 1e999)", "add(P, -)", "add(P, 1.2.3)"} {
		if _, err := ParseWithConstants(src); err == nil {
			t.Errorf("%s accepted", src)
		}
	}
}

func TestLookupOp(t *testing.T) {
	if len(Operators) != 21 || len(Operands) != 9 {
		t.Fatalf("%d operators, %d operands", len(Operators), len(Operands))
	}
	for _, op := range append(append([]Op(nil), Operands...), Operators...) {
		got, ok := LookupOp(op.String())
		if !ok || got != op {
			t.Errorf("LookupOp(%s) = %v, %v", op, got, ok)
		}
	}
	arity := map[string]int{"add": 2, "sub": 2, "mul": 2, "div": 2, "mmul": 2, "out_dot": 2, "tran": 1,
		"trace": 1, "inv": 1, "g_mean": 1, "sum": 1, "std": 1, "var": 1, "mean": 1, "abs": 1,
		"pow2": 1, "sqrt": 1, "num": 1, "rho1": 1, "rho5": 1, "geo_median": 1}
	for name, a := range arity {
		op, ok := LookupOp(name)
		if !ok || op.Arity() != a {
			t.Errorf("%s: arity %d, want %d", name, op.Arity(), a)
		}
	}
}
