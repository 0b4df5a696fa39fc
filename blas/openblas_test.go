package blas

import (
	"strings"
	"testing"
)

// Tests of the OpenBLAS backend's pure-Go parts; they run in every build.

func TestOpenBLASChooseCore(t *testing.T) {
	skx := obCPU{avx2: true, fma: true, avx512f: true, vendor: "GenuineIntel", family: 6}
	zen4 := obCPU{avx2: true, fma: true, avx512f: true, vendor: "AuthenticAMD", family: 25}
	zen5 := obCPU{avx2: true, fma: true, avx512f: true, vendor: "AuthenticAMD", family: 26}
	unknown512 := obCPU{avx2: true, fma: true, avx512f: true}
	haswell := obCPU{avx2: true, fma: true}
	old := obCPU{}
	for _, tc := range []struct {
		name     string
		opt, env string
		envSet   bool
		f        obCPU
		value    string
		set      bool
		origin   string
	}{
		{"Intel avx512 picks SKYLAKEX", "", "", false, skx, "SKYLAKEX", true, obCoreFromEvoprune},
		{"Zen 4 picks HASWELL", "", "", false, zen4, "HASWELL", true, obCoreFromEvoprune},
		{"Zen 5 (unmeasured) picks SKYLAKEX", "", "", false, zen5, "SKYLAKEX", true, obCoreFromEvoprune},
		{"avx512 of unknown vendor picks SKYLAKEX", "", "", false, unknown512, "SKYLAKEX", true, obCoreFromEvoprune},
		{"avx2 picks HASWELL", "", "", false, haswell, "HASWELL", true, obCoreFromEvoprune},
		{"old CPU lets OpenBLAS decide", "", "", false, old, "", false, obCoreFromOpenBLAS},
		{"user's env wins", "", "ZEN", true, zen4, "ZEN", false, obCoreFromEnv},
		{"empty env means OpenBLAS decides", "", "", true, zen4, "", false, obCoreFromOpenBLAS},
		{"option wins over env", "cooperlake", "ZEN", true, zen4, "COOPERLAKE", true, obCoreFromEvoprune},
		{"auto unsets", "auto", "ZEN", true, zen4, "", true, obCoreFromOpenBLAS},
	} {
		v, set, origin := obChooseCore(tc.opt, tc.env, tc.envSet, tc.f)
		if v != tc.value || set != tc.set || origin != tc.origin {
			t.Errorf("%s: got (%q, %v, %q), want (%q, %v, %q)", tc.name, v, set, origin, tc.value, tc.set, tc.origin)
		}
	}
}

func TestOpenBLASNarrowCore(t *testing.T) {
	zen5 := obCPU{avx2: true, fma: true, avx512f: true, vendor: "AuthenticAMD", family: 26}
	zen4 := obCPU{avx2: true, fma: true, avx512f: true, vendor: "AuthenticAMD", family: 25}
	haswell := obCPU{avx2: true, fma: true}
	for _, tc := range []struct {
		core string
		f    obCPU
		want bool
	}{
		{"Haswell", zen5, true}, {"Zen", zen5, true}, {"SkylakeX", zen5, false}, {"Cooperlake", zen5, false},
		{"Haswell", zen4, false},                               // AVX2 measured as fast on Zen 4
		{"Haswell", haswell, false}, {"Prescott", zen5, false}, // slow, reported as such instead
	} {
		if got := obNarrowCore(tc.core, tc.f); got != tc.want {
			t.Errorf("%s on %+v: narrow %v, want %v", tc.core, tc.f, got, tc.want)
		}
	}
}

func TestOpenBLASSlowCore(t *testing.T) {
	wide := obCPU{avx2: true, fma: true, avx512f: true}
	for _, c := range []string{"Prescott", "Core2", "Nehalem", "Sandybridge", "Unknown", "", "Barcelona"} {
		if !obSlowCore(c, wide) {
			t.Errorf("%q on an AVX-512 CPU should count as slow", c)
		}
		if obSlowCore(c, obCPU{}) {
			t.Errorf("%q on a CPU without AVX2 is the best there is, not slow", c)
		}
	}
	for _, c := range []string{"SkylakeX", "Cooperlake", "Haswell", "Zen", "SapphireRapids", "skylakex", "SomeFutureCore"} {
		if obSlowCore(c, wide) {
			t.Errorf("%q should not count as slow", c)
		}
	}
	err := obSlowCoreError("libopenblas.so.0", "Prescott", "", obCoreFromOpenBLAS, wide)
	for _, want := range []string{"Prescott", "AVX-512F", "SKYLAKEX", "AllowSlowCore"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("slow-core error %q does not mention %q", err, want)
		}
	}
}

func TestOpenBLASMissingLibraryError(t *testing.T) {
	err := obMissingLibError([]string{"libopenblas.so.0", "libopenblas.so"}, []string{"x: not found", "y: not found"})
	for _, want := range []string{"libopenblas.so.0", "libopenblas.so:", "apt-get install libopenblas0-pthread", "EVOPRUNE_OPENBLAS_LIB"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing-library error %q does not mention %q", err, want)
		}
	}
}

func TestOpenBLASParseVersion(t *testing.T) {
	if v := parseOpenBLASVersion("OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY SkylakeX MAX_THREADS=64"); v != "0.3.21" {
		t.Errorf("got %q", v)
	}
	if v := parseOpenBLASVersion("something else"); v != "?" {
		t.Errorf("got %q", v)
	}
}

func TestOpenBLASCheckSgemm(t *testing.T) {
	ok := func(name string, f func()) {
		t.Helper()
		defer func() {
			if r := recover(); r != nil {
				t.Errorf("%s: unexpected panic %v", name, r)
			}
		}()
		f()
	}
	bad := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s: no panic", name)
			}
		}()
		f()
	}
	s := make([]float32, 6)
	ok("2x3 * 3x2", func() { obCheckSgemm(false, false, 2, 2, 3, s, 3, s, 2, s[:4], 2) })
	ok("transposed", func() { obCheckSgemm(true, true, 2, 2, 3, s, 2, s, 3, s[:4], 2) })
	ok("k=0", func() { obCheckSgemm(false, false, 2, 2, 0, nil, 1, nil, 2, s[:4], 2) })
	bad("short A", func() { obCheckSgemm(false, false, 2, 2, 3, s[:5], 3, s, 2, s[:4], 2) })
	bad("short C", func() { obCheckSgemm(false, false, 2, 2, 3, s, 3, s, 2, s[:3], 2) })
	bad("small lda", func() { obCheckSgemm(false, false, 2, 2, 3, s, 2, s, 2, s[:4], 2) })
	bad("small ldb transposed", func() { obCheckSgemm(false, true, 2, 2, 3, s, 3, s, 2, s[:4], 2) })
	bad("negative", func() { obCheckSgemm(false, false, -1, 2, 3, s, 3, s, 2, s[:4], 2) })
}

func TestOpenBLASParseCPUInfo(t *testing.T) {
	text := "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 17\n\nprocessor\t: 1\nvendor_id\t: Other\ncpu family\t: 6\n"
	if v, f := obParseCPUInfo(text); v != "AuthenticAMD" || f != 25 {
		t.Errorf("got %q, %d", v, f)
	}
	if v, f := obParseCPUInfo(""); v != "" || f != 0 {
		t.Errorf("empty: got %q, %d", v, f)
	}
	zen4 := obCPU{avx2: true, fma: true, avx512f: true, vendor: "AuthenticAMD", family: 25}
	if err := obSlowCoreError("lib", "Prescott", "", obCoreFromOpenBLAS, zen4); !strings.Contains(err.Error(), "HASWELL") {
		t.Errorf("the fix suggested on Zen 4 should be HASWELL: %v", err)
	}
}
