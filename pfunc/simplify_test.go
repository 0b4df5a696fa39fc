package pfunc

import (
	"regexp"
	"testing"
)

func TestSimplify(t *testing.T) {
	cases := map[string]string{
		"rho1(rho1(P))":                "add(P, 0.0002)",
		"rho5(rho1(add(var(P), 1)))":   "add(var(P), 1.0501)",
		"add(rho5(mX), 1)":             "add(mX, 1.05)",
		"rho1(add(g_mean(P), 0.0001))": "add(g_mean(P), 0.0002)",
		"add(rho1(var(P)), -0.0001)":   "var(P)",
		"sub(g_mean(P), g_mean(P))":    "0",
		"div(var(Q), var(Q))":          "1",
		"div(num(P), num(P))":          "1",
		"sub(P, P)":                    "sub(P, P)",   // an Nc x D array of zeros, not 0
		"div(mX, mX)":                  "div(mX, mX)", // a D-vector of ones, not 1
		"add(g_mean(P), 0)":            "g_mean(P)",
		"add(0, mX)":                   "mX",
		"mul(P, 1)":                    "P",
		"div(W, 1)":                    "W",
		"sub(sum(P), 0)":               "sum(P)",
		"add(num(P), 0)":               "add(num(P), 0)", // the Python number would become a NumPy scalar
		"add(tran(num(P)), 0)":         "add(tran(num(P)), 0)",
		"add(mul(2, 3), g_mean(P))":    "add(6, g_mean(P))",
		"sqrt(-1)":                     "sqrt(-1)", // NaN: not folded
		"div(1, 0)":                    "div(1, 0)",
		"mul(inv(4), pow2(3))":         "2.25",
		"add(std(5), var(tran(2)))":    "0",
		"out_dot(1, 2)":                "out_dot(1, 2)", // a 1 x 1 array
		"div(abs(sub(g_mean(P), g_mean(Q))), rho1(add(std(P), std(Q))))": "div(abs(sub(g_mean(P), g_mean(Q))), rho1(add(std(P), std(Q))))",
	}
	for src, want := range cases {
		n := mustParse(t, src)
		before := Prefix(n)
		if got := Prefix(Simplify(n)); got != want {
			t.Errorf("Simplify(%s) = %s, want %s", src, got, want)
		}
		if Prefix(n) != before {
			t.Errorf("Simplify modified its input %s", src)
		}
	}
}

func TestCanonicalAndHash(t *testing.T) {
	same := [][]string{
		{"div(abs(sub(g_mean(P), g_mean(Q))), rho1(add(std(P), std(Q))))",
			"div(abs(sub(g_mean(P), g_mean(Q))), rho1(add(std(Q), std(P))))",
			"div(abs(sub(g_mean(P), g_mean(Q))), add(add(std(Q), 0.0001), std(P)))"},
		{"add(add(div(var(P), rho5(var(Q))), div(var(Q), rho5(var(P)))), div(pow2(sub(g_mean(P), g_mean(Q))), rho5(add(var(P), var(Q)))))",
			"add(div(pow2(sub(g_mean(P), g_mean(Q))), rho5(add(var(Q), var(P)))), add(div(var(Q), rho5(var(P))), div(var(P), rho5(var(Q)))))"},
		{"mul(mul(std(mX), var(Q)), mX)", "mul(mX, mul(var(Q), std(mX)))", "mmul(mul(var(Q), mX), std(mX))"},
		{"add(var(P), 0.0001)", "rho1(var(P))"},
		{"mul(mP, mQ)", "mul(mQ, mP)"},
		{"rho1(rho1(P))", "add(P, 0.0002)", "add(0.0001, rho1(P))"},
		{"mul(3, mul(N, 2))", "mul(mul(N, 6), 1)"},
	}
	hexRE := regexp.MustCompile(`^[0-9a-f]{64}$`)
	for _, group := range same {
		h := Hash(mustParse(t, group[0]))
		if !hexRE.MatchString(h) {
			t.Fatalf("hash %q", h)
		}
		for _, src := range group[1:] {
			if h2 := Hash(mustParse(t, src)); h2 != h {
				t.Errorf("%s and %s hash differently:\n%s\n%s", group[0], src,
					Prefix(Canonical(mustParse(t, group[0]))), Prefix(Canonical(mustParse(t, src))))
			}
		}
	}
	different := [][2]string{
		{"mul(P, mX)", "mul(mX, P)"}, // m_mul truncates a's last and b's first axis
		{"sub(g_mean(P), g_mean(Q))", "sub(g_mean(Q), g_mean(P))"},
		{"mmul(tran(X), X)", "mmul(X, tran(X))"},
		{"div(mX, mX)", "1"},
	}
	for _, d := range different {
		if Hash(mustParse(t, d[0])) == Hash(mustParse(t, d[1])) {
			t.Errorf("%s and %s hash the same", d[0], d[1])
		}
	}
	for _, f := range Library() {
		c := Canonical(f.Tree)
		if cc := Canonical(c); !cc.Equal(c) {
			t.Errorf("%s: Canonical not idempotent: %s -> %s", f.Name, c, cc)
		}
	}
}
