package pfunc

import (
	"strconv"
	"strings"
)

// String prints the tree in the reference's prefix syntax (see Prefix).
func (n *Node) String() string { return Prefix(n) }

// Prefix prints the tree in the prefix syntax Parse reads, with DEAP's spacing:
// op(arg, arg). Constants print in the shortest form that reads back to the same bits,
// so ParseWithConstants(Prefix(n)) equals n.
func Prefix(n *Node) string {
	var b strings.Builder
	writePrefix(&b, n)
	return b.String()
}

func writePrefix(b *strings.Builder, n *Node) {
	switch {
	case n == nil:
		b.WriteString("<nil>")
	case n.Op == OpConst:
		b.WriteString(strconv.FormatFloat(n.Value, 'g', -1, 64))
	case n.Op.IsLeaf() || len(n.Args) == 0:
		b.WriteString(n.Op.String())
	default:
		b.WriteString(n.Op.String())
		b.WriteByte('(')
		for i, a := range n.Args {
			if i > 0 {
				b.WriteString(", ")
			}
			writePrefix(b, a)
		}
		b.WriteByte(')')
	}
}
