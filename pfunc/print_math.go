package pfunc

import (
	"math"
	"strconv"
	"strings"
)

// Infix prints the tree as readable maths with as few parentheses as the usual
// conventions allow, e.g. |μ(P) − μ(Q)| / (σ(P) + σ(Q) + 1e-4). Notation: μ g_mean,
// σ std, σ² var, Σ sum, mean column mean, · mul, @ mmul, ⊗ out_dot, ² pow2, ᵀ tran,
// ⁻¹ inv (ridge pseudo-inverse), tr trace, num row count, gm geo_median, γ gamma, β beta;
// rho1 and rho5 print as additions of their constants. It is for reading only; Parse reads Prefix.
func Infix(n *Node) string {
	s, _ := render(n, infixStyle)
	return s
}

// LaTeX prints the tree as a LaTeX maths expression (without surrounding $), in the
// notation of Infix.
func LaTeX(n *Node) string {
	s, _ := render(n, latexStyle)
	return s
}

// Binding strength of printed forms: a child binding less tightly than its context is
// parenthesised.
const (
	levelNeg  = 0 // negative constants: always parenthesised inside anything
	levelSum  = 1 // + −
	levelProd = 2 // · / @ ⊗
	levelPost = 3 // postfix ² ᵀ ⁻¹
	levelAtom = 4 // names, constants, function forms
)

type mathStyle struct {
	latex    bool
	operand  map[Op]string
	fn       map[Op]string // function forms: name(arg)
	binary   map[Op]string // infix operator text, with surrounding spaces
	postfix  map[Op]string
	paren    func(string) string
	abs      func(string) string
	sqrt     func(arg string, level int) string
	fraction bool // div prints as \frac
	number   func(float64) string
}

var infixStyle = &mathStyle{
	operand: map[Op]string{OpP: "P", OpQ: "Q", OpN: "N", OpX: "X", OpMX: "mX", OpMP: "mP", OpMQ: "mQ", OpWI: "WI", OpW: "W",
		OpGamma: "γ", OpBeta: "β", OpG: "G"},
	fn: map[Op]string{OpGMean: "μ", OpStd: "σ", OpVar: "σ²", OpSum: "Σ", OpMean: "mean",
		OpTrace: "tr", OpNum: "num", OpGeoMedian: "gm"},
	binary:  map[Op]string{OpAdd: " + ", OpSub: " − ", OpMul: " · ", OpDiv: " / ", OpMmul: " @ ", OpOutDot: " ⊗ "},
	postfix: map[Op]string{OpPow2: "²", OpTran: "ᵀ", OpInv: "⁻¹"},
	paren:   func(s string) string { return "(" + s + ")" },
	abs:     func(s string) string { return "|" + s + "|" },
	sqrt: func(s string, level int) string {
		if level == levelAtom {
			return "√" + s
		}
		return "√(" + s + ")"
	},
	number: formatNumber,
}

var latexStyle = &mathStyle{
	latex: true,
	operand: map[Op]string{OpP: "P", OpQ: "Q", OpN: "N", OpX: "X", OpMX: "m_{X}", OpMP: "m_{P}", OpMQ: "m_{Q}",
		OpWI: "W_{I}", OpW: "W", OpGamma: `\gamma`, OpBeta: `\beta`, OpG: "G"},
	fn: map[Op]string{OpGMean: `\mu`, OpStd: `\sigma`, OpVar: `\sigma^{2}`, OpSum: `\Sigma`,
		OpMean: `\operatorname{mean}`, OpTrace: `\operatorname{tr}`, OpNum: `\operatorname{num}`,
		OpGeoMedian: `\operatorname{gm}`},
	binary:   map[Op]string{OpAdd: " + ", OpSub: " - ", OpMul: ` \cdot `, OpMmul: `\,`, OpOutDot: ` \otimes `},
	postfix:  map[Op]string{OpPow2: "^{2}", OpTran: `^{\top}`, OpInv: "^{-1}"},
	paren:    func(s string) string { return `\left(` + s + `\right)` },
	abs:      func(s string) string { return `\left|` + s + `\right|` },
	sqrt:     func(s string, _ int) string { return `\sqrt{` + s + `}` },
	fraction: true,
	number:   latexNumber,
}

// render returns the text of n and how tightly it binds.
func render(n *Node, st *mathStyle) (string, int) {
	if n == nil {
		return "?", levelAtom
	}
	if n.Op == OpConst {
		s := st.number(n.Value)
		if n.Value < 0 || (n.Value == 0 && strings.HasPrefix(s, "-")) {
			return s, levelNeg
		}
		return s, levelAtom
	}
	if name, ok := st.operand[n.Op]; ok {
		return name, levelAtom
	}
	if len(n.Args) != n.Op.Arity() || len(n.Args) == 0 {
		return n.Op.String() + "?", levelAtom
	}
	arg := func(i int) (string, int) { return render(n.Args[i], st) }
	wrap := func(s string, ok bool) string {
		if ok {
			return s
		}
		return st.paren(s)
	}
	switch n.Op {
	case OpRho1, OpRho5:
		s, l := arg(0)
		c := 1e-4
		if n.Op == OpRho5 {
			c = 0.05
		}
		return wrap(s, l >= levelSum) + st.binary[OpAdd] + st.number(c), levelSum
	case OpAdd, OpSub:
		ls, ll := arg(0)
		rs, rl := arg(1)
		rightOK := rl > levelSum || (rl == levelSum && n.Op == OpAdd)
		return wrap(ls, ll >= levelSum) + st.binary[n.Op] + wrap(rs, rightOK), levelSum
	case OpDiv:
		ls, ll := arg(0)
		rs, rl := arg(1)
		if st.fraction {
			return `\frac{` + ls + `}{` + rs + `}`, levelAtom
		}
		return wrap(ls, ll >= levelProd && !isMatrixProduct(n.Args[0])) + st.binary[OpDiv] + wrap(rs, rl > levelProd), levelProd
	case OpMul, OpMmul, OpOutDot:
		ls, ll := arg(0)
		rs, rl := arg(1)
		// Same-operator chains read left to right; mixing the elementwise product with the
		// matrix products keeps its parentheses, since they do not associate.
		leftOK := ll > levelProd || (ll == levelProd && (n.Args[0].Op == n.Op || n.Op == OpMul && !isMatrixProduct(n.Args[0])))
		rightOK := rl > levelProd || (rl == levelProd && n.Op == OpMul && n.Args[1].Op == OpMul)
		if st.latex && n.Args[1].Op == OpDiv {
			rightOK = true
		}
		return wrap(ls, leftOK) + st.binary[n.Op] + wrap(rs, rightOK), levelProd
	case OpPow2, OpTran, OpInv:
		s, l := arg(0)
		ok := l >= levelPost
		if st.latex {
			ok = ok && n.Args[0].Op != OpDiv
			return "{" + wrap(s, ok) + "}" + st.postfix[n.Op], levelPost
		}
		return wrap(s, ok) + st.postfix[n.Op], levelPost
	case OpAbs:
		s, _ := arg(0)
		return st.abs(s), levelAtom
	case OpSqrt:
		s, l := arg(0)
		return st.sqrt(s, l), levelAtom
	}
	if name, ok := st.fn[n.Op]; ok {
		s, _ := arg(0)
		return name + st.paren(s), levelAtom
	}
	return n.Op.String() + "?", levelAtom
}

func isMatrixProduct(n *Node) bool { return n != nil && (n.Op == OpMmul || n.Op == OpOutDot) }

// formatNumber prints a constant compactly: 1e-4 rather than 0.0001, 0.05, 1e6.
func formatNumber(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	a := v
	if a < 0 {
		a = -a
	}
	if a != 0 && (a < 1e-3 || a >= 1e6) {
		s := strconv.FormatFloat(v, 'e', -1, 64)
		mant, exp, _ := strings.Cut(s, "e")
		sign := ""
		if exp[0] == '-' {
			sign = "-"
		}
		exp = strings.TrimLeft(exp[1:], "0")
		return mant + "e" + sign + exp
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// latexNumber prints 2e-4 as 2 \times 10^{-4} and 1e-4 as 10^{-4}.
func latexNumber(v float64) string {
	s := formatNumber(v)
	mant, exp, ok := strings.Cut(s, "e")
	if !ok {
		return s
	}
	switch mant {
	case "1":
		return `10^{` + exp + `}`
	case "-1":
		return `-10^{` + exp + `}`
	}
	return mant + ` \times 10^{` + exp + `}`
}
