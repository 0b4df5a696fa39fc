package pfunc

import (
	"errors"
	"math/rand/v2"
	"testing"
)

// FuzzParse: parsing never panics, errors are positioned inside the input, and a tree
// that parses prints back to a string that parses to the same tree. Parsed trees also go
// through the checker, printers, simplifier and, when valid and cheap, the evaluator.
func FuzzParse(f *testing.F) {
	for _, fn := range Library() {
		f.Add(fn.Expr)
	}
	for _, s := range []string{"", "P", "add(P, 0.5)", "abs(P))", "div(P", "m_trace(m_inv(X))",
		"add(-1e-3, rho1(rho1(N)))", "tran(num(P))", "sub(P, P)", " \tsum ( W ) "} {
		f.Add(s)
	}
	r := rand.New(rand.NewPCG(1, 1))
	l := spaceLayer(r, SpaceConv)
	envs := l.envs(f)
	f.Fuzz(func(t *testing.T, src string) {
		for _, consts := range []bool{false, true} {
			n, err := parse(src, consts)
			if err != nil {
				var se *SyntaxError
				if !errors.As(err, &se) || se.Pos < 0 || se.Pos > len(src) || se.Msg == "" {
					t.Fatalf("%q: bad error %v", src, err)
				}
				continue
			}
			printed := Prefix(n)
			back, err := parse(printed, consts)
			if err != nil || !back.Equal(n) {
				t.Fatalf("%q printed as %q, which parses to %v (%v)", src, printed, back, err)
			}
			_ = Infix(n)
			_ = LaTeX(n)
			c := Canonical(n)
			if cb, err := ParseWithConstants(Prefix(c)); err != nil || !cb.Equal(c) {
				t.Fatalf("canonical %s does not round-trip: %v", c, err)
			}
			if _, err := Check(n); err == nil {
				if rep, err := Cost(n, spaceSizes(SpaceConv)); err == nil && rep.Ops < 1e6 {
					_, _ = ScoreEnvs(n, envs)
				}
			}
		}
	})
}
