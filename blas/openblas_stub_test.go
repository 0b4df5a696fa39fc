//go:build !openblas || !cgo

package blas

import (
	"strings"
	"testing"
)

func TestLoadOpenBLASWithoutTag(t *testing.T) {
	f, err := LoadOpenBLAS()
	if err == nil || f != nil {
		t.Fatalf("LoadOpenBLAS in a build without -tags openblas: got %v, %v", f, err)
	}
	if !strings.Contains(err.Error(), "-tags openblas") {
		t.Errorf("error %q does not say to rebuild with -tags openblas", err)
	}
}
