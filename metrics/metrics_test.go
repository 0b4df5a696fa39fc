package metrics

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSplitMetricList(t *testing.T) {
	for in, want := range map[string]string{
		"l1,eq3, random":                 "l1|eq3|random",
		"l1;div(P, Q);runs/x/best":       "l1|div(P, Q)|runs/x/best",
		"abs_snr,div(abs(P), add(Q, P))": "abs_snr|div(abs(P), add(Q, P))",
		" ; l1 ;":                        "l1",
	} {
		if got := strings.Join(SplitMetricList(in), "|"); got != want {
			t.Errorf("SplitMetricList(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRunSelectors(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "evolve-x")
	os.MkdirAll(dir, 0o755)
	sum := `{"hall_of_fame":[{"rank":1,"prefix":"abs(sub(mean(P), mean(Q)))","fitness":0.9},{"rank":2,"prefix":"var(P)","fitness":0.8}]}`
	if err := os.WriteFile(filepath.Join(dir, "summary.json"), []byte(sum), 0o644); err != nil {
		t.Fatal(err)
	}
	best, err := ResolveMetric(dir + "/best")
	if err != nil || len(best) != 1 || best[0].Label != dir+"/best" || best[0].Kind != KindEvolved {
		t.Fatalf("best: %+v %v", best, err)
	}
	top, err := ResolveMetric(dir + "/top2")
	if err != nil || len(top) != 2 || top[1].Label != dir+"/top2#2" {
		t.Fatalf("top2: %+v %v", top, err)
	}
	if second, err := ResolveMetric(dir + "/2"); err != nil || second[0].Hash != top[1].Hash {
		t.Errorf("RUN/2: %+v %v", second, err)
	}
	if _, err := ResolveMetric(dir + "/top3"); err == nil || !strings.Contains(err.Error(), "2 entries") {
		t.Errorf("top3 of 2: %v", err)
	}
	if _, err := ResolveMetric(filepath.Join(t.TempDir(), "nothing") + "/best"); err == nil || !strings.Contains(err.Error(), "summary.json") {
		t.Errorf("missing run: %v", err)
	}
}

func TestResolveKinds(t *testing.T) {
	one := func(s string) Metric {
		t.Helper()
		ms, err := ResolveMetric(s)
		if err != nil || len(ms) != 1 {
			t.Fatalf("%s: %+v %v", s, ms, err)
		}
		return ms[0]
	}
	if f, g := one("fpgm"), one("geo_median_dist"); f.Hash != g.Hash || f.Label != "fpgm" || f.Kind != KindHandMade {
		t.Errorf("fpgm %+v is not geo_median_dist %+v", f, g)
	}
	if r := one("random"); r.Kind != KindBaseline || r.Hash != "native:random" {
		t.Errorf("random: %+v", r)
	}
	if e := one("eq3"); e.Kind != KindEvolved {
		t.Errorf("eq3: %+v", e)
	}
	// An expression equal to l1 up to canonical form shares l1's hash.
	if x, l := one("sum(abs(WI))"), one("l1"); x.Kind != KindExpression || x.Hash != l.Hash {
		t.Errorf("expression %+v vs l1 %+v", x, l)
	}
	for in, want := range map[string]string{"nosuch": "unknown metric", "div(P)": "metric \"div(P)\"", "": "empty metric"} {
		if _, err := ResolveMetric(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error containing %q", in, err, want)
		}
	}
}
