// Package metrics turns what a user types as a pruning metric into a
// criterion the pruning engine can run: a native criterion (random,
// bn_scale, taylor, apoz, hrank), a pfunc library name or alias, a pfunc
// expression, or RUN/best, RUN/topK, RUN/K for an evolution run's hall of
// fame. Benchmarks, protocol studies and the CLI share it, so a metric list
// means the same everywhere.
package metrics

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/evoprune/evoprune/pfunc"
	"github.com/evoprune/evoprune/prune"
)

// Kind says where a metric comes from, which decides the default reference
// of the significance tests (the best hand-made criterion).
type Kind string

// Metric kinds.
const (
	// KindHandMade is a criterion designed by people: the library's seed
	// functions and di, fpgm, and the native bn_scale, taylor, apoz, hrank.
	KindHandMade Kind = "hand-made"
	// KindEvolved is a function found by evolution: the reference's
	// (eq3, ga1, ga3, ga4) or a run's hall of fame.
	KindEvolved Kind = "evolved"
	// KindBaseline is the random criterion.
	KindBaseline Kind = "baseline"
	// KindExpression is an expression given on the command line.
	KindExpression Kind = "expression"
)

// Metric is one entry of a metric list, resolved.
type Metric struct {
	// Label is how the metric was asked for (RUN/top3 expands to RUN/top3#1 ...).
	Label string `json:"label"`
	// Expr is what the evaluator runs: a native criterion's name or a
	// pfunc expression in prefix form.
	Expr string `json:"expr"`
	// Hash identifies the function (pfunc's canonical hash; "native:NAME").
	Hash string `json:"hash"`
	Kind Kind   `json:"kind"`
}

// SplitMetricList splits a metric list. Expressions contain commas, so
// entries are separated by ';'; a list without ';' is split on the commas
// that are outside parentheses, so "l1,eq3,div(P, Q)" works too.
func SplitMetricList(s string) []string {
	var out []string
	add := func(x string) {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	if strings.Contains(s, ";") {
		for _, p := range strings.Split(s, ";") {
			add(p)
		}
		return out
	}
	depth, start := 0, 0
	for i, r := range s {
		switch r {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				add(s[start:i])
				start = i + 1
			}
		}
	}
	add(s[start:])
	return out
}

// ResolveMetrics resolves every entry of a list (see ResolveMetric) and
// drops repeated labels.
func ResolveMetrics(list []string) ([]Metric, error) {
	if len(list) == 0 {
		return nil, fmt.Errorf("no metrics")
	}
	var out []Metric
	seen := map[string]bool{}
	for _, s := range list {
		ms, err := ResolveMetric(s)
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			if !seen[m.Label] {
				seen[m.Label] = true
				out = append(out, m)
			}
		}
	}
	return out, nil
}

// ResolveMetric resolves one entry: a native criterion (random, bn_scale,
// taylor, apoz, hrank), a library name or alias (fpgm), a pfunc expression
// (constants allowed, as evolution writes them), or RUN/best, RUN/topK or
// RUN/K for the hall of fame of an evolution run directory (its
// summary.json). Everything is checked here, before any work starts.
func ResolveMetric(s string) ([]Metric, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("empty metric")
	}
	if dir, sel, ok := runSelector(s); ok {
		return fromRun(s, dir, sel)
	}
	for _, c := range prune.NativeCriteria {
		if c.Name == s {
			k := KindHandMade
			if s == "random" {
				k = KindBaseline
			}
			return []Metric{{Label: s, Expr: s, Hash: "native:" + s, Kind: k}}, nil
		}
	}
	name := s
	if a, ok := prune.Aliases[s]; ok {
		name = a
	}
	if f, ok := pfunc.Lookup(name); ok {
		k := KindHandMade
		if strings.HasPrefix(f.Source, "GA_Func") {
			k = KindEvolved
		}
		return []Metric{{Label: s, Expr: pfunc.Prefix(f.Tree), Hash: pfunc.Hash(f.Tree), Kind: k}}, nil
	}
	m, err := expression(s, s)
	if err != nil {
		return nil, err
	}
	m.Kind = KindExpression
	return []Metric{m}, nil
}

func expression(label, expr string) (Metric, error) {
	tree, err := pfunc.ParseWithConstants(expr)
	if err != nil {
		if !strings.ContainsAny(expr, "()") {
			var natives []string
			for _, c := range prune.NativeCriteria {
				natives = append(natives, c.Name)
			}
			return Metric{}, fmt.Errorf("unknown metric %q: not a built-in criterion (%s), a library function (see evoprune metric list), an expression or RUN/best", label, strings.Join(natives, ", "))
		}
		return Metric{}, fmt.Errorf("metric %q: %w", label, err)
	}
	if _, err := prune.NewPfunc(label, tree); err != nil {
		return Metric{}, err
	}
	return Metric{Label: label, Expr: pfunc.Prefix(tree), Hash: pfunc.Hash(tree)}, nil
}

// runSelector splits "DIR/best", "DIR/topK" or "DIR/K" when DIR is a
// directory holding summary.json.
func runSelector(s string) (dir, sel string, ok bool) {
	i := strings.LastIndex(s, "/")
	if i <= 0 || strings.ContainsAny(s, "()") {
		return "", "", false
	}
	dir, sel = s[:i], s[i+1:]
	if sel != "best" && !strings.HasPrefix(sel, "top") {
		if _, err := strconv.Atoi(sel); err != nil {
			return "", "", false
		}
	}
	return dir, sel, true
}

// fame is the part of an evolution run's summary.json read here.
type fame struct {
	HallOfFame []struct {
		Rank    int     `json:"rank"`
		Prefix  string  `json:"prefix"`
		Fitness float64 `json:"fitness"`
	} `json:"hall_of_fame"`
}

func fromRun(label, dir, sel string) ([]Metric, error) {
	path := filepath.Join(dir, "summary.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("metric %s: %w (want an evolution run directory)", label, err)
	}
	var f fame
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("metric %s: %s: %w", label, path, err)
	}
	if len(f.HallOfFame) == 0 {
		return nil, fmt.Errorf("metric %s: %s has an empty hall_of_fame", label, path)
	}
	var from, to int
	switch {
	case sel == "best":
		from, to = 1, 1
	case strings.HasPrefix(sel, "top"):
		k, err := strconv.Atoi(sel[3:])
		if err != nil || k < 1 {
			return nil, fmt.Errorf("metric %s: want RUN/best, RUN/topK or RUN/K with K >= 1", label)
		}
		from, to = 1, k
	default:
		k, _ := strconv.Atoi(sel)
		if k < 1 {
			return nil, fmt.Errorf("metric %s: want RUN/best, RUN/topK or RUN/K with K >= 1", label)
		}
		from, to = k, k
	}
	if to > len(f.HallOfFame) {
		return nil, fmt.Errorf("metric %s: %s's hall of fame has %d entries, %d asked for", label, path, len(f.HallOfFame), to)
	}
	var out []Metric
	for r := from; r <= to; r++ {
		e := f.HallOfFame[r-1]
		l := label
		if to > from {
			l = fmt.Sprintf("%s#%d", label, r)
		}
		m, err := expression(l, e.Prefix)
		if err != nil {
			return nil, fmt.Errorf("%s: hall_of_fame[%d]: %w", path, r-1, err)
		}
		m.Kind = KindEvolved
		out = append(out, m)
	}
	return out, nil
}
