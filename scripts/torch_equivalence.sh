#!/usr/bin/env bash
# Cross-checks evoprune's engine against PyTorch: scripts/equivalence dumps
# checkpoints of lenet5, resnet20 and vgg16 and the engine's results on one
# batch (eval logits; training-mode logits, loss, every parameter gradient,
# BatchNorm running statistics, and every node's output and gradient), then
# scripts/torch_equivalence.py recomputes them in PyTorch. Exits non-zero on
# any disagreement above 1e-4 (relative to each tensor's largest magnitude).
# Skips (exit 0) when the system Python has no torch.
#
#   bash scripts/torch_equivalence.sh [torch_equivalence.py flags, e.g. -v]
#
# Environment: PYTHON (default /usr/bin/python3), SEED (default 1), KEEP=1 to
# keep the dump directory.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-/usr/bin/python3}"
SEED="${SEED:-1}"

if ! "$PYTHON" -c 'import torch, numpy' >/dev/null 2>&1; then
	echo "torch equivalence: SKIPPED: $PYTHON cannot import torch (and numpy), so the check did not run."
	echo "  To run it, install them: apt-get install python3-torch python3-numpy"
	exit 0
fi

dir="$(mktemp -d "${TMPDIR:-/tmp}/evoprune-equiv.XXXXXX")"
if [[ "${KEEP:-0}" == 1 ]]; then
	echo "torch equivalence: keeping $dir"
else
	trap 'rm -rf "$dir"' EXIT
fi

go run ./scripts/equivalence --out "$dir" --seed "$SEED"
"$PYTHON" scripts/torch_equivalence.py "$dir" "$@"
