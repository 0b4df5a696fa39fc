// Package openblasdl is the cgo layer under blas.LoadOpenBLAS: dlopen,
// dlsym and calls through the function pointers found, nothing else. Use
// blas.LoadOpenBLAS, not this package.
//
// It is a package of its own because package blas holds Go assembly, and
// a package that uses cgo cannot. Everything but this comment is built
// only with `-tags openblas` and cgo, so default builds need neither.
package openblasdl
