//go:build openblas && cgo

package blas

// The OpenBLAS backend: the library is dlopen'ed at run time, after
// OPENBLAS_CORETYPE is chosen, because OpenBLAS picks its kernels once, in
// its constructor, when it is loaded; linking it at build time would fix
// the kernel before any Go code runs. No header or -dev package is needed
// to build. The cgo calls live in ./openblasdl because this package holds
// Go assembly, which a cgo package cannot.

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"

	"github.com/evoprune/evoprune/blas/openblasdl"
)

// obLib is a loaded library with a cblas_sgemm.
type obLib struct {
	*openblasdl.Lib
	sgemm openblasdl.Func
}

// obOpenFirst opens the first of candidates that loads. preloaded says
// whether it was already in the process (so its constructor has already
// run and the environment can no longer change its kernel).
func obOpenFirst(candidates []string) (lib *obLib, preloaded bool, err error) {
	var errs []string
	for _, p := range candidates {
		if l, err := openblasdl.Open(p, true); err == nil {
			return &obLib{Lib: l}, true, nil
		}
		l, err := openblasdl.Open(p, false)
		if err == nil {
			return &obLib{Lib: l}, false, nil
		}
		errs = append(errs, err.Error())
	}
	return nil, false, obMissingLibError(candidates, errs)
}

// call runs cblas_sgemm after the checks. k == 0 and alpha == 0 are done
// here (C = beta*C, A and B unread, as BLAS defines) because a CBLAS
// rejects lda < 1 and the slices may then be empty.
func (l *obLib) call(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int,
	b []float32, ldb int, beta float32, c []float32, ldc int) {
	obCheckSgemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scale(m, n, beta, c, ldc)
		return
	}
	openblasdl.Sgemm(l.sgemm, transA, transB, m, n, k, alpha, &a[0], lda, &b[0], ldb, beta, &c[0], ldc)
}

// OpenBLAS is the Float32 backed by OpenBLAS's cblas_sgemm, from
// LoadOpenBLAS. Its methods are safe for concurrent use; the thread count
// and the kernel are process-wide.
type OpenBLAS struct{ st *openblasState }

type openblasState struct {
	lib        *obLib
	config     string // openblas_get_config at load
	getThreads openblasdl.Func
	setThreads openblasdl.Func
	core       string // the kernel OpenBLAS runs (openblas_get_corename), e.g. "SkylakeX"
	coreEnv    string // OPENBLAS_CORETYPE during the load ("" if unset)
	optCore    string // OpenBLASOptions.CoreType of the first load
	origin     string // obCoreFrom*
	features   obCPU
}

var (
	openblasMu sync.Mutex
	openblasSt *openblasState
)

func loadOpenBLAS(opt OpenBLASOptions) (Float32, error) {
	if opt.Threads < 0 {
		return nil, fmt.Errorf("blas: OpenBLAS threads must be >= 0, got %d", opt.Threads)
	}
	openblasMu.Lock()
	defer openblasMu.Unlock()
	st := openblasSt
	if st == nil {
		var err error
		if st, err = openOpenBLAS(opt); err != nil {
			return nil, err
		}
		openblasSt = st
	} else {
		if opt.Library != "" && opt.Library != st.lib.Path {
			return nil, fmt.Errorf("blas: OpenBLAS is already loaded from %s; it cannot be replaced by %s in the same process", st.lib.Path, opt.Library)
		}
		if opt.CoreType != "" && !strings.EqualFold(opt.CoreType, st.optCore) {
			return nil, fmt.Errorf("blas: OpenBLAS is already loaded with core %s (%s); the core type is fixed at the first load, so %q cannot take effect", st.core, st.origin, opt.CoreType)
		}
	}
	if obSlowCore(st.core, st.features) && !opt.AllowSlowCore {
		return nil, obSlowCoreError(st.lib.Path, st.core, st.coreEnv, st.origin, st.features)
	}
	o := &OpenBLAS{st}
	threads := opt.Threads
	if threads == 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	o.SetThreads(threads)
	return o, nil
}

// openOpenBLAS sets OPENBLAS_CORETYPE as chosen, loads the library and
// puts the environment back as it was.
func openOpenBLAS(opt OpenBLASOptions) (*openblasState, error) {
	f := obHostCPU()
	env, envSet := os.LookupEnv("OPENBLAS_CORETYPE")
	value, set, origin := obChooseCore(opt.CoreType, env, envSet, f)
	coreEnv := env
	if set {
		// os.Setenv reaches C's environment (getenv) in cgo programs.
		if value == "" {
			os.Unsetenv("OPENBLAS_CORETYPE")
		} else {
			os.Setenv("OPENBLAS_CORETYPE", value)
		}
		coreEnv = value
		defer func() {
			if envSet {
				os.Setenv("OPENBLAS_CORETYPE", env)
			} else {
				os.Unsetenv("OPENBLAS_CORETYPE")
			}
		}()
	}
	lib, preloaded, err := obOpenFirst(openBLASCandidates(opt))
	if err != nil {
		return nil, err
	}
	st := &openblasState{lib: lib, coreEnv: coreEnv, optCore: opt.CoreType, origin: origin, features: f}
	if preloaded {
		st.origin = "core fixed by an earlier load in this process"
	}
	var corename, config openblasdl.Func
	for _, s := range []struct {
		name string
		p    *openblasdl.Func
	}{
		{"cblas_sgemm", &lib.sgemm},
		{"openblas_get_corename", &corename},
		{"openblas_get_config", &config},
		{"openblas_get_num_threads", &st.getThreads},
		{"openblas_set_num_threads", &st.setThreads},
	} {
		if *s.p, err = lib.Sym(s.name); err != nil {
			return nil, fmt.Errorf("blas: %v: is it OpenBLAS?", err)
		}
	}
	st.config = strings.TrimSpace(openblasdl.CallString(config))
	st.core = strings.TrimSpace(openblasdl.CallString(corename))
	return st, nil
}

// Name implements Float32, e.g.
// "openblas 0.3.21 (SkylakeX, 1 thread, core forced by evoprune)".
func (o *OpenBLAS) Name() string {
	t := o.Threads()
	s := fmt.Sprintf("openblas %s (%s, %d thread", parseOpenBLASVersion(o.st.config), o.st.core, t)
	if t != 1 {
		s += "s"
	}
	s += ", " + o.st.origin
	if obSlowCore(o.st.core, o.st.features) {
		s += ", SLOW GENERIC KERNEL, the CPU has " + o.st.features.String()
	} else if obNarrowCore(o.st.core, o.st.features) {
		s += ", AVX2 kernel on an AVX-512 CPU: about half speed, unset OPENBLAS_CORETYPE"
	}
	return s + "; convolutions on " + Blocked{}.Name() + ")"
}

// Core returns the kernel OpenBLAS runs (openblas_get_corename), e.g.
// "SkylakeX".
func (o *OpenBLAS) Core() string { return o.st.core }

// Config returns openblas_get_config, e.g. "OpenBLAS 0.3.21 NO_LAPACKE
// DYNAMIC_ARCH NO_AFFINITY SkylakeX MAX_THREADS=64".
func (o *OpenBLAS) Config() string { return o.st.config }

// Library returns the path or soname that was loaded.
func (o *OpenBLAS) Library() string { return o.st.lib.Path }

// Threads returns OpenBLAS's current thread count.
func (o *OpenBLAS) Threads() int { return openblasdl.CallInt(o.st.getThreads) }

// SetThreads sets OpenBLAS's thread count (at least 1), process-wide.
func (o *OpenBLAS) SetThreads(n int) { openblasdl.CallSetInt(o.st.setThreads, max(1, n)) }

// SgemmSource implements SourceFloat32 with the pure-Go Blocked GEMM.
// OpenBLAS cannot take B block by block from a Source, so a convolution's
// patches would have to be written out in full (K*K times the image) and
// read back; measured, that cost more than OpenBLAS's kernels gain
// (docs/RESULTS.md: LeNet-5 training 0.85x PyTorch with the patches
// materialised for OpenBLAS, 1.47x with them on the pure-Go GEMM, the
// same day). Convolutions therefore
// run on the pure-Go implicit GEMM (Name says so), and OpenBLAS serves the
// products of stored matrices: linear layers and the col2im route.
func (o *OpenBLAS) SgemmSource(threads int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int,
	src Source, beta float32, c []float32, ldc int) {
	Blocked{}.SgemmSource(threads, transA, transB, m, n, k, alpha, a, lda, src, beta, c, ldc)
}

// Sgemm implements Float32.
func (o *OpenBLAS) Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int,
	b []float32, ldb int, beta float32, c []float32, ldc int) {
	o.st.lib.call(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// obBLIS is Debian's BLIS through its CBLAS, kept for the benchmarks that
// compare it with OpenBLAS (docs/BLAS.md); it is not exported.
type obBLIS struct {
	lib        *obLib
	version    string
	arch       string
	getThreads openblasdl.Func
	setThreads openblasdl.Func
}

var (
	obBLISMu     sync.Mutex
	obBLISLoaded *obBLIS
)

// obBLISSonames: the pthread build first, because Debian's alternatives
// may point libblis.so.4 at the OpenMP one.
var obBLISSonames = []string{
	"/usr/lib/x86_64-linux-gnu/blis-pthread/libblis.so.4",
	"libblis.so.4",
	"libblis.so",
}

// obLoadBLIS loads BLIS once per process and sets its thread count.
func obLoadBLIS(threads int) (*obBLIS, error) {
	obBLISMu.Lock()
	defer obBLISMu.Unlock()
	if obBLISLoaded == nil {
		lib, _, err := obOpenFirst(obBLISSonames)
		if err != nil {
			return nil, fmt.Errorf("%v (for BLIS: apt-get install libblis4-pthread)", err)
		}
		names := []string{"cblas_sgemm", "bli_info_get_version_str", "bli_arch_query_id",
			"bli_arch_string", "bli_thread_set_num_threads", "bli_thread_get_num_threads"}
		fs := make([]openblasdl.Func, len(names))
		for i, n := range names {
			if fs[i], err = lib.Sym(n); err != nil {
				return nil, fmt.Errorf("blas: %v", err)
			}
		}
		lib.sgemm = fs[0]
		obBLISLoaded = &obBLIS{lib: lib, version: openblasdl.CallString(fs[1]),
			arch:       openblasdl.CallStringOfInt(fs[3], openblasdl.CallInt(fs[2])),
			setThreads: fs[4], getThreads: fs[5]}
	}
	openblasdl.CallSetInt64(obBLISLoaded.setThreads, int64(max(1, threads)))
	return obBLISLoaded, nil
}

func (l *obBLIS) Name() string {
	t := openblasdl.CallInt64(l.getThreads)
	s := "s"
	if t == 1 {
		s = ""
	}
	return fmt.Sprintf("blis %s (%s, %d thread%s)", l.version, l.arch, t, s)
}

func (l *obBLIS) Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int,
	b []float32, ldb int, beta float32, c []float32, ldc int) {
	l.lib.call(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}
