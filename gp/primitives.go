package gp

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/evoprune/evoprune/pfunc"
)

// PrimitiveSet is the alphabet trees are grown from: leaves (operands) and operators.
type PrimitiveSet struct {
	Terminals []pfunc.Op
	Operators []pfunc.Op
}

// DefaultPrimitives is the reference's primitive set: the nine operands and the 21
// operators (no constants: the reference's set had none).
func DefaultPrimitives() PrimitiveSet {
	return PrimitiveSet{
		Terminals: append([]pfunc.Op(nil), pfunc.Operands...),
		Operators: append([]pfunc.Op(nil), pfunc.Operators...),
	}
}

// Validate checks that the set has at least one terminal and one operator, that
// terminals are argument-free operands (not constants, which need a value) and that
// operators take arguments.
func (ps PrimitiveSet) Validate() error {
	if len(ps.Terminals) == 0 {
		return errors.New("gp: primitive set has no terminals")
	}
	if len(ps.Operators) == 0 {
		return errors.New("gp: primitive set has no operators")
	}
	for i, op := range ps.Terminals {
		if !op.Valid() || op.Arity() != 0 || op == pfunc.OpConst {
			return fmt.Errorf("gp: primitive set terminal %d (%v) is not an operand", i, op)
		}
	}
	for i, op := range ps.Operators {
		if !op.Valid() || op.Arity() < 1 {
			return fmt.Errorf("gp: primitive set operator %d (%v) takes no arguments", i, op)
		}
	}
	return nil
}

func (ps PrimitiveSet) empty() bool { return len(ps.Terminals) == 0 || len(ps.Operators) == 0 }

// RandomTree grows a random tree of height at most height, untyped, as DEAP does: with
// full (genFull) every branch reaches exactly height, operators above and terminals at
// the bottom; otherwise (genGrow) a node above the bottom is a terminal with probability
// terminals / (terminals + operators). Terminals and operators are drawn uniformly.
// The tree may not type-check; see RandomTypedTree. An empty primitive set gives nil.
func RandomTree(rng *rand.Rand, ps PrimitiveSet, height int, full bool) *pfunc.Node {
	return grow(rng, ps, height, full, false)
}

// RandomTypedTree grows a tree like RandomTree, but an operator node that does not
// type-check in every standard space is replaced by another operator of the same arity
// that does on the same arguments, or else grown again with fresh arguments (up to
// typedTries times), so that the tree's subtrees all have types. The root rule (a value
// whose shape does not depend on the class) is not enforced: where the tree is inserted
// decides that. The shape is the same as RandomTree's (full trees stay full); only the
// operators' probabilities shift toward those that fit their arguments.
func RandomTypedTree(rng *rand.Rand, ps PrimitiveSet, height int, full bool) *pfunc.Node {
	return grow(rng, ps, height, full, true)
}

// typedTries bounds the redraws of one operator node in typed growth; a node still
// ill-typed after them is kept, and the validity check rejects the tree.
const typedTries = 30

func grow(rng *rand.Rand, ps PrimitiveSet, height int, full, typed bool) *pfunc.Node {
	if ps.empty() {
		return nil
	}
	if height <= 0 || !full && rng.IntN(len(ps.Terminals)+len(ps.Operators)) < len(ps.Terminals) {
		return pfunc.Leaf(ps.Terminals[rng.IntN(len(ps.Terminals))])
	}
	var n *pfunc.Node
	for try := 0; try < typedTries; try++ {
		op := ps.Operators[rng.IntN(len(ps.Operators))]
		args := make([]*pfunc.Node, op.Arity())
		for i := range args {
			args[i] = grow(rng, ps, height-1, full, typed)
		}
		n = pfunc.Call(op, args...)
		if !typed || wellTyped(n) {
			return n
		}
		// Before growing new arguments, try the other operators of the same arity on
		// these ones, in random order: most argument types admit several operators.
		for _, i := range rng.Perm(len(ps.Operators)) {
			if other := ps.Operators[i]; other != op && other.Arity() == len(args) {
				if m := pfunc.Call(other, args...); wellTyped(m) {
					return m
				}
			}
		}
	}
	return n
}

// wellTyped reports whether n types in every standard space (no root rule).
func wellTyped(n *pfunc.Node) bool {
	for _, s := range pfunc.Spaces() {
		if _, err := pfunc.TypeOf(n, s); err != nil {
			return false
		}
	}
	return true
}

// signature is n's type in every standard space, "" if it has none in some space. Two
// subtrees of equal signature can replace each other anywhere without changing the type
// of any ancestor, because an operator's type depends only on its arguments' types.
func signature(n *pfunc.Node) string {
	var b strings.Builder
	for i, s := range pfunc.Spaces() {
		t, err := pfunc.TypeOf(n, s)
		if err != nil {
			return ""
		}
		if i > 0 {
			b.WriteByte(';')
		}
		fmt.Fprintf(&b, "%v:%v", t.Kind, t)
	}
	return b.String()
}
