package prune

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strings"

	"gonum.org/v1/gonum/mat"

	"github.com/evoprune/evoprune/pfunc"
)

// Criterion scores a group's channels; the lowest scores are removed first.
type Criterion interface {
	// Name is how the criterion was asked for (a name or an expression).
	Name() string
	// Needs says what Score reads from its Context.
	Needs() Needs
	// Score returns one finite score per channel, or an error.
	Score(c *Context) ([]float64, error)
}

// Needs lists the parts of a Context a criterion reads.
type Needs struct {
	Features bool // feature maps and labels (one forward pass over the sample)
	Grads    bool // loss gradients of the feature maps (a backward pass too)
}

// NativeCriteria are the criteria implemented here rather than as pfunc
// trees, with their sources.
var NativeCriteria = []struct{ Name, Description string }{
	{"random", "uniform random scores (a seeded baseline)"},
	{"bn_scale", "|gamma| of the channel's BatchNorm: network slimming, Liu et al., ICCV 2017"},
	{"taylor", "first-order Taylor: mean over samples of |sum over positions of x*dL/dx|, Molchanov et al., ICLR 2017"},
	{"apoz", "1 - average percentage of zeros after ReLU: Hu et al., 'Network Trimming', 2016"},
	{"hrank", "average rank of the channel's feature maps: Lin et al., 'HRank', CVPR 2020"},
}

// Aliases are other names of library functions.
var Aliases = map[string]string{"fpgm": "geo_median_dist"}

// ParseCriterion resolves a native criterion name, a pfunc library name (or
// alias) or a pfunc expression in prefix form.
func ParseCriterion(s string) (Criterion, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "":
		return nil, fmt.Errorf("empty metric")
	case "random":
		return randomCriterion{}, nil
	case "bn_scale":
		return bnScale{}, nil
	case "taylor":
		return taylor{}, nil
	case "apoz":
		return apoz{}, nil
	case "hrank":
		return hrank{}, nil
	}
	name := s
	if a, ok := Aliases[s]; ok {
		name = a
	}
	if f, ok := pfunc.Lookup(name); ok {
		return NewPfunc(s, f.Tree)
	}
	tree, err := pfunc.Parse(s)
	if err != nil {
		if !strings.ContainsAny(s, "()") {
			return nil, fmt.Errorf("unknown metric %q: not a built-in criterion (%s), a library function (see evoprune metric list) or an expression", s, nativeNames())
		}
		return nil, fmt.Errorf("metric %q: %w", s, err)
	}
	return NewPfunc(s, tree)
}

func nativeNames() string {
	var ns []string
	for _, c := range NativeCriteria {
		ns = append(ns, c.Name)
	}
	return strings.Join(ns, ", ")
}

// Pfunc scores channels with a pruning function of the pfunc language,
// through the fast evaluator on the sample's sufficient statistics.
type Pfunc struct {
	name string
	Tree *pfunc.Node
}

// NewPfunc checks a tree and wraps it as a criterion.
func NewPfunc(name string, tree *pfunc.Node) (*Pfunc, error) {
	if _, err := pfunc.Check(tree); err != nil {
		return nil, fmt.Errorf("metric %s: %w", name, err)
	}
	return &Pfunc{name: name, Tree: tree}, nil
}

// Name implements Criterion.
func (p *Pfunc) Name() string { return p.name }

var sampleOperands = []pfunc.Op{pfunc.OpP, pfunc.OpQ, pfunc.OpN, pfunc.OpX, pfunc.OpMX, pfunc.OpMP, pfunc.OpMQ}

// Needs implements Criterion: a tree over filters alone needs no forward pass.
func (p *Pfunc) Needs() Needs {
	var n Needs
	for _, op := range sampleOperands {
		n.Features = n.Features || p.Tree.Uses(op)
	}
	if p.Tree.Uses(pfunc.OpG) {
		n.Features, n.Grads = true, true
	}
	return n
}

// Score implements Criterion. A filter-only tree is evaluated once per
// class like any other (the statistics then hold one stand-in sample per
// class), so its scores equal the reference's sum over classes.
func (p *Pfunc) Score(c *Context) ([]float64, error) {
	var st *pfunc.LayerStats
	var err error
	if c.Features != nil {
		st, err = pfunc.NewLayerStats32(c.Features, c.N, c.C, c.D, c.Labels, nil)
	} else {
		classes := max(c.Classes, 2)
		labels := make([]int, classes)
		for i := range labels {
			labels[i] = i
		}
		st, err = pfunc.NewLayerStats(make([]float64, classes*c.C), classes, c.C, 1, labels, nil)
	}
	if err != nil {
		return nil, err
	}
	if p.Tree.Uses(pfunc.OpGamma) || p.Tree.Uses(pfunc.OpBeta) || p.Tree.Uses(pfunc.OpG) {
		if err := setExtended(st, c); err != nil {
			return nil, err
		}
	}
	var w []float64
	if p.Tree.Uses(pfunc.OpWI) || p.Tree.Uses(pfunc.OpW) {
		w = make([]float64, len(c.Weights))
		for i, v := range c.Weights {
			w[i] = float64(v)
		}
	}
	return st.ScoreAll(p.Tree, w, c.WShape)
}

type randomCriterion struct{}

func (randomCriterion) Name() string { return "random" }
func (randomCriterion) Needs() Needs { return Needs{} }

// Score draws from a source seeded by the context's seed and the group's
// name, so layers get independent draws and the same seed the same ones.
func (randomCriterion) Score(c *Context) ([]float64, error) {
	h := fnv.New64a()
	h.Write([]byte(c.Group.Name))
	rng := rand.New(rand.NewPCG(c.Seed, h.Sum64()))
	s := make([]float64, c.C)
	for i := range s {
		s[i] = rng.Float64()
	}
	return s, nil
}

type bnScale struct{}

func (bnScale) Name() string { return "bn_scale" }
func (bnScale) Needs() Needs { return Needs{} }

func (bnScale) Score(c *Context) ([]float64, error) {
	if c.Gamma == nil {
		return nil, fmt.Errorf("bn_scale needs a BatchNorm after the layer; group %s has none: %w", c.Group.Name, ErrUnscorable)
	}
	s := make([]float64, c.C)
	for i := range s {
		s[i] = math.Abs(float64(c.Gamma[i]))
	}
	return s, nil
}

type taylor struct{}

func (taylor) Name() string { return "taylor" }
func (taylor) Needs() Needs { return Needs{Features: true, Grads: true} }

func (taylor) Score(c *Context) ([]float64, error) {
	s := make([]float64, c.C)
	for n := 0; n < c.N; n++ {
		for k := 0; k < c.C; k++ {
			off := (n*c.C + k) * c.D
			var dot float64
			for j := 0; j < c.D; j++ {
				dot += float64(c.Features[off+j]) * float64(c.Grads[off+j])
			}
			s[k] += math.Abs(dot)
		}
	}
	for k := range s {
		s[k] /= float64(c.N)
	}
	return s, nil
}

type apoz struct{}

func (apoz) Name() string { return "apoz" }
func (apoz) Needs() Needs { return Needs{Features: true} }

// Score is 1 - APoZ: the fraction of the channel's activations that a ReLU
// would leave non-zero (taps before a ReLU count entries <= 0 as zeros).
func (apoz) Score(c *Context) ([]float64, error) {
	s := make([]float64, c.C)
	for n := 0; n < c.N; n++ {
		for k := 0; k < c.C; k++ {
			off := (n*c.C + k) * c.D
			pos := 0
			for _, v := range c.Features[off : off+c.D] {
				if v > 0 {
					pos++
				}
			}
			s[k] += float64(pos)
		}
	}
	for k := range s {
		s[k] /= float64(c.N * c.D)
	}
	return s, nil
}

type hrank struct{}

func (hrank) Name() string { return "hrank" }
func (hrank) Needs() Needs { return Needs{Features: true} }

// Score is the mean over samples of the rank of the channel's H x W map,
// with matrix_rank's tolerance for float32 data (largest singular value x
// max(H, W) x float32 epsilon). A fully connected node's "map" is one value:
// rank 1 when non-zero.
func (hrank) Score(c *Context) ([]float64, error) {
	shape := c.Group.Tap.Shape[1:]
	h, w := 1, c.D
	if len(shape) == 2 {
		h, w = shape[0], shape[1]
	}
	s := make([]float64, c.C)
	m := mat.NewDense(h, w, nil)
	var svd mat.SVD
	buf := make([]float64, h*w)
	for n := 0; n < c.N; n++ {
		for k := 0; k < c.C; k++ {
			off := (n*c.C + k) * c.D
			for j := range buf {
				buf[j] = float64(c.Features[off+j])
			}
			s[k] += float64(matrixRank(m, &svd, buf, h, w))
		}
	}
	for k := range s {
		s[k] /= float64(c.N)
	}
	return s, nil
}

const float32Eps = 1.1920928955078125e-07

func matrixRank(m *mat.Dense, svd *mat.SVD, v []float64, h, w int) int {
	if h == 1 || w == 1 {
		for _, x := range v {
			if x != 0 {
				return 1
			}
		}
		return 0
	}
	m.SetRawMatrix(m.RawMatrix()) // keep dims
	copy(m.RawMatrix().Data, v)
	if !svd.Factorize(m, mat.SVDNone) {
		return 0
	}
	sv := svd.Values(nil)
	tol := sv[0] * float64(max(h, w)) * float32Eps
	r := 0
	for _, x := range sv {
		if x > tol {
			r++
		}
	}
	return r
}

// setExtended hands the BatchNorm parameters and gradients to the
// statistics for trees over the extended operands.
func setExtended(st *pfunc.LayerStats, c *Context) error {
	var gamma, beta []float64
	if c.Gamma != nil {
		gamma, beta = make([]float64, c.C), make([]float64, c.C)
		for i := range gamma {
			gamma[i], beta[i] = float64(c.Gamma[i]), float64(c.Beta[i])
		}
	}
	return st.SetExtended32(gamma, beta, c.Grads)
}
