package nn

import (
	"math"

	"github.com/evoprune/evoprune/tensor"
)

// SoftmaxCrossEntropy returns the mean cross-entropy of logits [N, K]
// against integer labels, the number of correct arg-max predictions, and,
// when dlogits is not nil, writes d(loss)/d(logits) = (softmax - onehot)/N
// into it. Computed with the log-sum-exp shift, accumulated in float64.
func SoftmaxCrossEntropy(logits *tensor.Tensor, labels []int32, dlogits *tensor.Tensor) (loss float64, correct int) {
	n, k := logits.Shape[0], logits.Shape[1]
	for i := 0; i < n; i++ {
		row := logits.Data[i*k : (i+1)*k]
		y := int(labels[i])
		am := tensor.ArgMax(row)
		if am == y {
			correct++
		}
		mx := float64(row[am])
		var z float64
		for _, v := range row {
			z += math.Exp(float64(v) - mx)
		}
		logZ := mx + math.Log(z)
		loss += logZ - float64(row[y])
		if dlogits != nil {
			d := dlogits.Data[i*k : (i+1)*k]
			for j, v := range row {
				p := math.Exp(float64(v) - logZ)
				if j == y {
					p--
				}
				d[j] = float32(p / float64(n))
			}
		}
	}
	return loss / float64(n), correct
}
