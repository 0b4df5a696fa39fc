#!/usr/bin/env bash
# Cross-checks evoprune's engine against PyTorch: dumps checkpoints and one
# batch's logits, loss, gradients and BatchNorm running statistics of lenet5,
# resnet20 and vgg16 with scripts/equivalence, then recomputes them in PyTorch
# with scripts/torch_equivalence.py. Exits non-zero on any disagreement above
# 1e-4 (relative to each tensor's largest magnitude). Skips (exit 0) when
# the system Python has no torch.
#
#   bash scripts/torch_equivalence.sh [extra torch_equivalence.py flags, e.g. -v]
#
# Environment: PYTHON (default /usr/bin/python3), KEEP=1 to keep the dump
# directory, SEED (default 1).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-/usr/bin/python3}"
SEED="${SEED:-1}"

if ! "$PYTHON" -c 'import torch, numpy' >/dev/null 2>&1; then
	echo "torch equivalence: SKIPPED: $PYTHON cannot import torch (and numpy)."
	echo "  Install them with: apt-get install python3-torch python3-numpy"
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
