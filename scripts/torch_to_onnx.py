#!/usr/bin/python3
"""Export a CIFAR ResNet from PyTorch to ONNX, for evoprune's import tests.

Builds He et al.'s CIFAR ResNet (depth 6n+2, option-A shortcuts) the way the
common PyTorch code writes it, loads weights from an evoprune checkpoint (read
here from the safetensors header, no extra packages) or keeps a seeded random
initialisation, evaluates it on the CIFAR-10 test set when the data is there,
and writes it with torch.onnx.export and PyTorch's defaults (eval mode,
constant folding: BatchNorm ends up folded into the convolutions).

Two styles of the network's head:
  * "akamaster" (default): F.avg_pool2d(x, int(x.size(3))) and x.view(x.size(0), -1),
    which PyTorch exports as AveragePool and a Shape/Gather/Unsqueeze/Concat
    computation feeding Reshape;
  * "torchvision": nn.AdaptiveAvgPool2d(1) and torch.flatten(x, 1), exported as
    GlobalAveragePool and Flatten.
The option-A shortcut is F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, p, p)), exported
as Slice and Pad.

Usage:
  /usr/bin/python3 scripts/torch_to_onnx.py --out r20.onnx [--weights r20.safetensors]
      [--depth 20] [--style akamaster|torchvision] [--data-dir ../shared/data]
      [--limit N] [--opset 13] [--json]

Prints the PyTorch test accuracy (on the first --limit test images, all by
default) so that it can be compared with `evoprune eval` of the imported model.
Exits 0 with a SKIPPED message when torch is not installed.
"""

import argparse
import json
import os
import sys

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "2")

try:
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:  # pragma: no cover - depends on the machine
    print(f"torch_to_onnx: SKIPPED: {sys.executable} cannot import torch and numpy ({e}).")
    print("  To run it: apt-get install python3-torch python3-numpy")
    sys.exit(0)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_equivalence import read_safetensors  # noqa: E402

CIFAR_MEAN = [0.4914, 0.4822, 0.4465]
CIFAR_STD = [0.2470, 0.2435, 0.2616]


class Block(nn.Module):
    """A basic residual block; option-A shortcut where the shape changes."""

    def __init__(self, cin, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.stride, self.pad = stride, (planes - cin) // 2
        self.subsample = stride != 1 or cin != planes

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        short = x
        if self.subsample:
            short = F.pad(x[:, :, ::self.stride, ::self.stride], (0, 0, 0, 0, self.pad, self.pad), "constant", 0)
        return F.relu(out + short)


class ResNet(nn.Module):
    """CIFAR ResNet with module names equal to evoprune's node names."""

    def __init__(self, depth, classes=10, style="akamaster"):
        super().__init__()
        n = (depth - 2) // 6
        self.style = style
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        cin = 16
        for s, planes in enumerate([16, 32, 64]):
            blocks = []
            for b in range(n):
                blocks.append(Block(cin, planes, 2 if s > 0 and b == 0 else 1))
                cin = planes
            setattr(self, f"layer{s + 1}", nn.Sequential(*blocks))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        if self.style == "akamaster":
            x = F.avg_pool2d(x, int(x.size(3)))
            x = x.view(x.size(0), -1)
        else:
            x = torch.flatten(self.pool(x), 1)
        return self.fc(x)


def load_weights(model, path):
    meta, tensors = read_safetensors(path)
    spec = json.loads(meta.get("evoprune.spec", "{}"))
    state = model.state_dict()
    missing = [k for k in state if k not in tensors and not k.endswith("num_batches_tracked")]
    if missing:
        raise SystemExit(f"torch_to_onnx: {path} lacks {len(missing)} tensors the model needs, e.g. {missing[:3]} "
                         f"(architecture {meta.get('evoprune.arch')}, {len(spec.get('nodes', []))} nodes)")
    for k, v in state.items():
        if k.endswith("num_batches_tracked"):
            continue
        t = torch.from_numpy(np.array(tensors[k], dtype=np.float32))
        if tuple(t.shape) != tuple(v.shape):
            raise SystemExit(f"torch_to_onnx: {path}: {k} has shape {tuple(t.shape)}, the model needs {tuple(v.shape)}")
        v.copy_(t)


def cifar_test(data_dir, limit):
    path = os.path.join(data_dir, "cifar10", "cifar-10-batches-bin", "test_batch.bin")
    if not os.path.exists(path):
        return None, None
    raw = np.fromfile(path, dtype=np.uint8).reshape(-1, 3073)
    if limit:
        raw = raw[:limit]
    y = raw[:, 0].astype(np.int64)
    x = raw[:, 1:].reshape(-1, 3, 32, 32).astype(np.float32) / 255.0
    x = (x - np.array(CIFAR_MEAN, np.float32)[None, :, None, None]) / np.array(CIFAR_STD, np.float32)[None, :, None, None]
    return torch.from_numpy(x), torch.from_numpy(y)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="ONNX file to write")
    ap.add_argument("--weights", help="evoprune checkpoint of the same ResNet (default: random, --seed)")
    ap.add_argument("--depth", type=int, default=20)
    ap.add_argument("--style", choices=["akamaster", "torchvision"], default="akamaster")
    ap.add_argument("--opset", type=int, default=13)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data"))
    ap.add_argument("--limit", type=int, default=0, help="evaluate the first N test images (0: all)")
    ap.add_argument("--json", action="store_true", help="print JSON")
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    model = ResNet(a.depth, style=a.style)
    if a.weights:
        load_weights(model, a.weights)
    model.eval()
    x0 = torch.zeros(1, 3, 32, 32)
    torch.onnx.export(model, x0, a.out, opset_version=a.opset, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    res = {"onnx": a.out, "depth": a.depth, "style": a.style, "opset": a.opset, "torch": torch.__version__,
           "weights": a.weights}
    x, y = cifar_test(a.data_dir, a.limit)
    if x is not None:
        correct = 0
        with torch.no_grad():
            for i in range(0, len(y), 500):
                correct += int((model(x[i:i + 500]).argmax(1) == y[i:i + 500]).sum())
        res.update(images=len(y), accuracy=correct / len(y))
    if a.json:
        print(json.dumps(res))
    else:
        acc = f", PyTorch test accuracy {100 * res['accuracy']:.2f}% on {res['images']} images" if "accuracy" in res else \
            " (no CIFAR-10 test set found; pass --data-dir)"
        print(f"torch_to_onnx: wrote {a.out} (resnet{a.depth}, {a.style}, opset {a.opset}){acc}")


if __name__ == "__main__":
    main()
