package pfunc

import (
	"math"
	"testing"
)

func TestInfix(t *testing.T) {
	cases := map[string]string{
		"div(abs(sub(g_mean(P), g_mean(Q))), rho1(add(std(P), std(Q))))": "|μ(P) − μ(Q)| / (σ(P) + σ(Q) + 1e-4)",
		"sub(P, sub(Q, X))":             "P − (Q − X)",
		"add(P, sub(Q, X))":             "P + Q − X",
		"sub(add(P, Q), X)":             "P + Q − X",
		"div(P, mul(Q, X))":             "P / (Q · X)",
		"mul(div(P, Q), X)":             "P / Q · X",
		"mul(P, mul(Q, X))":             "P · Q · X",
		"pow2(add(P, Q))":               "(P + Q)²",
		"pow2(P)":                       "P²",
		"pow2(tran(P))":                 "Pᵀ²",
		"tran(mmul(P, Q))":              "(P @ Q)ᵀ",
		"mmul(mul(P, Q), X)":            "(P · Q) @ X",
		"mul(mmul(P, Q), X)":            "(P @ Q) · X",
		"mmul(mmul(P, Q), X)":           "P @ Q @ X",
		"mmul(P, mmul(Q, X))":           "P @ (Q @ X)",
		"sqrt(P)":                       "√P",
		"sqrt(add(P, Q))":               "√(P + Q)",
		"inv(var(X))":                   "σ²(X)⁻¹",
		"add(P, -1)":                    "P + (-1)",
		"rho1(rho1(P))":                 "P + 1e-4 + 1e-4",
		"rho5(mul(P, Q))":               "P · Q + 0.05",
		"trace(out_dot(mX, mP))":        "tr(mX ⊗ mP)",
		"num(geo_median(W))":            "num(gm(W))",
		"add(mean(P), sum(abs(WI)))":    "mean(P) + Σ(|WI|)",
		"div(N, 2e-06)":                 "N / 2e-6",
		"out_dot(add(P, Q), sub(P, Q))": "(P + Q) ⊗ (P − Q)",
	}
	for src, want := range cases {
		if got := Infix(mustParse(t, src)); got != want {
			t.Errorf("Infix(%s) = %s, want %s", src, got, want)
		}
	}
}

func TestLaTeX(t *testing.T) {
	cases := map[string]string{
		"div(pow2(sub(g_mean(P), g_mean(Q))), rho1(add(var(P), var(Q))))": `\frac{{\left(\mu\left(P\right) - \mu\left(Q\right)\right)}^{2}}{\sigma^{2}\left(P\right) + \sigma^{2}\left(Q\right) + 10^{-4}}`,
		"sqrt(sum(pow2(sub(WI, geo_median(W)))))":                         `\sqrt{\Sigma\left({\left(W_{I} - \operatorname{gm}\left(W\right)\right)}^{2}\right)}`,
		"add(mX, 0.0002)":                        `m_{X} + 2 \times 10^{-4}`,
		"pow2(div(P, Q))":                        `{\left(\frac{P}{Q}\right)}^{2}`,
		"mul(P, div(Q, X))":                      `P \cdot \frac{Q}{X}`,
		"trace(mmul(inv(mmul(tran(X), X)), mP))": `\operatorname{tr}\left({\left({X}^{\top}\,X\right)}^{-1}\,m_{P}\right)`,
	}
	for src, want := range cases {
		if got := LaTeX(mustParse(t, src)); got != want {
			t.Errorf("LaTeX(%s)\n got %s\nwant %s", src, got, want)
		}
	}
}

func TestFormatNumber(t *testing.T) {
	for v, want := range map[float64]string{1e-4: "1e-4", 0.05: "0.05", 2e-4: "2e-4", 1e6: "1e6", 1234.5: "1234.5", -3e-5: "-3e-5", 0: "0"} {
		if got := formatNumber(v); got != want {
			t.Errorf("formatNumber(%v) = %s, want %s", v, got, want)
		}
	}
	for _, v := range []float64{math.Inf(1), math.Inf(-1), math.NaN()} {
		_ = Infix(Call(OpAdd, Leaf(OpP), Const(v)))
		_ = LaTeX(Call(OpAdd, Leaf(OpP), Const(v)))
	}
	if got := latexNumber(1e-4); got != `10^{-4}` {
		t.Errorf("latexNumber(1e-4) = %s", got)
	}
}

func TestPrefixRoundTripsConstants(t *testing.T) {
	for _, v := range []float64{0.1, 1e-300, 123456789.123, -0.0, 2e-4 + 1e-4} {
		n := Call(OpAdd, Leaf(OpP), Const(v))
		back, err := ParseWithConstants(Prefix(n))
		if err != nil || !back.Equal(n) {
			t.Errorf("%v: %s -> %v, %v", v, Prefix(n), back, err)
		}
	}
}
