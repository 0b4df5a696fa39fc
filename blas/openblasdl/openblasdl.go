//go:build openblas && cgo

package openblasdl

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>

// CBLAS constants (the same in every CBLAS: OpenBLAS, BLIS, netlib).
enum { evoRowMajor = 101, evoNoTrans = 111, evoTrans = 112 };

typedef void (*evo_sgemm_fn)(int order, int transA, int transB, int m, int n, int k,
	float alpha, const float *a, int lda, const float *b, int ldb,
	float beta, float *c, int ldc);

// evo_dlopen returns the handle, or NULL and the dlerror text, read in the
// same call because dlerror's buffer belongs to the OS thread.
static void *evo_dlopen(const char *path, int noload, const char **err) {
	dlerror();
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL | (noload ? RTLD_NOLOAD : 0));
	if (h == NULL) {
		const char *e = dlerror();
		*err = e != NULL ? e : "dlopen failed";
	}
	return h;
}

static void *evo_dlsym(void *h, const char *name) { return dlsym(h, name); }

static void evo_sgemm(void *fn, int transA, int transB, int m, int n, int k,
	float alpha, const float *a, int lda, const float *b, int ldb,
	float beta, float *c, int ldc) {
	((evo_sgemm_fn)fn)(evoRowMajor, transA ? evoTrans : evoNoTrans,
		transB ? evoTrans : evoNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

static const char *evo_call_str(void *fn) { return ((const char *(*)(void))fn)(); }
static int evo_call_int(void *fn) { return ((int (*)(void))fn)(); }
static void evo_call_set_int(void *fn, int n) { ((void (*)(int))fn)(n); }
static int64_t evo_call_int64(void *fn) { return ((int64_t (*)(void))fn)(); }
static void evo_call_set_int64(void *fn, int64_t n) { ((void (*)(int64_t))fn)(n); }
static const char *evo_call_str_of_int(void *fn, int v) { return ((const char *(*)(int))fn)(v); }
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// Lib is a dlopen'ed shared library. It is never closed.
type Lib struct {
	Path   string
	handle unsafe.Pointer
}

// Func is a C function found in a Lib. Calling it with the wrong Call*
// helper is undefined behaviour, as in C.
type Func struct{ p unsafe.Pointer }

// Open dlopens path with RTLD_NOW|RTLD_LOCAL. With noload it only finds a
// library already in the process (RTLD_NOLOAD). The error is dlerror's text.
func Open(path string, noload bool) (*Lib, error) {
	cp := C.CString(path)
	defer C.free(unsafe.Pointer(cp))
	var nl C.int
	if noload {
		nl = 1
	}
	var cerr *C.char
	h := C.evo_dlopen(cp, nl, &cerr)
	if h == nil {
		return nil, fmt.Errorf("%s", C.GoString(cerr))
	}
	return &Lib{Path: path, handle: h}, nil
}

// Sym looks a function up by name.
func (l *Lib) Sym(name string) (Func, error) {
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	p := C.evo_dlsym(l.handle, cn)
	if p == nil {
		return Func{}, fmt.Errorf("%s has no %s", l.Path, name)
	}
	return Func{p}, nil
}

// Sgemm calls a cblas_sgemm with CblasRowMajor. The caller has checked the
// arguments: a, b and c point to enough float32s for the shape.
func Sgemm(fn Func, transA, transB bool, m, n, k int, alpha float32, a *float32, lda int,
	b *float32, ldb int, beta float32, c *float32, ldc int) {
	C.evo_sgemm(fn.p, cbool(transA), cbool(transB), C.int(m), C.int(n), C.int(k),
		C.float(alpha), (*C.float)(unsafe.Pointer(a)), C.int(lda),
		(*C.float)(unsafe.Pointer(b)), C.int(ldb),
		C.float(beta), (*C.float)(unsafe.Pointer(c)), C.int(ldc))
}

func cbool(v bool) C.int {
	if v {
		return 1
	}
	return 0
}

// CallString calls a `const char *f(void)`.
func CallString(fn Func) string { return C.GoString(C.evo_call_str(fn.p)) }

// CallInt calls an `int f(void)`.
func CallInt(fn Func) int { return int(C.evo_call_int(fn.p)) }

// CallSetInt calls a `void f(int)`.
func CallSetInt(fn Func, v int) { C.evo_call_set_int(fn.p, C.int(v)) }

// CallInt64 calls an `int64_t f(void)`.
func CallInt64(fn Func) int64 { return int64(C.evo_call_int64(fn.p)) }

// CallSetInt64 calls a `void f(int64_t)`.
func CallSetInt64(fn Func, v int64) { C.evo_call_set_int64(fn.p, C.int64_t(v)) }

// CallStringOfInt calls a `const char *f(int)`.
func CallStringOfInt(fn Func, v int) string { return C.GoString(C.evo_call_str_of_int(fn.p, C.int(v))) }
