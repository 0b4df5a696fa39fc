package pfunc

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// SyntaxError is a parse failure at a byte offset of the input.
type SyntaxError struct {
	Pos int    // byte offset, 0-based
	Msg string // what was found and what was expected
}

// Error formats the failure with its position.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("pfunc: syntax error at byte %d: %s", e.Pos, e.Msg)
}

// maxParseDepth bounds nesting so that hostile input cannot exhaust the stack; real
// pruning functions are a few levels deep.
const maxParseDepth = 500

// Parse reads the reference's prefix syntax, the form DEAP prints trees in:
//
//	div(abs(sub(g_mean(P), g_mean(Q))), rho1(add(std(P), std(Q))))
//
// Names are case-sensitive; whitespace may appear between tokens. The reference's
// primitive set has no constants, so numbers are rejected (see ParseWithConstants).
// DEAP's names m_trace and m_inv are accepted for trace and inv.
func Parse(src string) (*Node, error) { return parse(src, false) }

// ParseWithConstants is Parse that also accepts numeric constants (e.g. add(var(P), 0.0002)),
// the form Simplify and Canonical print.
func ParseWithConstants(src string) (*Node, error) { return parse(src, true) }

type parser struct {
	src    string
	pos    int
	consts bool
	depth  int
}

func parse(src string, consts bool) (*Node, error) {
	p := &parser{src: src, consts: consts}
	p.skipSpace()
	if p.pos == len(src) {
		return nil, p.errAt(p.pos, "empty input: expected an expression")
	}
	n, err := p.expr()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos < len(src) {
		if src[p.pos] == ')' {
			return nil, p.errAt(p.pos, "unbalanced ')': no '(' left to close")
		}
		return nil, p.errAt(p.pos, "unexpected %s after the complete expression", p.found())
	}
	return n, nil
}

func (p *parser) errAt(pos int, format string, args ...any) error {
	return &SyntaxError{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

// found describes the input at the current position for error messages.
func (p *parser) found() string {
	if p.pos >= len(p.src) {
		return "end of input"
	}
	r, _ := utf8.DecodeRuneInString(p.src[p.pos:])
	return strconv.QuoteRune(r)
}

func (p *parser) skipSpace() {
	for p.pos < len(p.src) {
		switch p.src[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func isIdentStart(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isIdentChar(c byte) bool  { return isIdentStart(c) || c >= '0' && c <= '9' }
func isNumberStart(c byte) bool {
	return c >= '0' && c <= '9' || c == '.' || c == '-' || c == '+'
}

func (p *parser) expr() (*Node, error) {
	p.skipSpace()
	if p.pos >= len(p.src) {
		return nil, p.errAt(p.pos, "expected an operand or operator, found end of input")
	}
	start := p.pos
	c := p.src[start]
	switch {
	case isIdentStart(c):
		for p.pos < len(p.src) && isIdentChar(p.src[p.pos]) {
			p.pos++
		}
		return p.named(start, p.src[start:p.pos])
	case isNumberStart(c):
		return p.number(start)
	}
	return nil, p.errAt(start, "unexpected %s: expected an operand or operator name", p.found())
}

func (p *parser) named(start int, name string) (*Node, error) {
	op, ok := LookupOp(name)
	if !ok {
		return nil, p.errAt(start, "unknown name %q%s: expected an operand (%s) or an operator",
			name, suggest(name), operandList())
	}
	p.skipSpace()
	if op.IsLeaf() {
		if p.pos < len(p.src) && p.src[p.pos] == '(' {
			return nil, p.errAt(p.pos, "operand %s takes no arguments", op)
		}
		return Leaf(op), nil
	}
	if p.pos >= len(p.src) || p.src[p.pos] != '(' {
		return nil, p.errAt(p.pos, "expected '(' after operator %s, found %s", op, p.found())
	}
	open := p.pos
	p.pos++
	if p.depth++; p.depth > maxParseDepth {
		return nil, p.errAt(open, "nesting deeper than %d levels", maxParseDepth)
	}
	defer func() { p.depth-- }()
	arity := op.Arity()
	args := make([]*Node, 0, arity)
	for i := 0; i < arity; i++ {
		p.skipSpace()
		if i > 0 {
			if p.pos < len(p.src) && p.src[p.pos] == ',' {
				p.pos++
			} else if p.pos < len(p.src) && p.src[p.pos] == ')' {
				return nil, p.errAt(p.pos, "%s takes %s, got %d", op, plural(arity), i)
			} else {
				return nil, p.errAt(p.pos, "expected ',' before argument %d of %s, found %s", i+1, op, p.found())
			}
		} else if p.pos < len(p.src) && p.src[p.pos] == ')' {
			return nil, p.errAt(p.pos, "%s takes %s, got 0", op, plural(arity))
		}
		a, err := p.expr()
		if err != nil {
			return nil, err
		}
		args = append(args, a)
	}
	p.skipSpace()
	switch {
	case p.pos < len(p.src) && p.src[p.pos] == ')':
		p.pos++
	case p.pos < len(p.src) && p.src[p.pos] == ',':
		return nil, p.errAt(p.pos, "too many arguments: %s takes %s", op, plural(arity))
	case p.pos >= len(p.src):
		return nil, p.errAt(p.pos, "expected ')' to close %s( opened at byte %d, found end of input", op, open)
	default:
		return nil, p.errAt(p.pos, "expected ')' to close %s( opened at byte %d, found %s", op, open, p.found())
	}
	return Call(op, args...), nil
}

func (p *parser) number(start int) (*Node, error) {
	i := start
	if i < len(p.src) && (p.src[i] == '-' || p.src[i] == '+') {
		i++
	}
	digits := 0
	for i < len(p.src) && (p.src[i] >= '0' && p.src[i] <= '9' || p.src[i] == '.') {
		i++
		digits++
	}
	if digits > 0 && i < len(p.src) && (p.src[i] == 'e' || p.src[i] == 'E') {
		j := i + 1
		if j < len(p.src) && (p.src[j] == '-' || p.src[j] == '+') {
			j++
		}
		if j < len(p.src) && p.src[j] >= '0' && p.src[j] <= '9' {
			for j < len(p.src) && p.src[j] >= '0' && p.src[j] <= '9' {
				j++
			}
			i = j
		}
	}
	text := p.src[start:i]
	if !p.consts {
		return nil, p.errAt(start, "numeric constant %q: the reference primitive set has no constants (ParseWithConstants accepts them)", text)
	}
	v, err := strconv.ParseFloat(text, 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		return nil, p.errAt(start, "invalid numeric constant %q", text)
	}
	p.pos = i
	return Const(v), nil
}

func plural(n int) string {
	if n == 1 {
		return "1 argument"
	}
	return fmt.Sprintf("%d arguments", n)
}

func operandList() string {
	names := func(ops []Op) string {
		s := make([]string, len(ops))
		for i, o := range ops {
			s[i] = o.String()
		}
		return strings.Join(s, ", ")
	}
	return names(Operands) + "; extended: " + names(ExtendedOperands)
}

// suggest proposes the name the user probably meant when only the case differs.
func suggest(name string) string {
	for _, op := range append(OperandSet(true), Operators...) {
		if strings.EqualFold(op.String(), name) {
			return fmt.Sprintf(" (did you mean %s?)", op)
		}
	}
	return ""
}
