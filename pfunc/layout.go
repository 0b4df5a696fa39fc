package pfunc

import "fmt"

// Why the filter operands use the reference's TensorFlow layout, not evoprune's
// PyTorch one: the reference's operators act on axes by position. geo_median picks along
// the last axis; sub truncates last axes; mul and mmul truncate a's last and b's first
// axis; trace and inv take the leading square block; mean averages over axis 0 and tests
// shape[1]; num counts axis 0; tran reverses all axes; broadcasting aligns trailing axes;
// out_dot flattens in row-major order. Presenting WI as [in, kh, kw] and W as
// [out, in, kh, kw] would keep the seven seeds' scores (their filter terms are sums over
// all entries, and geo_median could be redefined to pick along the first axis), but any
// evolved tree that mixes filters with these operators, e.g. sub(WI, mX) or
// mmul(tran(WI), ...), would compute something else or become invalid. In the reference
// layout every tree scores exactly as it did for the reference.

// FilterOperands converts a layer's weights from evoprune's PyTorch layout to the
// reference operands of channel k: w has shape [Cout, Cin, Kh, Kw] (convolution) or
// [Cout, FanIn] (fully connected), row-major. It returns WI = filter k as [Kh, Kw, Cin]
// (or [FanIn]) and the bank W as [Kh, Kw, Cin, Cout] (or [FanIn, Cout]). Pass only the
// active channels' filters, as the reference does.
func FilterOperands(w []float64, shape []int, k int) (wi, bank Value, err error) {
	n := 1
	for _, d := range shape {
		if d < 1 {
			return Value{}, Value{}, fmt.Errorf("pfunc: filter shape %v has an empty axis", shape)
		}
		n *= d
	}
	if n != len(w) {
		return Value{}, Value{}, fmt.Errorf("pfunc: %d filter values cannot have shape %v", len(w), shape)
	}
	if len(shape) != 2 && len(shape) != 4 {
		return Value{}, Value{}, fmt.Errorf("pfunc: filter shape %v: want [Cout, Cin, Kh, Kw] or [Cout, FanIn]", shape)
	}
	cout := shape[0]
	if k < 0 || k >= cout {
		return Value{}, Value{}, fmt.Errorf("pfunc: channel %d outside the layer's %d channels", k, cout)
	}
	per := n / cout // values per filter, in PyTorch order (cin, kh, kw)
	bankData := make([]float64, n)
	wiData := make([]float64, per)
	if len(shape) == 2 {
		for o := 0; o < cout; o++ {
			for f := 0; f < per; f++ {
				bankData[f*cout+o] = w[o*per+f]
			}
		}
		copy(wiData, w[k*per:(k+1)*per])
		return Value{Kind: Array, Shape: []int{per}, Data: wiData},
			Value{Kind: Array, Shape: []int{per, cout}, Data: bankData}, nil
	}
	cin, kh, kw := shape[1], shape[2], shape[3]
	for o := 0; o < cout; o++ {
		for c := 0; c < cin; c++ {
			for y := 0; y < kh; y++ {
				for x := 0; x < kw; x++ {
					v := w[((o*cin+c)*kh+y)*kw+x]
					ref := (y*kw+x)*cin + c // index into [Kh, Kw, Cin]
					bankData[ref*cout+o] = v
					if o == k {
						wiData[ref] = v
					}
				}
			}
		}
	}
	return Value{Kind: Array, Shape: []int{kh, kw, cin}, Data: wiData},
		Value{Kind: Array, Shape: []int{kh, kw, cin, cout}, Data: bankData}, nil
}
