package blas

import "testing"

// gflopsTimer reports GFLOPS from wall time and cpuGFLOPS from the CPU
// time the process used (all threads): on a shared machine whose other
// load takes the cores away now and then, the CPU figure is what the code
// achieves per core while it runs (at GOMAXPROCS=n, ideal wall GFLOPS on
// an idle machine would be n times it).
type gflopsTimer struct{ cpu0 float64 }

func startGflops(b *testing.B) gflopsTimer {
	b.ResetTimer()
	return gflopsTimer{cpuSeconds()}
}

func (t gflopsTimer) report(b *testing.B, flopsPerOp float64) {
	cpu := cpuSeconds() - t.cpu0
	b.StopTimer()
	flops := flopsPerOp * float64(b.N)
	b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOPS")
	if cpu > 0 {
		b.ReportMetric(flops/cpu/1e9, "cpuGFLOPS")
	}
}
