package pfunc

import "testing"

func TestTreeHelpers(t *testing.T) {
	f, _ := Lookup("abs_snr")
	n := f.Tree
	if n.Size() != 13 || n.Depth() != 4 {
		t.Errorf("size %d depth %d, want 13 and 4 (the reference's token list has 13 entries)", n.Size(), n.Depth())
	}
	if Leaf(OpP).Depth() != 0 || Leaf(OpP).Size() != 1 {
		t.Error("a leaf has depth 0 and size 1")
	}
	subs := n.Subtrees()
	if len(subs) != n.Size() || len(subs[0].Path) != 0 || subs[0].Node != n {
		t.Fatalf("%d subtrees, first %v", len(subs), subs[0].Path)
	}
	for _, s := range subs {
		if n.At(s.Path) != s.Node {
			t.Errorf("At(%v) disagrees", s.Path)
		}
	}
	if got := Prefix(n.At(Path{1, 0, 1})); got != "std(Q)" {
		t.Errorf("At([1 0 1]) = %s", got)
	}
	if n.At(Path{5}) != nil || n.At(Path{0, 0, 0, 0, 0}) != nil {
		t.Error("At outside the tree")
	}
	before := Prefix(n)
	r := n.Replace(Path{1, 0, 1}, Call(OpVar, Leaf(OpQ)))
	if Prefix(r) != "div(abs(sub(g_mean(P), g_mean(Q))), rho1(add(std(P), var(Q))))" || Prefix(n) != before {
		t.Errorf("Replace: %s (original now %s)", r, n)
	}
	if r.Args[0] != n.Args[0] {
		t.Error("Replace copied an untouched subtree")
	}
	if n.Replace(Path{2}, Leaf(OpP)) != nil {
		t.Error("Replace outside the tree")
	}
	c := n.Copy()
	if !c.Equal(n) {
		t.Fatal("Copy differs")
	}
	c.Args[0].Args[0].Op = OpAdd
	if Prefix(n) != before || c.Equal(n) {
		t.Error("Copy shares nodes")
	}
	if !n.Uses(OpStd) || n.Uses(OpWI) {
		t.Error("Uses")
	}
	if err := n.Validate(); err != nil {
		t.Error(err)
	}
	for _, bad := range []*Node{Call(OpAdd, Leaf(OpP)), Call(OpAbs, nil), Const(1.0 / zero())} {
		if bad.Validate() == nil {
			t.Errorf("%v validates", bad)
		}
	}
}

func zero() float64 { return 0 }
