package gp

import (
	"testing"

	"github.com/evoprune/evoprune/pfunc"
)

// BenchmarkBreed: one generation step of the reference configuration (selection,
// crossover and mutation with validity checks), evaluation excluded.
func BenchmarkBreed(b *testing.B) {
	tb := mustToolbox(b, DefaultConfig())
	pop, err := tb.Initial(GenerationRand(1, 0))
	if err != nil {
		b.Fatal(err)
	}
	evaluate(pop)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := tb.Next(pop, GenerationRand(1, i+1)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValid: the validity check of eq3, the largest library tree.
func BenchmarkValid(b *testing.B) {
	tb := mustToolbox(b, DefaultConfig())
	f, _ := pfunc.Lookup("eq3")
	for i := 0; i < b.N; i++ {
		if err := tb.Valid(f.Tree); err != nil {
			b.Fatal(err)
		}
	}
}
