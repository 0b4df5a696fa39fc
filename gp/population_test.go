package gp

import (
	"encoding/json"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/evoprune/evoprune/pfunc"
)

func ind(t testing.TB, expr string, fitness float64) Individual {
	return Individual{Tree: mustParse(t, expr), Fitness: fitness, Evaluated: true}
}

// TestSelectBestOrder: higher fitness first, the smaller tree on equal fitness, NaN
// last, population order on full ties.
func TestSelectBestOrder(t *testing.T) {
	pop := []Individual{
		ind(t, "sum(abs(WI))", 0.5),        // 0: size 3
		ind(t, "sqrt(sum(pow2(WI)))", 0.9), // 1: size 4
		ind(t, "g_mean(P)", 0.9),           // 2: size 2, ties 1 and is smaller
		ind(t, "var(Q)", math.NaN()),       // 3
		ind(t, "std(P)", 0.9),              // 4: ties 2 exactly; 2 comes first
		ind(t, "sum(WI)", 0.7),             // 5
	}
	got, err := SelectBest(pop, 6)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{2, 4, 1, 5, 0, 3}; !reflect.DeepEqual(got, want) {
		t.Errorf("ranking %v, want %v", got, want)
	}
	if b := Best(pop); b != 2 {
		t.Errorf("Best = %d, want 2", b)
	}
	if _, err := SelectBest(pop, 7); err == nil {
		t.Error("selecting 7 of 6 did not fail")
	}
}

// TestSelectTournament: winners are distinct; a tournament over the whole population
// picks the best (smaller tree on ties); with size 3 fitter individuals win far more
// often than chance, and size 1 is uniform.
func TestSelectTournament(t *testing.T) {
	pop := []Individual{
		ind(t, "sqrt(sum(pow2(WI)))", 1), ind(t, "sum(abs(WI))", 1), ind(t, "g_mean(P)", 0.2),
		ind(t, "g_mean(Q)", 0.4), ind(t, "var(P)", 0.6), ind(t, "var(Q)", 0.8),
	}
	rng := rand.New(rand.NewPCG(1, 2))
	if got, _ := SelectTournament(pop, 1, len(pop), rng); got[0] != 1 {
		t.Errorf("whole-population tournament picked %d, want 1 (fitness 1, smaller than 0)", got[0])
	}
	wins := make([]int, len(pop))
	const rounds = 3000
	for i := 0; i < rounds; i++ {
		got, err := SelectTournament(pop, 3, 3, rng)
		if err != nil {
			t.Fatal(err)
		}
		if got[0] == got[1] || got[0] == got[2] || got[1] == got[2] {
			t.Fatalf("winners not distinct: %v", got)
		}
		wins[got[0]]++
	}
	// The first winner of a size-3 tournament: the worst (index 2) can only win if drawn
	// with two... never, as it is worse than all; the best two win most.
	if wins[2] != 0 || wins[1] < wins[4] || wins[4] < wins[3] {
		t.Errorf("first-round wins %v do not follow fitness", wins)
	}
	// Size 1: every individual equally likely (within 5 sigma).
	uni := make([]int, len(pop))
	for i := 0; i < rounds; i++ {
		got, _ := SelectTournament(pop, 1, 1, rng)
		uni[got[0]]++
	}
	exp := float64(rounds) / float64(len(pop))
	for i, n := range uni {
		if math.Abs(float64(n)-exp) > 5*math.Sqrt(exp) {
			t.Errorf("size-1 tournament picked %d %d times, expected about %.0f", i, n, exp)
		}
	}
	if _, err := SelectTournament(pop, 2, 0, rng); err == nil {
		t.Error("tournament size 0 accepted")
	}
}

// fakeFitness is a deterministic stand-in for evaluation: a hash of the tree's text.
func fakeFitness(n *pfunc.Node) float64 {
	h := fnv.New64a()
	h.Write([]byte(n.String()))
	return float64(h.Sum64()%1000) / 1000
}

func evaluate(pop []Individual) {
	for i := range pop {
		if !pop[i].Evaluated {
			pop[i].Fitness, pop[i].Evaluated = fakeFitness(pop[i].Tree), true
		}
	}
}

func prefixes(pop []Individual) []string {
	var out []string
	for _, ind := range pop {
		out = append(out, ind.Tree.String())
	}
	return out
}

// run steps a run of gens generations and returns every generation's trees.
func run(t *testing.T, cfg Config, seed uint64, gens int) [][]string {
	t.Helper()
	tb := mustToolbox(t, cfg)
	pop, err := tb.Initial(GenerationRand(seed, 0))
	if err != nil {
		t.Fatal(err)
	}
	hist := [][]string{prefixes(pop)}
	for g := 1; g <= gens; g++ {
		evaluate(pop)
		if pop, err = tb.Next(pop, GenerationRand(seed, g)); err != nil {
			t.Fatal(err)
		}
		if len(pop) != cfg.Population {
			t.Fatalf("generation %d has %d individuals, want %d", g, len(pop), cfg.Population)
		}
		hist = append(hist, prefixes(pop))
	}
	return hist
}

// TestInitialDefaults: the reference's 14 = 2 x 7 seeds, in order, none evaluated.
func TestInitialDefaults(t *testing.T) {
	pop, err := Initial(DefaultConfig(), GenerationRand(1, 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(pop) != 14 {
		t.Fatalf("%d individuals, want 14", len(pop))
	}
	for i, ind := range pop {
		name := ReferenceSeeds[i%7]
		f, _ := pfunc.Lookup(name)
		if !ind.Tree.Equal(f.Tree) || ind.Origin != "seed:"+name || ind.Evaluated {
			t.Errorf("individual %d = %s (%s, evaluated %v), want seed %s", i, ind.Tree, ind.Origin, ind.Evaluated, name)
		}
	}
}

// TestInitialRamped: the random part is valid, ramped over the heights, half full.
func TestInitialRamped(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Population = 14 + 16
	tb := mustToolbox(t, cfg)
	pop, err := tb.Initial(GenerationRand(2, 0))
	if err != nil {
		t.Fatal(err)
	}
	full := 0
	heights := map[string]int{}
	for _, ind := range pop[14:] {
		independentlyValid(t, cfg, ind.Tree)
		parts := strings.Split(ind.Origin, ":")
		if len(parts) != 3 || parts[0] != "random" {
			t.Fatalf("origin %q", ind.Origin)
		}
		heights[parts[2]]++
		if parts[1] == "full" {
			full++
			if h := fullHeight(ind.Tree); h < 0 || h != ind.Tree.Depth() || parts[2] != string(rune('0'+h)) {
				t.Errorf("full tree %s is not full at height %s", ind.Tree, parts[2])
			}
		}
	}
	if full != 8 || len(heights) != 4 {
		t.Errorf("%d full of 16, heights %v; want 8 full over heights 1..4", full, heights)
	}
}

// TestElitismKeepsBest: the Elites best pass unchanged (same tree, fitness, evaluated)
// in rank order, and the children are copies or offspring of them, unevaluated.
func TestElitismKeepsBest(t *testing.T) {
	for _, sel := range []string{SelectionBest, SelectionTournament} {
		cfg := DefaultConfig()
		cfg.Selection = sel
		tb := mustToolbox(t, cfg)
		pop, err := tb.Initial(GenerationRand(3, 0))
		if err != nil {
			t.Fatal(err)
		}
		for i := range pop {
			pop[i].Fitness, pop[i].Evaluated = float64(i%5)/10, true // ties across sizes
		}
		next, st, err := tb.Breed(pop, GenerationRand(3, 1))
		if err != nil {
			t.Fatal(err)
		}
		rank := Rank(pop)
		if sel == SelectionBest {
			for i := 0; i < cfg.Elites; i++ {
				if !reflect.DeepEqual(next[i], pop[rank[i]]) || next[i].Tree != pop[rank[i]].Tree {
					t.Errorf("elite %d = %+v, want the %d-th best %+v", i, next[i], i, pop[rank[i]])
				}
			}
			if Better(pop[rank[cfg.Elites]], next[cfg.Elites-1]) {
				t.Error("a non-elite outranks an elite")
			}
		}
		for i := 0; i < cfg.Elites; i++ {
			if !next[i].Evaluated {
				t.Errorf("%s: elite %d marked unevaluated", sel, i)
			}
		}
		varied := 0
		for _, c := range next[cfg.Elites:] {
			if c.Evaluated {
				t.Errorf("%s: child %s marked evaluated", sel, c.Tree)
			}
			if c.Origin != "copy" {
				varied++
			}
		}
		if st.Pairs+st.Mutations == 0 || varied == 0 {
			t.Errorf("%s: no variation in a generation (%+v)", sel, st)
		}
		// The best of the next generation is at least as good as the previous best: the
		// elites carry it over.
		if b := Best(next[:cfg.Elites]); Better(pop[Best(pop)], next[b]) {
			t.Errorf("%s: the best individual was lost", sel)
		}
	}
}

// TestSameSeedSameRun: identical histories from the same seed, different ones from
// another seed, and a run resumed from its JSON state continues identically.
func TestSameSeedSameRun(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Population = 20
	a, b := run(t, cfg, 42, 6), run(t, cfg, 42, 6)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed, different histories")
	}
	if c := run(t, cfg, 43, 6); reflect.DeepEqual(a, c) {
		t.Fatal("different seeds, same history")
	}

	// Resume: stop after generation 3 is evaluated, save, load, continue.
	tb := mustToolbox(t, cfg)
	pop, _ := tb.Initial(GenerationRand(42, 0))
	for g := 1; g <= 3; g++ {
		evaluate(pop)
		pop, _ = tb.Next(pop, GenerationRand(42, g))
	}
	evaluate(pop)
	data, err := json.Marshal(State{Seed: 42, Generation: 3, Population: pop})
	if err != nil {
		t.Fatal(err)
	}
	var st State
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(prefixes(st.Population), a[3]) {
		t.Fatal("saved population differs from generation 3")
	}
	pop = st.Population
	for g := st.Generation + 1; g <= 6; g++ {
		var err error
		if pop, err = tb.Next(pop, GenerationRand(st.Seed, g)); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(prefixes(pop), a[g]) {
			t.Fatalf("resumed generation %d differs", g)
		}
		evaluate(pop)
	}
}

// TestIndividualJSON: trees with constants and fitness read back bit for bit; an
// unevaluated individual has no fitness; bad input is an error.
func TestIndividualJSON(t *testing.T) {
	tenth, fifth := 0.1, 0.2 // variables: Go folds constant 0.1 + 0.2 to exactly 0.3
	in := []Individual{
		{Tree: mustParse(t, "add(var(P), 0.1)"), Fitness: tenth + fifth, Evaluated: true, Origin: "mutation"},
		{Tree: mustParse(t, "sum(abs(WI))"), Origin: "copy"},
	}
	data, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"expr":"add(var(P), 0.1)","fitness":0.30000000000000004,"evaluated":true,"origin":"mutation"},` +
		`{"expr":"sum(abs(WI))","evaluated":false,"origin":"copy"}]`
	if string(data) != want {
		t.Errorf("json %s\nwant %s", data, want)
	}
	var out []Individual
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	for i := range in {
		if !out[i].Tree.Equal(in[i].Tree) || out[i].Fitness != in[i].Fitness || out[i].Evaluated != in[i].Evaluated || out[i].Origin != in[i].Origin {
			t.Errorf("round trip %d: %+v, want %+v", i, out[i], in[i])
		}
	}
	if _, err := json.Marshal(Individual{Tree: in[0].Tree, Fitness: math.NaN(), Evaluated: true}); err == nil {
		t.Error("NaN fitness marshalled")
	}
	for _, bad := range []string{`{"expr":"add(P"}`, `{"expr":"P","evaluated":true}`, `{"expr":3}`} {
		var x Individual
		if err := json.Unmarshal([]byte(bad), &x); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

// TestNextRejectsBadPopulations: unevaluated individuals and too small populations are
// errors naming the individual.
func TestNextRejectsBadPopulations(t *testing.T) {
	cfg := DefaultConfig()
	pop, _ := Initial(cfg, GenerationRand(1, 0))
	if _, err := Next(cfg, pop, GenerationRand(1, 1)); err == nil || !strings.Contains(err.Error(), "individual 0") {
		t.Errorf("unevaluated population: %v", err)
	}
	evaluate(pop)
	if _, err := Next(cfg, pop[:5], GenerationRand(1, 1)); err == nil || !strings.Contains(err.Error(), "elites 6") {
		t.Errorf("5 individuals for 6 elites: %v", err)
	}
	pop[3].Tree = nil
	if _, err := Next(cfg, pop, GenerationRand(1, 1)); err == nil || !strings.Contains(err.Error(), "individual 3") {
		t.Errorf("nil tree: %v", err)
	}
}

// TestReinjectSeeds: with reinject_seeds the children include seed copies, varied or
// not, and the generation still has Population individuals.
func TestReinjectSeeds(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ReinjectSeeds = 1
	cfg.CrossoverProb, cfg.MutationProb = 0, 0
	tb := mustToolbox(t, cfg)
	pop, _ := tb.Initial(GenerationRand(1, 0))
	evaluate(pop)
	next, err := tb.Next(pop, GenerationRand(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	seeds := 0
	for _, c := range next[cfg.Elites:] {
		if strings.HasPrefix(c.Origin, "seed:") {
			seeds++
		}
	}
	if len(next) != 14 || seeds != 7 {
		t.Errorf("%d individuals with %d reinjected seeds, want 14 with 7", len(next), seeds)
	}
}

// TestConfigErrors: bad configurations fail with a message naming the field.
func TestConfigErrors(t *testing.T) {
	cases := []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.Population = -1 }, "population -1"},
		{func(c *Config) { c.Elites = 15 }, "elites 15 exceeds population 14"},
		{func(c *Config) { c.Elites = 0 }, "elites 0"},
		{func(c *Config) { c.Seeds = []string{"abs_snr", "fancy"} }, `seeds[1]: unknown library function "fancy"`},
		{func(c *Config) { c.Population = 10 }, "smaller than the 14 seed copies"},
		{func(c *Config) { c.Selection = "roulette" }, `selection "roulette"`},
		{func(c *Config) { c.CrossoverProb = 1.5 }, "crossover_prob 1.5"},
		{func(c *Config) { c.MutationProb = math.NaN() }, "mutation_prob NaN"},
		{func(c *Config) { c.MutMinHeight, c.MutMaxHeight = 3, 2 }, "mutation heights 3..2"},
		{func(c *Config) { c.MaxRetries = 0 }, "max_retries 0"},
		{func(c *Config) { c.CostBudget = 0 }, "cost_budget 0"},
		{func(c *Config) { c.CostSizes = nil }, "cost_sizes"},
		{func(c *Config) { c.CostSizes = []pfunc.Sizes{{N: 1}} }, "cost_sizes[0]"},
		{func(c *Config) { c.Operators = []string{"add", "P"} }, `operators[1]: "P" is not an operator`},
		{func(c *Config) { c.Terminals = []string{"wobble"} }, `terminals[0]: "wobble"`},
		{func(c *Config) { c.Selection, c.TournamentSize = SelectionTournament, 0 }, "tournament_size 0"},
		{func(c *Config) { c.MaxDepth = 3 }, "seeds[0] (abs_snr) is not valid under the configured limits"},
	}
	for _, c := range cases {
		cfg := DefaultConfig()
		c.edit(&cfg)
		_, err := NewToolbox(cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want error containing %q, got %v", c.want, err)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("default config: %v", err)
	}
	// A configuration survives JSON.
	cfg := DefaultConfig()
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var back Config
	if err := json.Unmarshal(data, &back); err != nil || !reflect.DeepEqual(back, cfg) {
		t.Errorf("config JSON round trip: %v\n%s", err, data)
	}
}

// TestConfigErrorsAreSingle: one mistake gives one message, not a cascade.
func TestConfigErrorsAreSingle(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Population = -1
	if err := cfg.Validate(); err == nil || strings.Count(err.Error(), "\n") != 0 {
		t.Errorf("population -1: %q", err)
	}
	cfg = DefaultConfig()
	cfg.Elites = 20
	if err := cfg.Validate(); err == nil || strings.Count(err.Error(), "\n") != 0 {
		t.Errorf("elites 20: %q", err)
	}
	cfg = DefaultConfig()
	cfg.ReinjectSeeds = 2
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "elites 6 plus 14 reinjected seed copies exceed population 14") {
		t.Errorf("reinject 2: %v", err)
	}
}
