// Package pfunc is the pruning-function language of evoprune: the design space of
// "Evolving Transferable Neural Pruning Functions" (Liu, Kung, Wentzlaff, GECCO 2022).
//
// A pruning function is an expression tree (Node) over nine operands that describe one
// channel k of a layer for one class c (P, Q, N, X, mX, mP, mQ, WI, W) and 21 operators
// (add ... geo_median). A channel's score is the tree evaluated once per class and summed
// over classes and over every entry of the result (Score).
//
// Beyond the paper, three opt-in extended operands (ExtendedOperands) put other known
// criteria in the same space: gamma and beta, the scale and shift of the batch
// normalisation after the channel, and G, the loss gradient of its feature maps (laid out
// like X). The library's bn_scale (network slimming) and taylor (first-order Taylor
// criterion) use them. They are off by default: Operands and OperandSet(false) are the
// paper's nine, tree generators draw from them unless asked, and the evaluators need the
// extended values supplied (AddExtended, LayerStats.SetExtended), failing with ErrOperand
// otherwise; Node.UsesExtended tells whether a tree leaves the paper's space.
//
// The package provides the AST (ast.go), a direct evaluator over materialised arrays
// that serves as the oracle for faster evaluators (eval_direct.go), static shape types
// and a cost model (types.go, cost.go), the reference prefix syntax (parse.go), printers
// (print.go, print_math.go), a simplifier and canonical hash (simplify.go, canon.go) and
// the library of named functions (library.go).
//
// # Semantics
//
// The operators follow the reference implementation's NumPy semantics exactly
// (Self_Defined_Op.py and the NumPy functions newPrimSet.py registers), quirks included,
// so that any tree evolved by the reference scores channels the same way here:
//
//   - Values are NumPy arrays of any rank, NumPy scalars or Python numbers (Kind). The
//     distinction matters: sub, mul and mmul fall back to plain broadcasting when
//     np.isscalar holds, and np.transpose turns a Python number (from num, i.e. len) into
//     a 0-d array, on which those operators then fail.
//   - add is np.add (broadcasting, no truncation); sub truncates both last axes, mul and
//     mmul truncate the first operand's last and the second's first axis; div is
//     unprotected; inv is np.linalg.pinv(A[:d, :d] + 1e-4 I) with d the smallest axis.
//   - The filter operands use the reference's TensorFlow layout (layout.go explains why;
//     FilterOperands converts evoprune's PyTorch-layout weights).
//   - The score sums each class's value over all its entries and adds the classes, as
//     Metric_Score's np.sum(np.array(score_list)) does; the reference accepts any
//     per-class shape that is the same for every class, so vector-valued trees such as
//     eq3 are valid and a scalar term added to a D-vector counts D times.
//   - Everything is computed in float64. The reference computed filter terms in float32
//     (TensorFlow weights) and counts as Python or NumPy integers (which could wrap at
//     2^63 in pow2 chains); results agree to rounding. Ties in geo_median and NaN
//     handling follow np.argmin (first minimum, NaN first).
//
// # Validity
//
// Check accepts a tree if it evaluates to a summable value for every layer of the four
// standard Spaces (generic convolutions, 1x1 kernels, 1x1 feature maps, fully connected
// nodes) whatever the sizes. That is slightly stricter than the reference, whose check
// ran one fixed input (MNIST pixels, a random 3x3x5x7 filter bank): trees whose
// validity depends on the relative sizes of two dimensions (for example mul(mX, P),
// which needs D <= Nc) are rejected by default; Space.ManySamples admits the ones that
// hold whenever every class has at least D samples, as in all the reference's runs.
package pfunc
