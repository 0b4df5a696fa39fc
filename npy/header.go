package npy

import (
	"fmt"
	"strconv"
	"strings"
)

// The .npy header is the repr() of a Python dict, e.g.
//
//	{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
//
// numpy reads it with ast.literal_eval. This file holds a small, strict
// parser for the subset of Python literals such a header can contain:
// strings, integers, True/False/None, tuples, lists and dicts. Anything
// else (floats, names, expressions, comments) is a syntax error.

// maxDepth bounds the nesting of tuples, lists and dicts, so a hostile
// header cannot exhaust the stack.
const maxDepth = 32

type pyKind int

const (
	pyStr pyKind = iota
	pyInt
	pyBool
	pyNone
	pyTuple
	pyList
	pyDict
)

// pyValue is one parsed Python literal. src is its source text, for error
// messages.
type pyValue struct {
	kind  pyKind
	str   string    // pyStr
	num   string    // pyInt: optional '-' then decimal digits, no leading zeros
	b     bool      // pyBool
	items []pyValue // pyTuple, pyList; pyDict as key, value, key, value...
	src   string
}

type pyParser struct {
	s      string
	pos    int
	depth  int
	allowL bool // accept Python 2 long suffixes (5L), as numpy does for format 1.0/2.0
}

// errorf describes a header syntax error at the parser's position.
func (p *pyParser) errorf(format string, args ...any) error {
	return fmt.Errorf("header syntax error at byte %d: %s, in header %s", p.pos, fmt.Sprintf(format, args...), quoteSnippet(p.s))
}

// quoteSnippet shows s (header source text) in an error message: as is if
// it is short printable ASCII, else quoted and shortened.
func quoteSnippet(s string) string {
	s = strings.TrimRight(s, " \n")
	const max = 120
	cut := ""
	if len(s) > max {
		s, cut = s[:max], "..."
	}
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return strconv.Quote(s) + cut
		}
	}
	return s + cut
}

// pyRepr shows a string value in an error message the way Python's repr
// would for plain text: 'abc'.
func pyRepr(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' || s[i] == '\'' || s[i] == '\\' {
			return strconv.Quote(s)
		}
	}
	return "'" + s + "'"
}

// describe names what the parser sees at its position, for error messages.
func (p *pyParser) describe() string {
	if p.pos >= len(p.s) {
		return "end of header"
	}
	if c := p.s[p.pos]; c == '\'' {
		return `"'"`
	}
	return strconv.QuoteRune(rune(p.s[p.pos]))
}

func (p *pyParser) skipSpace() {
	for p.pos < len(p.s) {
		switch p.s[p.pos] {
		case ' ', '\t', '\n', '\r', '\f':
			p.pos++
		default:
			return
		}
	}
}

// parseHeaderDict parses the whole header: one dict literal followed only by
// whitespace.
func parseHeaderDict(s string, allowL bool) (pyValue, error) {
	p := &pyParser{s: s, allowL: allowL}
	p.skipSpace()
	if p.pos >= len(s) || s[p.pos] != '{' {
		return pyValue{}, p.errorf("expected '{' to start the header dict, found %s", p.describe())
	}
	v, err := p.value()
	if err != nil {
		return pyValue{}, err
	}
	p.skipSpace()
	if p.pos != len(s) {
		return pyValue{}, p.errorf("unexpected %s after the header dict", p.describe())
	}
	return v, nil
}

// value parses one literal starting at p.pos (after whitespace).
func (p *pyParser) value() (pyValue, error) {
	p.skipSpace()
	if p.pos >= len(p.s) {
		return pyValue{}, p.errorf("unexpected end of header, expected a value")
	}
	start := p.pos
	c := p.s[p.pos]
	var v pyValue
	var err error
	switch {
	case c == '\'' || c == '"':
		v, err = p.str()
	case c == '-' || c == '+' || isDigit(c):
		v, err = p.integer()
	case c == '(' || c == '[' || c == '{':
		if p.depth >= maxDepth {
			return pyValue{}, p.errorf("nesting deeper than %d levels", maxDepth)
		}
		p.depth++
		switch c {
		case '(':
			v, err = p.tuple()
		case '[':
			v, err = p.list()
		default:
			v, err = p.dict()
		}
		p.depth--
	case isIdentStart(c):
		v, err = p.name()
	default:
		return pyValue{}, p.errorf("unexpected %s, expected a value", p.describe())
	}
	if err != nil {
		return pyValue{}, err
	}
	v.src = p.s[start:p.pos]
	return v, nil
}

func isDigit(c byte) bool      { return '0' <= c && c <= '9' }
func isIdentStart(c byte) bool { return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isIdent(c byte) bool      { return isIdentStart(c) || isDigit(c) }

// name parses True, False, None, or a u-prefixed string (u'<f4').
func (p *pyParser) name() (pyValue, error) {
	start := p.pos
	for p.pos < len(p.s) && isIdent(p.s[p.pos]) {
		p.pos++
	}
	word := p.s[start:p.pos]
	switch word {
	case "True":
		return pyValue{kind: pyBool, b: true}, nil
	case "False":
		return pyValue{kind: pyBool}, nil
	case "None":
		return pyValue{kind: pyNone}, nil
	case "u", "U":
		if p.pos < len(p.s) && (p.s[p.pos] == '\'' || p.s[p.pos] == '"') {
			return p.str()
		}
	}
	p.pos = start
	return pyValue{}, p.errorf("unexpected name %q (only True, False and None are allowed)", word)
}

// str parses a quoted string with the common backslash escapes.
func (p *pyParser) str() (pyValue, error) {
	quote := p.s[p.pos]
	p.pos++
	var b strings.Builder
	for {
		if p.pos >= len(p.s) {
			return pyValue{}, p.errorf("unterminated string")
		}
		c := p.s[p.pos]
		switch {
		case c == quote:
			p.pos++
			return pyValue{kind: pyStr, str: b.String()}, nil
		case c == '\n' || c == '\r':
			return pyValue{}, p.errorf("unterminated string (newline inside quotes)")
		case c == '\\':
			if p.pos+1 >= len(p.s) {
				p.pos++
				return pyValue{}, p.errorf("unterminated string")
			}
			e := p.s[p.pos+1]
			switch e {
			case '\\', '\'', '"':
				b.WriteByte(e)
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case '0':
				b.WriteByte(0)
			case 'x':
				if p.pos+4 > len(p.s) {
					return pyValue{}, p.errorf("truncated \\x escape")
				}
				n, err := strconv.ParseUint(p.s[p.pos+2:p.pos+4], 16, 8)
				if err != nil {
					return pyValue{}, p.errorf("bad \\x escape %q", p.s[p.pos:p.pos+4])
				}
				b.WriteRune(rune(n))
				p.pos += 2
			default:
				return pyValue{}, p.errorf("unsupported escape \\%c in string", e)
			}
			p.pos += 2
		default:
			b.WriteByte(c)
			p.pos++
		}
	}
}

// integer parses an optionally signed decimal integer. Its value is kept as
// text: Python integers are unbounded, and the caller reports overflow.
func (p *pyParser) integer() (pyValue, error) {
	neg := false
	if c := p.s[p.pos]; c == '-' || c == '+' {
		neg = c == '-'
		p.pos++
	}
	start := p.pos
	for p.pos < len(p.s) && isDigit(p.s[p.pos]) {
		p.pos++
	}
	digits := p.s[start:p.pos]
	if digits == "" {
		return pyValue{}, p.errorf("expected digits after sign, found %s", p.describe())
	}
	if len(digits) > 1 && digits[0] == '0' {
		p.pos = start
		return pyValue{}, p.errorf("integer %q has a leading zero", digits)
	}
	if p.allowL && p.pos < len(p.s) && p.s[p.pos] == 'L' {
		p.pos++
	}
	if p.pos < len(p.s) && (isIdent(p.s[p.pos]) || p.s[p.pos] == '.') {
		return pyValue{}, p.errorf("unexpected %s after integer %s (only decimal integers are allowed)", p.describe(), digits)
	}
	if neg && strings.Trim(digits, "0") != "" {
		digits = "-" + digits
	}
	return pyValue{kind: pyInt, num: digits}, nil
}

// tuple parses "(...)". Like Python, "(x)" without a comma is just x.
func (p *pyParser) tuple() (pyValue, error) {
	p.pos++ // '('
	p.skipSpace()
	if p.pos < len(p.s) && p.s[p.pos] == ')' {
		p.pos++
		return pyValue{kind: pyTuple, items: []pyValue{}}, nil
	}
	first, err := p.value()
	if err != nil {
		return pyValue{}, err
	}
	p.skipSpace()
	if p.pos < len(p.s) && p.s[p.pos] == ')' {
		p.pos++
		return first, nil // parenthesized value, not a tuple
	}
	items := []pyValue{first}
	items, err = p.sequenceTail(items, ')')
	if err != nil {
		return pyValue{}, err
	}
	return pyValue{kind: pyTuple, items: items}, nil
}

// list parses "[...]".
func (p *pyParser) list() (pyValue, error) {
	p.pos++ // '['
	p.skipSpace()
	if p.pos < len(p.s) && p.s[p.pos] == ']' {
		p.pos++
		return pyValue{kind: pyList, items: []pyValue{}}, nil
	}
	first, err := p.value()
	if err != nil {
		return pyValue{}, err
	}
	items, err := p.sequenceTail([]pyValue{first}, ']')
	if err != nil {
		return pyValue{}, err
	}
	return pyValue{kind: pyList, items: items}, nil
}

// sequenceTail parses the rest of a sequence after its first item: any
// number of ", item", an optional trailing comma, then the closing bracket.
func (p *pyParser) sequenceTail(items []pyValue, closing byte) ([]pyValue, error) {
	for {
		p.skipSpace()
		if p.pos >= len(p.s) {
			return nil, p.errorf("unexpected end of header, expected ',' or '%c'", closing)
		}
		switch p.s[p.pos] {
		case closing:
			p.pos++
			return items, nil
		case ',':
			p.pos++
		default:
			return nil, p.errorf("unexpected %s, expected ',' or '%c'", p.describe(), closing)
		}
		p.skipSpace()
		if p.pos < len(p.s) && p.s[p.pos] == closing {
			p.pos++
			return items, nil
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		items = append(items, v)
	}
}

// dict parses "{key: value, ...}" with string keys and an optional trailing
// comma.
func (p *pyParser) dict() (pyValue, error) {
	p.pos++ // '{'
	var items []pyValue
	for {
		p.skipSpace()
		if p.pos < len(p.s) && p.s[p.pos] == '}' {
			p.pos++
			return pyValue{kind: pyDict, items: items}, nil
		}
		if p.pos >= len(p.s) || (p.s[p.pos] != '\'' && p.s[p.pos] != '"') {
			return pyValue{}, p.errorf("unexpected %s, expected a quoted dict key or '}'", p.describe())
		}
		key, err := p.value()
		if err != nil {
			return pyValue{}, err
		}
		p.skipSpace()
		if p.pos >= len(p.s) || p.s[p.pos] != ':' {
			return pyValue{}, p.errorf("unexpected %s, expected ':' after key %s", p.describe(), key.src)
		}
		p.pos++
		val, err := p.value()
		if err != nil {
			return pyValue{}, err
		}
		items = append(items, key, val)
		p.skipSpace()
		if p.pos >= len(p.s) {
			return pyValue{}, p.errorf("unexpected end of header, expected ',' or '}'")
		}
		switch p.s[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			return pyValue{kind: pyDict, items: items}, nil
		default:
			return pyValue{}, p.errorf("unexpected %s, expected ',' or '}' after the value of key %s", p.describe(), key.src)
		}
	}
}

// header is the validated content of a .npy header.
type header struct {
	descr   string
	dtype   dtype
	fortran bool
	shape   []int
}

// interpretHeader checks a parsed header dict: exactly the keys 'descr',
// 'fortran_order' and 'shape', each with a value of the right type.
func interpretHeader(d pyValue) (header, error) {
	var h header
	if d.kind != pyDict {
		return h, fmt.Errorf("header is not a dict: %s", quoteSnippet(d.src))
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(d.items); i += 2 {
		k, v := d.items[i], d.items[i+1]
		if seen[k.str] {
			return h, fmt.Errorf("header key %s appears twice", k.src)
		}
		seen[k.str] = true
		switch k.str {
		case "descr":
			switch v.kind {
			case pyStr:
				dt, err := parseDescr(v.str)
				if err != nil {
					return h, err
				}
				h.descr, h.dtype = v.str, dt
			case pyList:
				return h, fmt.Errorf("structured dtype %s is not supported (only plain numeric arrays are)", quoteSnippet(v.src))
			default:
				return h, fmt.Errorf("header 'descr' must be a dtype string such as '<f4', got %s", quoteSnippet(v.src))
			}
		case "fortran_order":
			if v.kind != pyBool {
				return h, fmt.Errorf("header 'fortran_order' must be True or False, got %s", quoteSnippet(v.src))
			}
			h.fortran = v.b
		case "shape":
			shape, err := interpretShape(v)
			if err != nil {
				return h, err
			}
			h.shape = shape
		default:
			return h, fmt.Errorf("unexpected header key %s (want exactly 'descr', 'fortran_order' and 'shape')", quoteSnippet(k.src))
		}
	}
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if !seen[k] {
			return h, fmt.Errorf("header has no '%s' key", k)
		}
	}
	return h, nil
}

// interpretShape checks that v is a tuple of non-negative integers that fit
// in an int.
func interpretShape(v pyValue) ([]int, error) {
	if v.kind != pyTuple {
		hint := ""
		if v.kind == pyInt {
			hint = fmt.Sprintf(" (a 1-d shape is written (%s,))", v.num)
		}
		return nil, fmt.Errorf("header 'shape' must be a tuple of integers, got %s%s", quoteSnippet(v.src), hint)
	}
	shape := make([]int, len(v.items))
	for i, it := range v.items {
		if it.kind != pyInt {
			return nil, fmt.Errorf("header 'shape' %s: dimension %d is %s, not an integer", quoteSnippet(v.src), i, quoteSnippet(it.src))
		}
		if strings.HasPrefix(it.num, "-") {
			return nil, fmt.Errorf("header 'shape' %s: dimension %d is negative (%s)", quoteSnippet(v.src), i, it.num)
		}
		n, err := strconv.ParseInt(it.num, 10, strconv.IntSize)
		if err != nil {
			return nil, fmt.Errorf("header 'shape' %s: dimension %d (%s) is too large", quoteSnippet(v.src), i, it.num)
		}
		shape[i] = int(n)
	}
	return shape, nil
}

// formatShape writes a shape the way Python's repr of a tuple does:
// (), (5,), (2, 3).
func formatShape(shape []int) string {
	var b strings.Builder
	b.WriteByte('(')
	for i, d := range shape {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(d))
	}
	if len(shape) == 1 {
		b.WriteByte(',')
	}
	b.WriteByte(')')
	return b.String()
}
