//go:build linux || darwin

package blas

import "syscall"

// cpuSeconds is the process's user+system CPU time: on a shared machine a
// benchmark's flops per CPU second are what its core delivered while it ran.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
