#!/usr/bin/env bash
# Checks evoprune's ONNX export against onnxruntime: scripts/onnx_dump
# exports lenet5, vgg16 (width 0.5), resnet20, resnet56, a small graph using
# every other layer kind ("mixed": select/Gather, padded average pooling,
# option-A shortcut, dropout, BatchNorm on vectors) and the pretrained LeNet-5,
# each with BatchNorm kept and folded, together with seeded inputs and
# evoprune's outputs; scripts/onnx_check.js runs the models in
# onnxruntime-node and compares (max relative error, tolerance 1e-4).
#
#   bash scripts/onnx_check.sh [--tol 1e-4]
#
# Environment: MODELS (onnx_dump --models list), ORT_DIR (where
# onnxruntime-node is or gets installed; default ~/.cache/evoprune/ort-node),
# KEEP=1 keeps the dump directory. Skips (exit 0) with a message when node,
# or onnxruntime-node and a way to install it, is missing.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ORT_DIR="${ORT_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/evoprune/ort-node}"
ORT_VERSION=1.31.1
MODELS="${MODELS:-lenet5,vgg16:0.5,resnet20,resnet56,mixed,pretrained/lenet5-mnist.safetensors}"

if ! command -v node >/dev/null 2>&1; then
	echo "onnx check: SKIPPED: node is not installed, so onnxruntime cannot run."
	echo "  To run it: apt-get install nodejs npm"
	exit 0
fi
if ! NODE_PATH="$ORT_DIR/node_modules" node -e 'require("onnxruntime-node")' >/dev/null 2>&1; then
	if ! command -v npm >/dev/null 2>&1; then
		echo "onnx check: SKIPPED: onnxruntime-node is not in $ORT_DIR and npm is missing to install it."
		exit 0
	fi
	echo "onnx check: installing onnxruntime-node@$ORT_VERSION into $ORT_DIR"
	mkdir -p "$ORT_DIR"
	# The package ships the CPU runtime; INSTALL=skip stops its post-install
	# step from fetching GPU extras from outside the npm registry.
	if ! (cd "$ORT_DIR" && ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund "onnxruntime-node@$ORT_VERSION" >/dev/null 2>&1) ||
		! NODE_PATH="$ORT_DIR/node_modules" node -e 'require("onnxruntime-node")' >/dev/null 2>&1; then
		echo "onnx check: SKIPPED: could not install onnxruntime-node into $ORT_DIR."
		exit 0
	fi
fi

dir="$(mktemp -d "${TMPDIR:-/tmp}/evoprune-onnx.XXXXXX")"
if [[ "${KEEP:-0}" == 1 ]]; then
	echo "onnx check: keeping $dir"
else
	trap 'rm -rf "$dir"' EXIT
fi

go run ./scripts/onnx_dump --out "$dir" --models "$MODELS"
NODE_PATH="$ORT_DIR/node_modules" node scripts/onnx_check.js "$dir" "$@"
