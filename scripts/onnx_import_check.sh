#!/usr/bin/env bash
# Checks evoprune's ONNX import on a model PyTorch exported: builds a CIFAR
# ResNet in PyTorch (scripts/torch_to_onnx.py) with the weights of an
# evoprune checkpoint, exports it with torch.onnx.export's defaults
# (BatchNorm folded into Conv; option-A shortcuts as Slice + Pad), imports
# the file with `evoprune import`, and compares the CIFAR-10 test accuracy of
# the imported model (`evoprune eval`) with PyTorch's. Then the imported model
# is exported again and run in onnxruntime (scripts/onnx_check.sh) against
# evoprune's own outputs. Exits 1 when the accuracies differ.
#
#   bash scripts/onnx_import_check.sh CHECKPOINT.safetensors [DEPTH] [STYLE]
#
# STYLE: akamaster (AveragePool + view/Reshape head, default) or torchvision
# (GlobalAveragePool + flatten). Environment: PYTHON (default
# /usr/bin/python3), DATA_DIR (default ../shared/data), OPSET (default 13),
# LIMIT (test images, default all). Skips (exit 0) without torch.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-/usr/bin/python3}"
DATA_DIR="${DATA_DIR:-../shared/data}"
ckpt="${1:?usage: onnx_import_check.sh CHECKPOINT.safetensors [DEPTH] [STYLE]}"
depth="${2:-20}"
style="${3:-akamaster}"

if ! "$PYTHON" -c 'import torch, numpy' >/dev/null 2>&1; then
	echo "onnx import check: SKIPPED: $PYTHON cannot import torch (and numpy)."
	echo "  To run it: apt-get install python3-torch python3-numpy"
	exit 0
fi
dir="$(mktemp -d "${TMPDIR:-/tmp}/evoprune-onnx-import.XXXXXX")"
trap 'rm -rf "$dir"' EXIT

go build -o "$dir/evoprune" ./cmd/evoprune
torch_json="$("$PYTHON" scripts/torch_to_onnx.py --out "$dir/torch.onnx" --weights "$ckpt" --depth "$depth" \
	--style "$style" --opset "${OPSET:-13}" --data-dir "$DATA_DIR" --limit "${LIMIT:-0}" --json 2>/dev/null)"
echo "PyTorch:  $torch_json"
"$dir/evoprune" import --onnx "$dir/torch.onnx" --out "$dir/imported.safetensors" --dataset cifar10 --arch "resnet$depth"
go_acc="$("$dir/evoprune" eval --model "$dir/imported.safetensors" --data-dir "$DATA_DIR" --json |
	"$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["accuracy"])')"
torch_acc="$(echo "$torch_json" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin).get("accuracy", "none"))')"
echo "evoprune: imported model test accuracy $go_acc (PyTorch: $torch_acc)"
if [[ "${LIMIT:-0}" == 0 && "$torch_acc" != none && "$go_acc" != "$torch_acc" ]]; then
	echo "onnx import check: FAIL: accuracies differ"
	exit 1
fi
MODELS="$dir/imported.safetensors" bash scripts/onnx_check.sh
