package pfunc_test

import (
	"fmt"

	"github.com/evoprune/evoprune/pfunc"
)

func ExampleParse() {
	n, err := pfunc.Parse("div(abs(sub(g_mean(P), g_mean(Q))), rho1(add(std(P), std(Q))))")
	if err != nil {
		fmt.Println(err)
		return
	}
	t, _ := pfunc.Check(n)
	fmt.Println(pfunc.Infix(n))
	fmt.Println(t, n.Size(), n.Depth())
	_, err = pfunc.Parse("div(abs(P)")
	fmt.Println(err)
	// Output:
	// |μ(P) − μ(Q)| / (σ(P) + σ(Q) + 1e-4)
	// scalar 13 4
	// pfunc: syntax error at byte 10: expected ',' before argument 2 of div, found end of input
}

func ExampleScore() {
	// One channel of 2x2 feature maps over six samples of two classes, and the layer's
	// three 1-input 1x1 filters in PyTorch layout; score channel 2. The filter terms are the
	// same for every class and so count once per class.
	x := [][]float64{{1, 2, 1, 2}, {2, 2, 1, 1}, {1, 1, 2, 2}, {5, 6, 5, 7}, {6, 6, 5, 6}, {7, 5, 6, 6}}
	labels := []int{0, 0, 0, 1, 1, 1}
	wi, w, _ := pfunc.FilterOperands([]float64{0.5, -1, 2}, []int{3, 1, 1, 1}, 2)
	for _, name := range []string{"abs_snr", "l1", "geo_median_dist"} {
		f, _ := pfunc.Lookup(name)
		s, err := pfunc.Score(f.Tree, x, labels, nil, wi, w)
		fmt.Printf("%s %.4f %v\n", name, s, err)
	}
	// Output:
	// abs_snr 7.2996 <nil>
	// l1 4.0000 <nil>
	// geo_median_dist 3.0000 <nil>
}

func ExampleCanonical() {
	a, _ := pfunc.Parse("rho1(add(std(Q), std(P)))")
	b, _ := pfunc.ParseWithConstants("add(add(std(P), 0.0001), std(Q))")
	fmt.Println(pfunc.Canonical(a))
	fmt.Println(pfunc.Hash(a) == pfunc.Hash(b))
	// Output:
	// rho1(add(std(P), std(Q)))
	// true
}
