#!/usr/bin/python3
"""Cross-check evoprune's engine against PyTorch.

Reads what `go run ./scripts/equivalence --out DIR` wrote: for each model a
checkpoint DIR/<model>.safetensors (parsed here directly, without the
`safetensors` package) and DIR/<model>-batch.safetensors with the engine's
results on one batch. Builds the same network in PyTorch, with module names
equal to evoprune's node names so that state_dict keys equal the checkpoint's
tensor names, loads the weights, and recomputes:

  * eval-mode logits (compared with "eval_logits");
  * training-mode logits, mean cross-entropy, every parameter gradient, and
    the BatchNorm running statistics after the forward (compared with
    "logits", "loss", "grad.<param>" and "running.<buffer>").

The error of a tensor is max|go - torch| / max(max|torch|, 1e-12). The script
prints a table and exits 1 if any error exceeds the tolerance (default 1e-4),
or if anything is missing or does not fit.

Usage: /usr/bin/python3 scripts/torch_equivalence.py DIR [--models ...]
"""

import argparse
import json
import os
import sys

# One thread for every library below torch (OpenMP, OpenBLAS, MKL), set
# before they load, so the reductions are done in one fixed order.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

# ---------------------------------------------------------------------------
# safetensors, read by hand: 8-byte little-endian header length, a JSON
# header {name: {dtype, shape, data_offsets}, "__metadata__": {str: str}},
# then the raw little-endian tensor bytes.

DTYPES = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8"), "I64": np.dtype("<i8"), "I32": np.dtype("<i4")}


def read_safetensors(path):
    """Returns (metadata dict, {name: numpy array}) of a safetensors file."""
    with open(path, "rb") as f:
        buf = f.read()
    if len(buf) < 8:
        raise ValueError(f"{path}: {len(buf)} bytes, too short for a safetensors file")
    hlen = int.from_bytes(buf[:8], "little")
    if hlen > len(buf) - 8:
        raise ValueError(f"{path}: header length {hlen} exceeds the file ({len(buf)} bytes)")
    header = json.loads(buf[8:8 + hlen].decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        raise ValueError(f"{path}: __metadata__ must map strings to strings")
    base = 8 + hlen
    ndata = len(buf) - base
    tensors, spans = {}, []
    for name, e in header.items():
        dt = DTYPES.get(e["dtype"])
        if dt is None:
            raise ValueError(f"{path}: tensor {name} has unsupported dtype {e['dtype']}")
        shape = [int(d) for d in e["shape"]]
        count = int(np.prod(shape, dtype=np.int64))
        start, end = (int(o) for o in e["data_offsets"])
        if not (0 <= start <= end <= ndata) or end - start != count * dt.itemsize:
            raise ValueError(f"{path}: tensor {name}: offsets {[start, end]} do not hold {e['dtype']} {shape}")
        spans.append((start, end, name))
        arr = np.frombuffer(buf, dtype=dt, count=count, offset=base + start)
        tensors[name] = arr.reshape(shape).copy()
    # The data region must be covered exactly, without gaps or overlaps.
    pos = 0
    for start, end, name in sorted(spans):
        if start != pos:
            raise ValueError(f"{path}: tensor {name} starts at byte {start}, expected {pos}")
        pos = end
    if pos != ndata:
        raise ValueError(f"{path}: tensors end at data byte {pos} but the file holds {ndata}")
    return meta, tensors


# ---------------------------------------------------------------------------
# The networks, written the usual PyTorch way. Attribute names follow
# evoprune's node names (conv1, layer1.0.bn2, fc2, ...).


class LeNet5(nn.Module):
    def __init__(self, classes):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, 5)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(20, 50, 5)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(800, 500)
        self.relu3 = nn.ReLU()
        self.fc2 = nn.Linear(500, classes)

    def forward(self, x):
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        x = torch.flatten(x, 1)
        return self.fc2(self.relu3(self.fc1(x)))


VGG16_PLAN = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


class VGG16(nn.Module):
    def __init__(self, classes):
        super().__init__()
        self.steps = []
        cin, nconv, npool = 3, 0, 0
        for v in VGG16_PLAN:
            if v == "M":
                npool += 1
                self.add_module(f"pool{npool}", nn.MaxPool2d(2))
                self.steps.append(f"pool{npool}")
                continue
            nconv += 1
            self.add_module(f"conv{nconv}", nn.Conv2d(cin, v, 3, padding=1, bias=False))
            self.add_module(f"bn{nconv}", nn.BatchNorm2d(v))
            self.add_module(f"relu{nconv}", nn.ReLU())
            self.steps += [f"conv{nconv}", f"bn{nconv}", f"relu{nconv}"]
            cin = v
        self.fc1 = nn.Linear(cin, 512)
        self.relu_fc1 = nn.ReLU()
        self.fc2 = nn.Linear(512, classes)

    def forward(self, x):
        for s in self.steps:
            x = getattr(self, s)(x)
        x = torch.flatten(x, 1)
        return self.fc2(self.relu_fc1(self.fc1(x)))


class ShortcutA(nn.Module):
    """Option-A shortcut: subsample spatially by `stride`, then zero-pad the
    channels from cin to cout with (cout-cin)//2 zero channels in front."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.cin, self.cout, self.stride = cin, cout, stride

    def forward(self, x):
        x = x[:, :, ::self.stride, ::self.stride]
        front = (self.cout - self.cin) // 2
        back = self.cout - self.cin - front
        return F.pad(x, (0, 0, 0, 0, front, back))


class BasicBlock(nn.Module):
    def __init__(self, cin, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu2 = nn.ReLU()
        self.shortcut = ShortcutA(cin, planes, stride) if stride != 1 or cin != planes else nn.Identity()

    def forward(self, x):
        y = self.relu1(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu2(y + self.shortcut(x))


class ResNetCIFAR(nn.Module):
    def __init__(self, depth, classes):
        super().__init__()
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU()
        cin = 16
        for stage, planes in enumerate([16, 32, 64]):
            blocks = []
            for b in range(n):
                stride = 2 if stage > 0 and b == 0 else 1
                blocks.append(BasicBlock(cin, planes, stride))
                cin = planes
            self.add_module(f"layer{stage + 1}", nn.Sequential(*blocks))
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        x = x.mean(dim=(2, 3))  # global average pooling
        return self.fc(x)


BUILDERS = {
    "lenet5": lambda classes: LeNet5(classes),
    "vgg16": lambda classes: VGG16(classes),
    "resnet20": lambda classes: ResNetCIFAR(20, classes),
}


# ---------------------------------------------------------------------------
# Checks.


class Mismatch(Exception):
    pass


def check_spec(spec, model, arch, input_shape):
    """Checks the checkpoint's graph spec against the PyTorch module tree:
    every conv/BN/linear/pool/shortcut node must be a module of the same name
    and configuration, and every PyTorch module with parameters a spec node."""
    if spec.get("arch") != arch:
        raise Mismatch(f"spec arch {spec.get('arch')!r}, expected {arch!r}")
    if list(spec["input"]) != list(input_shape):
        raise Mismatch(f"spec input {spec['input']}, batch input per sample {list(input_shape)}")
    mods = dict(model.named_modules())
    seen = set()
    for node in spec["nodes"]:
        kind, name, cfg = node["kind"], node["name"], node.get("config") or {}
        m = mods.get(name)
        if kind == "conv2d":
            ok = (isinstance(m, nn.Conv2d) and m.in_channels == cfg["in_channels"]
                  and m.out_channels == cfg["out_channels"] and m.kernel_size == (cfg["kernel"],) * 2
                  and m.stride == (cfg["stride"],) * 2 and m.padding == (cfg["padding"],) * 2
                  and (m.bias is not None) == cfg["bias"] and m.groups == 1 and m.dilation == (1, 1))
        elif kind == "batchnorm":
            ok = (isinstance(m, nn.modules.batchnorm._BatchNorm) and m.num_features == cfg["channels"]
                  and m.eps == cfg["eps"] and m.momentum == cfg["momentum"] and m.affine
                  and m.track_running_stats)
        elif kind == "linear":
            ok = (isinstance(m, nn.Linear) and m.in_features == cfg["in_features"]
                  and m.out_features == cfg["out_features"] and (m.bias is not None) == cfg["bias"])
        elif kind == "maxpool2d":
            ok = (isinstance(m, nn.MaxPool2d) and m.kernel_size == cfg["kernel"]
                  and m.stride == (cfg["stride"] or cfg["kernel"]) and m.padding == cfg["padding"])
        elif kind == "shortcut_a":
            ok = (isinstance(m, ShortcutA) and m.cin == cfg["in_channels"]
                  and m.cout == cfg["out_channels"] and m.stride == cfg["stride"])
        elif kind == "relu":
            ok = isinstance(m, nn.ReLU)
        elif kind in ("flatten", "add", "global_avg_pool"):
            ok = True  # written functionally in forward()
        else:
            raise Mismatch(f"spec node {name}: kind {kind!r} has no PyTorch counterpart here")
        if not ok:
            raise Mismatch(f"spec node {name} ({kind} {json.dumps(cfg)}) does not match PyTorch module {m!r}")
        seen.add(name)
    for name, m in mods.items():
        if list(m.parameters(recurse=False)) and name not in seen:
            raise Mismatch(f"PyTorch module {name} has parameters but is not in the spec")


def rel_err(go, ref):
    go = np.asarray(go, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if go.shape != ref.shape:
        raise Mismatch(f"shape {list(go.shape)} vs torch {list(ref.shape)}")
    if go.size == 0:
        return 0.0
    diff = np.max(np.abs(go - ref))
    if not np.isfinite(diff):
        return float("inf")
    return float(diff / max(float(np.max(np.abs(ref))), 1e-12))


def check_model(name, directory, tol, verbose):
    meta, ckpt = read_safetensors(f"{directory}/{name}.safetensors")
    bmeta, batch = read_safetensors(f"{directory}/{name}-batch.safetensors")
    if meta.get("evoprune.format") != "1":
        raise Mismatch(f"checkpoint evoprune.format is {meta.get('evoprune.format')!r}, want '1'")
    if meta.get("evoprune.arch") != name:
        raise Mismatch(f"checkpoint evoprune.arch is {meta.get('evoprune.arch')!r}, want {name!r}")
    if name not in BUILDERS:
        raise Mismatch(f"no PyTorch builder for {name!r} (have {sorted(BUILDERS)})")

    x = torch.from_numpy(batch["input"])
    labels_f = batch["labels"]
    labels = torch.from_numpy(labels_f.astype(np.int64))
    if not np.array_equal(labels.numpy().astype(np.float32), labels_f):
        raise Mismatch("labels are not integers")
    classes = batch["logits"].shape[1]

    model = BUILDERS[name](classes)
    check_spec(json.loads(meta["evoprune.spec"]), model, name, x.shape[1:])

    # Load the checkpoint: every state_dict key but BN's num_batches_tracked
    # must be present, and nothing else.
    state = {k: torch.from_numpy(v) for k, v in ckpt.items()}
    res = model.load_state_dict(state, strict=False)
    missing = [k for k in res.missing_keys if not k.endswith(".num_batches_tracked")]
    if missing or res.unexpected_keys:
        raise Mismatch(f"state_dict mismatch: missing {missing}, unexpected {res.unexpected_keys}")
    for k, v in model.state_dict().items():
        if k in ckpt and not np.array_equal(v.numpy(), ckpt[k]):
            raise Mismatch(f"{k} did not load exactly")

    rows = {}  # tensor name -> error

    model.eval()
    with torch.no_grad():
        rows["eval_logits"] = rel_err(batch["eval_logits"], model(x).numpy())

    model.train()
    model.zero_grad(set_to_none=True)
    logits = model(x)
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    rows["logits"] = rel_err(batch["logits"], logits.detach().numpy())
    rows["loss"] = rel_err(batch["loss"], loss.detach().reshape(1).numpy())

    grads, running = {}, {}
    for pname, p in model.named_parameters():
        key = "grad." + pname
        if key not in batch:
            raise Mismatch(f"batch file lacks {key}")
        if p.grad is None:
            raise Mismatch(f"PyTorch computed no gradient for {pname}")
        grads[pname] = rel_err(batch[key], p.grad.numpy())
    for bname, b in model.named_buffers():
        if bname.endswith(".num_batches_tracked"):
            continue
        key = "running." + bname
        if key not in batch:
            raise Mismatch(f"batch file lacks {key}")
        running[bname] = rel_err(batch[key], b.numpy())
    known = {"input", "labels", "eval_logits", "logits", "loss"}
    known |= {"grad." + k for k in grads} | {"running." + k for k in running}
    extra = sorted(set(batch) - known)
    if extra:
        raise Mismatch(f"batch file has tensors PyTorch does not: {extra}")

    if verbose:
        for k, v in list(rows.items()) + [("grad." + k, v) for k, v in grads.items()] + \
                [("running." + k, v) for k, v in running.items()]:
            print(f"  {name:9s} {k:40s} {v:.2e}{'  FAIL' if not v <= tol else ''}")

    def worst(d):
        if not d:
            return None, 0.0
        k = max(d, key=lambda k: (not np.isfinite(d[k]), d[k]))
        return k, d[k]

    gname, gerr = worst(grads)
    rname, rerr = worst(running)
    all_errs = list(rows.values()) + list(grads.values()) + list(running.values())
    return {
        "eval_logits": rows["eval_logits"], "logits": rows["logits"], "loss": rows["loss"],
        "ngrad": len(grads), "grad": gerr, "grad_name": gname,
        "nrun": len(running), "run": rerr, "run_name": rname,
        "loss_value": float(loss.item()),
        "ok": all(e <= tol for e in all_errs),  # NaN compares false: fails
        "nfail": sum(1 for e in all_errs if not e <= tol),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", help="directory written by `go run ./scripts/equivalence --out DIR`")
    ap.add_argument("--models", default="lenet5,resnet20,vgg16", help="comma-separated models to check")
    ap.add_argument("--tol", type=float, default=1e-4, help="largest accepted relative error (default 1e-4)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print the error of every tensor")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(0)  # module construction only; every weight is overwritten
    torch.set_default_dtype(torch.float32)

    print(f"torch {torch.__version__}, numpy {np.__version__}, {torch.get_num_threads()} thread(s); "
          f"error = max|go - torch| / max|torch| per tensor; tolerance {args.tol:.0e}")
    results, failed = [], False
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        try:
            r = check_model(name, args.dir, args.tol, args.verbose)
        except (Mismatch, ValueError, KeyError, OSError, RuntimeError) as e:
            print(f"{name}: ERROR: {type(e).__name__}: {e}", file=sys.stderr)
            results.append((name, None))
            failed = True
            continue
        results.append((name, r))
        failed |= not r["ok"]

    head = (f"{'model':9s} {'eval logits':>11s} {'logits':>9s} {'loss':>9s}  "
            f"{'grads':>5s} {'worst grad':>10s} {'(tensor)':28s} {'running':>7s} {'worst run':>9s} {'(tensor)':24s} result")
    print()
    print(head)
    print("-" * len(head))
    for name, r in results:
        if r is None:
            print(f"{name:9s} {'error, see above':>31s}{'':>98s}FAIL")
            continue
        print(f"{name:9s} {r['eval_logits']:11.2e} {r['logits']:9.2e} {r['loss']:9.2e}  "
              f"{r['ngrad']:5d} {r['grad']:10.2e} {r['grad_name'] or '-':28s} "
              f"{r['nrun']:7d} {r['run']:9.2e} {r['run_name'] or '-':24s} "
              f"{'PASS' if r['ok'] else 'FAIL (%d tensors over tolerance)' % r['nfail']}")
    print()
    if failed:
        print("torch equivalence: FAILED (run with -v to see every tensor)")
        return 1
    print(f"torch equivalence: all {len(results)} models agree with PyTorch within {args.tol:.0e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
