package pfunc

// Func is a named pruning function of the library.
type Func struct {
	Name        string
	Description string // one line
	Source      string // where the tree comes from
	Expr        string // prefix form
	Tree        *Node  // parsed Expr; shared, do not modify
}

// The trees of the seeds are the reference's own (newPrimSet.py lists them as DEAP
// token sequences). The reference has no trees for its evolved functions, only NumPy
// re-implementations (GA_Discriminant_Functions.py); the trees below transcribe those
// implementations operation by operation into the operator set, so that they score
// exactly as the NumPy code does (the tests check this against closed forms).
var library = []Func{
	{
		Name:        "abs_snr",
		Description: "absolute signal-to-noise ratio |μ(P) − μ(Q)| / (σ(P) + σ(Q) + 1e-4)",
		Source:      "seed AbsSNR, reference newPrimSet.py",
		Expr:        "div(abs(sub(g_mean(P), g_mean(Q))), rho1(add(std(P), std(Q))))",
	},
	{
		Name:        "fdr",
		Description: "Fisher discriminant ratio (μ(P) − μ(Q))² / (σ²(P) + σ²(Q) + 1e-4)",
		Source:      "seed FDR, reference newPrimSet.py",
		Expr:        "div(pow2(sub(g_mean(P), g_mean(Q))), rho1(add(var(P), var(Q))))",
	},
	{
		Name:        "sym_div",
		Description: "symmetric divergence of the class and the rest, with 0.05 protection",
		Source:      "seed SymDiv (GetSymDiv), reference newPrimSet.py",
		Expr: "add(add(div(var(P), rho5(var(Q))), div(var(Q), rho5(var(P)))), " +
			"div(pow2(sub(g_mean(P), g_mean(Q))), rho5(add(var(P), var(Q)))))",
	},
	{
		Name:        "t_stat",
		Description: "two-sample t-statistic |μ(P) − μ(Q)| / √(σ²(P)/n(P) + σ²(Q)/n(Q) + 1e-4)",
		Source:      "seed Tstats (GetTstats), reference newPrimSet.py",
		Expr:        "div(abs(sub(g_mean(P), g_mean(Q))), sqrt(rho1(add(div(var(P), num(P)), div(var(Q), num(Q))))))",
	},
	{
		Name:        "l1",
		Description: "L1 norm of the channel's filter, summed over classes",
		Source:      "seed WL1, reference newPrimSet.py",
		Expr:        "sum(abs(WI))",
	},
	{
		Name:        "l2",
		Description: "L2 norm of the channel's filter, summed over classes",
		Source:      "seed WL2, reference newPrimSet.py",
		Expr:        "sqrt(sum(pow2(WI)))",
	},
	{
		Name:        "geo_median_dist",
		Description: "FPGM: L2 distance of the filter to the layer's geometric-median filter",
		Source:      "seed GeoMedian, reference newPrimSet.py",
		Expr:        "sqrt(sum(pow2(sub(WI, geo_median(W)))))",
	},
	{
		Name: "di",
		Description: "discriminant information trace((S + 1e-4 I)⁻¹ S_B), S the scatter of X, " +
			"S_B the between-class scatter; per class Nc (mX − mean(P))(mX − mean(P))ᵀ",
		Source: "reference newPrimSet.py (commented-out DI tree, written over all classes at " +
			"once) and Discriminant_Functions.py GetDI; here one class's share of S_B per " +
			"tree, which the sum over classes adds up by linearity of the trace",
		Expr: "trace(mmul(inv(mmul(tran(sub(X, mX)), sub(X, mX))), " +
			"mul(out_dot(sub(mX, mean(P)), sub(mX, mean(P))), N)))",
	},
	{
		Name:        "eq3",
		Description: "the paper's Eq. 3, its default transfer function: SymDiv with an evolved mean term",
		Source:      "GA_Func2, reference GA_Discriminant_Functions.py (paper Eq. 3)",
		Expr: "add(add(div(var(P), rho5(var(Q))), div(var(Q), rho5(var(P)))), " +
			"div(pow2(sub(add(mul(mul(std(mX), var(Q)), mX), var(P)), g_mean(Q))), rho5(add(var(Q), var(P)))))",
	},
	{
		Name:        "ga1",
		Description: "evolved: σ²(P) + (σ²(Q) − mX)² / (σ²(Q) + σ²(P) + 0.05), summed over the D positions",
		Source:      "GA_Func1, reference GA_Discriminant_Functions.py",
		Expr:        "add(var(P), div(pow2(sub(var(Q), mX)), rho5(add(var(Q), var(P)))))",
	},
	{
		Name:        "ga3",
		Description: "evolved: (mX − σ²(Q))² / √(σ²(P)/n(P) + σ²(Q)/n(Q) + 1e-4), summed over the D positions",
		Source:      "GA_Func3, reference GA_Discriminant_Functions.py",
		Expr:        "div(pow2(sub(mX, var(Q))), sqrt(rho1(add(div(var(P), num(P)), div(var(Q), num(Q))))))",
	},
	{
		Name:        "ga4",
		Description: "evolved: σ²(P) / (σ²(Q)/n(Q) + 0.05) + |μ(P) − μ(Q)| + 0.05 + mQ, summed over the D positions",
		Source:      "GA_Func4, reference GA_Discriminant_Functions.py",
		Expr:        "add(rho5(add(div(var(P), rho5(div(var(Q), num(Q)))), abs(sub(g_mean(P), g_mean(Q))))), mQ)",
	},
	// Criteria of other papers, over the extended operands (outside the paper's space).
	// Their value is the same for every class, so the score is the number of classes
	// times it, which ranks the channels of a layer the same way.
	{
		Name:        "bn_scale",
		Description: "network slimming: |γ|, the magnitude of the channel's batch-normalisation scale (extended operands)",
		Source:      "Liu et al. 2017, Learning Efficient Convolutional Networks through Network Slimming (ICCV), channel scaling factors",
		Expr:        "abs(gamma)",
	},
	{
		Name: "taylor",
		Description: "first-order Taylor criterion |Σ x·∂L/∂x| over every sample and position of the channel's maps: " +
			"tr(Xᵀ G) = Σₙ Σ_d X[n,d] G[n,d] (extended operands)",
		Source: "Molchanov et al. 2017, Pruning Convolutional Neural Networks for Resource Efficient Inference " +
			"(ICLR), Eq. 8 |1/M Σₘ (∂C/∂zₘ) zₘ|; here summed over the whole sample before the absolute " +
			"value, and without the 1/(N·D) factor, which is the same for every channel of a layer",
		Expr: "abs(trace(mmul(tran(X), G)))",
	},
}

var libraryIndex = func() map[string]int {
	m := make(map[string]int, len(library))
	for i := range library {
		t, err := Parse(library[i].Expr)
		if err != nil {
			panic("pfunc: library function " + library[i].Name + ": " + err.Error())
		}
		library[i].Tree = t
		m[library[i].Name] = i
	}
	return m
}()

// Library lists the named functions in a stable order: the seven seeds, di, the
// reference's evolved functions, then the criteria over extended operands (bn_scale,
// taylor; Node.UsesExtended tells them apart).
func Library() []Func {
	return append([]Func(nil), library...)
}

// Lookup finds a library function by name.
func Lookup(name string) (Func, bool) {
	i, ok := libraryIndex[name]
	if !ok {
		return Func{}, false
	}
	return library[i], true
}
