package nn

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/evoprune/evoprune/tensor"
)

// BenchmarkConv reports GFLOPS (2 flops per multiply-accumulate) of the
// convolution forward and backward passes on the layer shapes that dominate
// the models: LeNet-5's conv2, ResNet-20's three stages, a VGG-16 middle layer.
func BenchmarkConv(b *testing.B) {
	shapes := []struct {
		name           string
		n, c, h, oc, k int
		stride, pad    int
	}{
		{"lenet5.conv2", 128, 20, 12, 50, 5, 1, 0},
		{"resnet.16x32", 128, 16, 32, 16, 3, 1, 1},
		{"resnet.32x16", 128, 32, 16, 32, 3, 1, 1},
		{"resnet.64x8", 128, 64, 8, 64, 3, 1, 1},
		{"vgg.3x32", 128, 3, 32, 64, 3, 1, 1},
		{"vgg.64x32", 128, 64, 32, 64, 3, 1, 1},
		{"vgg.128x16", 128, 128, 16, 128, 3, 1, 1},
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for _, s := range shapes {
		l, err := NewConv2d(ConvConfig{InC: s.c, OutC: s.oc, Kernel: s.k, Stride: s.stride, Pad: s.pad})
		if err != nil {
			b.Fatal(err)
		}
		conv := l.(*Conv2d)
		x := randTensor(rng, s.n, s.c, s.h, s.h)
		os, _ := conv.OutShape([][]int{{s.c, s.h, s.h}})
		out := tensor.New(append([]int{s.n}, os...)...)
		dout := randTensor(rng, out.Shape...)
		dx := tensor.New(x.Shape...)
		flops := 2 * float64(conv.MACs([][]int{{s.c, s.h, s.h}})) * float64(s.n)
		ctx := &Context{Train: true}
		b.Run(fmt.Sprintf("%s/forward", s.name), func(b *testing.B) {
			conv.Forward(ctx, []*tensor.Tensor{x}, out)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				conv.Forward(ctx, []*tensor.Tensor{x}, out)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
		})
		b.Run(fmt.Sprintf("%s/backward", s.name), func(b *testing.B) {
			din := []*tensor.Tensor{dx}
			conv.Backward(ctx, []*tensor.Tensor{x}, out, dout, din)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				conv.Backward(ctx, []*tensor.Tensor{x}, out, dout, din)
			}
			// The backward pass is two GEMMs of the forward's size.
			b.ReportMetric(2*flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
		})
		b.Run(fmt.Sprintf("%s/weights", s.name), func(b *testing.B) {
			// The weight gradient alone (no input gradient asked for).
			din := []*tensor.Tensor{nil}
			conv.Backward(ctx, []*tensor.Tensor{x}, out, dout, din)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				conv.Backward(ctx, []*tensor.Tensor{x}, out, dout, din)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
		})
	}
}
