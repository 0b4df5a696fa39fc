//go:build !purego

package direct

//go:generate go run gen.go

import "golang.org/x/sys/cpu"

var available = cpu.X86.HasAVX512F
