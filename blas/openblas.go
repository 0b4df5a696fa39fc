package blas

// This file holds the parts of the optional OpenBLAS backend that need no
// cgo: the options, the choice of OpenBLAS's core type from the CPU, the
// "never silently slow" rule and the argument checks. The loader itself is in
// openblas_dl.go (build tag openblas, cgo in ./openblasdl); openblas_stub.go
// stands in for it in default builds. See docs/BLAS.md.

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/cpu"
)

// OpenBLASOptions tunes LoadOpenBLASWith. The zero value is the
// recommended setting.
type OpenBLASOptions struct {
	// Library is the shared library to dlopen, a path or a soname. Empty
	// means $EVOPRUNE_OPENBLAS_LIB if set, else the sonames in
	// OpenBLASSonames, in order.
	Library string

	// CoreType is the OpenBLAS kernel family to force through
	// OPENBLAS_CORETYPE. Empty means: keep OPENBLAS_CORETYPE if the
	// environment sets it (even to ""), else choose from the CPU
	// (AVX-512F: SKYLAKEX, except on AMD Zen 4, where HASWELL measured
	// faster; AVX2+FMA: HASWELL; else OpenBLAS's own detection). "auto"
	// means OpenBLAS's own detection. Any other value
	// (SKYLAKEX, COOPERLAKE, HASWELL, ZEN, PRESCOTT, ...) is passed through.
	// The core is fixed when the library is first loaded in the process.
	CoreType string

	// Threads is OpenBLAS's thread count. 0 means runtime.GOMAXPROCS(0) at
	// load time, the Go thread budget (the CLI's --threads).
	Threads int

	// AllowSlowCore accepts a generic/SSE kernel on a CPU with AVX2 or
	// AVX-512. Without it, LoadOpenBLAS refuses such a library with an
	// error instead of running 2-3x slower than it should.
	AllowSlowCore bool
}

// OpenBLASSonames are the libraries LoadOpenBLAS tries, in order, when
// neither OpenBLASOptions.Library nor $EVOPRUNE_OPENBLAS_LIB names one. They
// are the LP64 (32-bit integer) builds; the 64-bit-integer libopenblas64
// has other symbol names and is not supported.
var OpenBLASSonames = []string{
	"libopenblas.so.0",
	"libopenblas.so",
	"/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
	"/usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so.0",
	"/usr/lib/x86_64-linux-gnu/openblas-serial/libopenblas.so.0",
}

// OpenBLASInstallHint is the command that installs the library on Debian
// and Ubuntu.
const OpenBLASInstallHint = "apt-get install libopenblas0-pthread"

// LoadOpenBLAS loads OpenBLAS with the default OpenBLASOptions: the kernel
// chosen from the CPU, as many threads as GOMAXPROCS, and an error rather
// than a generic/SSE kernel on an AVX2/AVX-512 CPU. In builds without
// `-tags openblas` (or without cgo) it always returns an error saying how
// to rebuild. Use the result with Use:
//
//	f, err := blas.LoadOpenBLAS()
//	if err != nil { return err }
//	blas.Use(f)
//	log.Print(f.Name()) // "openblas 0.3.21 (SkylakeX, 1 thread, core forced by evoprune)"
func LoadOpenBLAS() (Float32, error) { return LoadOpenBLASWith(OpenBLASOptions{}) }

// LoadOpenBLASWith is LoadOpenBLAS with options. OpenBLAS is loaded once
// per process: later calls reuse it (and may change the thread count), and
// fail if they ask for another library or core type.
func LoadOpenBLASWith(opt OpenBLASOptions) (Float32, error) { return loadOpenBLAS(opt) }

// Where the core type that OpenBLAS runs came from.
const (
	obCoreFromEvoprune = "core forced by evoprune"
	obCoreFromEnv      = "core from OPENBLAS_CORETYPE"
	obCoreFromOpenBLAS = "core detected by OpenBLAS"
)

// obCPU is the part of the CPU that matters for the choice of core.
type obCPU struct {
	avx2, fma, avx512f bool
	vendor             string // "GenuineIntel", "AuthenticAMD", or "" if unknown
	family             int    // CPU family as Linux reports it (25 = AMD Zen 3/4)
}

func obHostCPU() obCPU {
	f := obCPU{avx2: cpu.X86.HasAVX2, fma: cpu.X86.HasFMA, avx512f: cpu.X86.HasAVX512F}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		f.vendor, f.family = obParseCPUInfo(string(b))
	}
	return f
}

// obParseCPUInfo takes the first vendor_id and cpu family of a Linux
// /proc/cpuinfo.
func obParseCPUInfo(text string) (vendor string, family int) {
	for _, line := range strings.Split(text, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if k == "vendor_id" && vendor == "" {
			vendor = v
		}
		if k == "cpu family" && family == 0 {
			family, _ = strconv.Atoi(v)
		}
		if vendor != "" && family != 0 {
			break
		}
	}
	return vendor, family
}

// zen4 reports an AMD Zen 4: family 25 (Zen 3 and 4) with AVX-512 (Zen 4
// only). It runs 512-bit instructions as two 256-bit halves, and on it
// OpenBLAS 0.3.21's AVX2 (HASWELL) kernels measured as fast as its AVX-512
// (SKYLAKEX) ones on large GEMMs and 1.15-1.6x faster on the skinny GEMMs
// of convolutions (docs/BLAS.md).
func (f obCPU) zen4() bool { return f.avx512f && f.vendor == "AuthenticAMD" && f.family == 25 }

func (f obCPU) String() string {
	switch {
	case f.avx512f:
		return "AVX-512F"
	case f.avx2 && f.fma:
		return "AVX2+FMA"
	case f.avx2:
		return "AVX2"
	}
	return "no AVX2"
}

// wide reports whether the CPU has the vector units that make a generic
// kernel a slow fallback.
func (f obCPU) wide() bool { return f.avx2 || f.avx512f }

// obChooseCore decides what OPENBLAS_CORETYPE should be while the library
// loads. set says whether to set it (to value) or leave the environment as
// it is; origin says where the core will come from.
func obChooseCore(optCore string, env string, envSet bool, f obCPU) (value string, set bool, origin string) {
	switch {
	case strings.EqualFold(optCore, "auto"):
		// Unset it for the load so that OpenBLAS detects by itself.
		return "", true, obCoreFromOpenBLAS
	case optCore != "":
		return strings.ToUpper(optCore), true, obCoreFromEvoprune
	case envSet && env != "":
		return env, false, obCoreFromEnv
	case envSet:
		return "", false, obCoreFromOpenBLAS
	case f.avx512f && !f.zen4():
		return "SKYLAKEX", true, obCoreFromEvoprune
	case f.avx2 && f.fma:
		return "HASWELL", true, obCoreFromEvoprune
	}
	return "", false, obCoreFromOpenBLAS
}

// obSlowCores are OpenBLAS core names (openblas_get_corename, lower-cased)
// whose single-precision GEMM kernels use no AVX2 or AVX-512: on a CPU that
// has those they are a fallback, about 2-3x slower.
// A list of the slow ones rather than of the good ones, so that a newer
// OpenBLAS's new core names are not refused.
var obSlowCores = map[string]bool{
	"": true, "unknown": true, "generic": true,
	"katmai": true, "coppermine": true, "northwood": true, "prescott": true,
	"banias": true, "core2": true, "penryn": true, "dunnington": true,
	"nehalem": true, "atom": true, "nano": true, "sandybridge": true,
	"athlon": true, "opteron": true, "opteron_sse3": true, "opteron(sse3)": true,
	"barcelona": true, "bobcat": true, "bulldozer": true, "piledriver": true,
	"steamroller": true, "excavator": true,
}

// obSlowCore reports whether running core on a CPU with features f is a slow
// fallback.
func obSlowCore(core string, f obCPU) bool {
	return f.wide() && obSlowCores[strings.ToLower(strings.TrimSpace(core))]
}

// obAVX2Cores are OpenBLAS cores whose GEMM kernels stop at AVX2.
var obAVX2Cores = map[string]bool{"haswell": true, "zen": true, "skylake": true}

// obNarrowCore reports whether core leaves half of the CPU's vector width
// unused: an AVX2 kernel on a CPU with full-width AVX-512 (not on a Zen 4,
// whose AVX-512 is two AVX2 halves and where AVX2 kernels measured as
// fast). It happens when OPENBLAS_CORETYPE asks for it, as the environment
// of some machines does; the library is not refused (the user asked), but
// its Name says so.
func obNarrowCore(core string, f obCPU) bool {
	return f.avx512f && !f.zen4() && obAVX2Cores[strings.ToLower(strings.TrimSpace(core))]
}

// obSlowCoreError explains a refused slow core and what to do about it.
func obSlowCoreError(lib, core, coreEnv, origin string, f obCPU) error {
	why := "OpenBLAS's own CPU detection chose it (this OpenBLAS does not know this CPU)"
	switch origin {
	case obCoreFromEnv:
		why = fmt.Sprintf("OPENBLAS_CORETYPE=%s in the environment asked for it", coreEnv)
	case obCoreFromEvoprune:
		why = fmt.Sprintf("the option asked for OPENBLAS_CORETYPE=%s", coreEnv)
		if !strings.EqualFold(core, coreEnv) {
			why += fmt.Sprintf(" and this OpenBLAS ran %q instead", core)
		}
	}
	want, _, _ := obChooseCore("", "", false, f)
	if want == "" {
		want = "HASWELL"
	}
	return fmt.Errorf("blas: %s runs the generic OpenBLAS kernel %q on a CPU with %s, "+
		"2-3x slower than it should be; %s. Unset OPENBLAS_CORETYPE or set it to %s, "+
		"or install a newer OpenBLAS; to run the slow kernel anyway pass AllowSlowCore",
		lib, core, f, why, want)
}

// obMissingLibError names every library tried and how to install one.
func obMissingLibError(tried []string, errs []string) error {
	return fmt.Errorf("blas: OpenBLAS not found (tried %s: %s); install it with `%s` "+
		"(Debian/Ubuntu) or name the library in $EVOPRUNE_OPENBLAS_LIB",
		strings.Join(tried, ", "), strings.Join(errs, "; "), OpenBLASInstallHint)
}

// openBLASCandidates lists the libraries to try for opt.
func openBLASCandidates(opt OpenBLASOptions) []string {
	if opt.Library != "" {
		return []string{opt.Library}
	}
	if p := os.Getenv("EVOPRUNE_OPENBLAS_LIB"); p != "" {
		return []string{p}
	}
	return OpenBLASSonames
}

// parseOpenBLASVersion takes "0.3.21" out of openblas_get_config's
// "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH ...".
func parseOpenBLASVersion(config string) string {
	f := strings.Fields(config)
	if len(f) >= 2 && strings.EqualFold(f[0], "OpenBLAS") {
		return f[1]
	}
	return "?"
}

// obCheckSgemm panics, as gonum does, on arguments that would make a C GEMM
// read or write outside the slices or overflow its 32-bit integers.
func obCheckSgemm(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("blas: negative GEMM dimension %s", String(m, n, k)))
	}
	for _, v := range []int{m, n, k, lda, ldb, ldc} {
		if v > math.MaxInt32 {
			panic(fmt.Sprintf("blas: GEMM argument %d overflows a 32-bit BLAS integer", v))
		}
	}
	// As in gonum, the lengths do not matter when C is empty.
	empty := m == 0 || n == 0
	// Row-major: stored A is rows x cols with rows = m (k if transposed).
	check := func(name string, s []float32, ld, rows, cols int) {
		if ld < max(1, cols) {
			panic(fmt.Sprintf("blas: bad ld%s %d for %dx%d %s", name, ld, rows, cols, strings.ToUpper(name)))
		}
		if empty || rows == 0 || cols == 0 {
			return // nothing is read or written
		}
		if len(s) < (rows-1)*ld+cols {
			panic(fmt.Sprintf("blas: %s too short: len %d < %d for %dx%d with ld%s %d",
				strings.ToUpper(name), len(s), (rows-1)*ld+cols, rows, cols, name, ld))
		}
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	check("a", a, lda, ar, ac)
	check("b", b, ldb, br, bc)
	check("c", c, ldc, m, n)
}
