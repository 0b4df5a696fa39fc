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

It also checks the checkpoint's metadata (format, "evoprune.arch") and that
its graph spec agrees with the PyTorch modules (kernels, strides, padding,
BN eps and momentum, ...).

The error of a tensor is max|go - torch| / max(max|torch|, 1e-12). The script
prints a table and exits 1 if any error exceeds the tolerance (default 1e-4),
or if anything is missing or does not fit.

If DIR/<model>-acts.safetensors is there too (every node's output and output
gradient in the engine's training step), a failing model is diagnosed node
by node: the first node whose output, and the first whose output gradient
(going backward), leave PyTorch's are named. ReLU and max-pool decisions that
sit within rounding noise of their boundary ("near ties") are resolved: see
the comment above _ReLUWithMask. The "ties" column counts them.

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


# ---------------------------------------------------------------------------
# Near ties. ReLU and max-pooling take discrete decisions (is the input
# positive, which element is largest). Where the deciding quantity lies within
# rounding noise of the boundary, two correct float32 engines may decide
# differently; the forward values then still agree (they differ by that tiny
# margin), but a whole gradient element is routed differently, and training-
# mode BatchNorm spreads that over every earlier gradient: errors of 1e-2 from
# one element. So when the plain comparison fails and the engine's node
# outputs are at hand (DIR/<model>-acts.safetensors), the training step is
# re-run with PyTorch's backward following the engine's decisions; a differing
# decision is accepted only if it is a near tie, its margin at most tol times
# the largest input magnitude of that node.


class _ReLUWithMask(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, mask):
        ctx.save_for_backward(mask)
        return x.clamp_min(0)

    @staticmethod
    def backward(ctx, g):
        (mask,) = ctx.saved_tensors
        return g * mask, None


class _MaxPoolWithIndices(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, idx, k, s, p):
        ctx.save_for_backward(idx)
        ctx.in_shape = x.shape
        return F.max_pool2d(x, k, s, p)

    @staticmethod
    def backward(ctx, g):
        (idx,) = ctx.saved_tensors
        n, c, h, w = ctx.in_shape
        gi = torch.zeros(n * c, h * w, dtype=g.dtype)
        gi.scatter_add_(1, idx.reshape(n * c, -1), g.reshape(n * c, -1))
        return gi.view(n, c, h, w), None, None, None, None


def first_argmax_pool(x, k, s, p):
    """Plane index (iy*W+ix) of the first largest element of every window,
    scanning rows then columns: the element max-pooling routes gradient to."""
    n, c, h, w = x.shape
    oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    xp = np.full((n, c, h + 2 * p, w + 2 * p), -np.inf, dtype=np.float32)
    xp[:, :, p:p + h, p:p + w] = x
    win = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(2, 3))[:, :, ::s, ::s][:, :, :oh, :ow]
    a = np.argmax(win.reshape(n, c, oh, ow, k * k), axis=-1)
    iy = np.arange(oh)[:, None] * s - p + a // k
    ix = np.arange(ow)[None, :] * s - p + a % k
    return (iy * w + ix).astype(np.int64)


def train_step(model, spec, x, labels, acts=None, align=False):
    """One training-mode forward, mean cross-entropy and backward. With acts,
    records every named node's output and output gradient; with align, ReLU
    and max-pool backward follow the engine's decisions, and every decision
    that differs from PyTorch's own is returned with its relative margin."""
    mods = dict(model.named_modules())
    nodes, flips, handles = {}, [], []
    go_in = {"input": x.numpy()}
    if acts is not None:
        for node in spec["nodes"]:
            name, kind, m = node["name"], node["kind"], mods.get(node["name"])
            if m is None or "out." + name not in acts:
                continue
            if align and kind == "relu":
                go_mask = acts["out." + name] > 0

                def relu_hook(mod, inp, out, name=name, go_mask=go_mask):
                    xin = inp[0].detach().numpy()
                    diff = np.argwhere((xin > 0) != go_mask)
                    scale = max(float(np.abs(xin).max()), 1e-12)
                    for d in diff:
                        flips.append((name, tuple(int(v) for v in d), abs(float(xin[tuple(d)])) / scale))
                    return _ReLUWithMask.apply(inp[0], torch.from_numpy(go_mask.astype(np.float32)))

                handles.append(m.register_forward_hook(relu_hook))
            elif align and kind == "maxpool2d":
                cfg = node["config"]
                k, s, p = cfg["kernel"], cfg["stride"] or cfg["kernel"], cfg["padding"]
                src = node["inputs"][0]
                go_idx = first_argmax_pool(acts["out." + src] if src != "input" else go_in["input"], k, s, p)

                def pool_hook(mod, inp, out, name=name, go_idx=go_idx, k=k, s=s, p=p):
                    xin = inp[0].detach().numpy()
                    own = first_argmax_pool(xin, k, s, p)
                    nn_, cc, hh, ww = xin.shape
                    planes = xin.reshape(nn_, cc, hh * ww)
                    scale = max(float(np.abs(xin).max()), 1e-12)
                    for d in np.argwhere(own != go_idx):
                        i, c = d[0], d[1]
                        a, b = planes[i, c, own[tuple(d)]], planes[i, c, go_idx[tuple(d)]]
                        flips.append((name, tuple(int(v) for v in d), abs(float(a - b)) / scale))
                    return _MaxPoolWithIndices.apply(inp[0], torch.from_numpy(go_idx), k, s, p)

                handles.append(m.register_forward_hook(pool_hook))

            def capture(mod, inp, out, name=name):
                nodes[name] = [out.detach().numpy().copy(), None]
                if out.requires_grad:
                    out.register_hook(lambda g, name=name: nodes[name].__setitem__(1, g.numpy().copy()))

            handles.append(m.register_forward_hook(capture))
    try:
        model.train()
        model.zero_grad(set_to_none=True)
        logits = model(x)
        loss = F.cross_entropy(logits, labels)
        loss.backward()
    finally:
        for h in handles:
            h.remove()
    return logits.detach().numpy(), float(loss.item()), nodes, flips


def compare_step(model, batch, logits, loss):
    """Errors of the training step: {tensor: error}."""
    errs = {"logits": rel_err(batch["logits"], logits),
            "loss": rel_err(batch["loss"], np.array([loss], dtype=np.float32))}
    for pname, p in model.named_parameters():
        key = "grad." + pname
        if key not in batch:
            raise Mismatch(f"batch file lacks {key}")
        if p.grad is None:
            raise Mismatch(f"PyTorch computed no gradient for {pname}")
        errs[key] = rel_err(batch[key], p.grad.numpy())
    for bname, b in model.named_buffers():
        if bname.endswith(".num_batches_tracked"):
            continue
        key = "running." + bname
        if key not in batch:
            raise Mismatch(f"batch file lacks {key}")
        errs[key] = rel_err(batch[key], b.numpy())
    extra = sorted(set(batch) - set(errs) - {"input", "labels", "eval_logits"})
    if extra:
        raise Mismatch(f"batch file has tensors PyTorch does not: {extra}")
    return errs


def worst(errs, prefix):
    items = [(k[len(prefix):], v) for k, v in errs.items() if k.startswith(prefix)]
    if not items:
        return None, 0.0
    return max(items, key=lambda kv: (not np.isfinite(kv[1]), kv[1]))


def locate(spec, acts, nodes, tol):
    """Where the engine's node outputs and output gradients first leave
    PyTorch's: (first forward node over tol, first node over tol going
    backward), each (name, kind, error) or None, and every node's errors."""
    rows = []
    for node in spec["nodes"]:
        name = node["name"]
        if name not in nodes:
            continue
        out, grad = nodes[name]
        eo = rel_err(acts["out." + name], out)
        eg = rel_err(acts["grad." + name], grad) if grad is not None else float("nan")
        rows.append((name, node["kind"], eo, eg))
    fwd = next(((n, k, e) for n, k, e, _ in rows if not e <= tol), None)
    bwd = next(((n, k, e) for n, k, _, e in reversed(rows) if np.isfinite(e) and not e <= tol), None)
    return fwd, bwd, rows


def check_model(name, directory, tol, verbose):
    meta, ckpt = read_safetensors(f"{directory}/{name}.safetensors")
    _, batch = read_safetensors(f"{directory}/{name}-batch.safetensors")
    if meta.get("evoprune.format") != "1":
        raise Mismatch(f"checkpoint evoprune.format is {meta.get('evoprune.format')!r}, want '1'")
    if meta.get("evoprune.arch") != name:
        raise Mismatch(f"checkpoint evoprune.arch is {meta.get('evoprune.arch')!r}, want {name!r}")
    if name not in BUILDERS:
        raise Mismatch(f"no PyTorch builder for {name!r} (have {sorted(BUILDERS)})")
    acts_path = f"{directory}/{name}-acts.safetensors"
    acts = read_safetensors(acts_path)[1] if os.path.exists(acts_path) else None

    x = torch.from_numpy(batch["input"])
    labels_f = batch["labels"]
    labels = torch.from_numpy(labels_f.astype(np.int64))
    if not np.array_equal(labels.numpy().astype(np.float32), labels_f):
        raise Mismatch("labels are not integers")
    classes = batch["logits"].shape[1]

    model = BUILDERS[name](classes)
    spec = json.loads(meta["evoprune.spec"])
    check_spec(spec, model, name, x.shape[1:])

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

    model.eval()
    with torch.no_grad():
        eval_err = rel_err(batch["eval_logits"], model(x).numpy())

    # The plain comparison: PyTorch on its own.
    logits, loss, nodes, _ = train_step(model, spec, x, labels, acts)
    errs = compare_step(model, batch, logits, loss)
    errs["eval_logits"] = eval_err
    notes, flips, raw = [], [], None
    ok = all(e <= tol for e in errs.values())
    if not ok and acts is not None:
        # Re-run from the checkpoint with the engine's ReLU/max-pool decisions.
        raw = errs
        model.load_state_dict(state, strict=False)
        logits, loss, nodes, flips = train_step(model, spec, x, labels, acts, align=True)
        errs = compare_step(model, batch, logits, loss)
        errs["eval_logits"] = eval_err
        far = [f for f in flips if not f[2] <= tol]
        ok = not far and all(e <= tol for e in errs.values())
        gname, gerr = worst(raw, "grad.")
        shown = ", ".join(f"{n}{list(i)} margin {m:.1e}" for n, i, m in flips[:4])
        more = f" and {len(flips) - 4} more" if len(flips) > 4 else ""
        notes.append(f"{name}: PyTorch alone gives worst gradient error {gerr:.2e} ({gname}); "
                     + (f"{len(flips)} ReLU/max-pool decision(s) differ: {shown}{more}" if flips
                        else "no ReLU/max-pool decision differs"))
        if far:
            notes.append(f"{name}: {len(far)} differing decision(s) are NOT near ties (margin > {tol:.0e}): "
                         + ", ".join(f"{n}{list(i)} margin {m:.1e}" for n, i, m in far[:4]))
        elif flips:
            notes.append(f"{name}: all are near ties (margin <= {tol:.0e} of the node's largest input); "
                         f"the table shows the step with PyTorch's backward following the engine there")
    elif not ok:
        notes.append(f"{name}: rerun the Go dump with --acts to locate the disagreement node by node")
    if not ok and acts is not None:
        fwd, bwd, _ = locate(spec, acts, nodes, tol)
        notes.append(f"{name}: first node output over tolerance: "
                     + (f"{fwd[0]} ({fwd[1]}) error {fwd[2]:.2e}" if fwd else "none"))
        users = [n["name"] for n in spec["nodes"] if bwd and bwd[0] in n["inputs"]]
        notes.append(f"{name}: first node output gradient over tolerance, going backward: "
                     + (f"{bwd[0]} ({bwd[1]}) error {bwd[2]:.2e}, written by the backward of "
                        f"{', '.join(users) or 'the loss'}" if bwd else "none"))

    if verbose:
        for k, v in errs.items():
            print(f"  {name:9s} {k:44s} {v:.2e}{'  FAIL' if not v <= tol else ''}")
        if acts is not None:
            for n, kind, eo, eg in locate(spec, acts, nodes, tol)[2]:
                print(f"  {name:9s} node {n:39s} out {eo:.2e}  grad {eg:.2e}  ({kind})")

    gname, gerr = worst(errs, "grad.")
    rname, rerr = worst(errs, "running.")
    return {
        "eval_logits": errs["eval_logits"], "logits": errs["logits"], "loss": errs["loss"],
        "ngrad": sum(k.startswith("grad.") for k in errs), "grad": gerr, "grad_name": gname,
        "nrun": sum(k.startswith("running.") for k in errs), "run": rerr, "run_name": rname,
        "ties": len(flips), "ok": ok, "notes": notes,
        "nfail": sum(1 for e in errs.values() if not e <= tol),  # NaN counts as a failure
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", help="directory written by `go run ./scripts/equivalence --out DIR`")
    ap.add_argument("--models", default="lenet5,resnet20,vgg16", help="comma-separated models to check")
    ap.add_argument("--tol", type=float, default=1e-4, help="largest accepted relative error (default 1e-4)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print the error of every tensor and node")
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

    head = (f"{'model':9s} {'eval logits':>11s} {'logits':>9s} {'loss':>9s}  {'grads':>5s} {'worst grad':>10s} "
            f"{'(tensor)':26s} {'running':>7s} {'worst run':>9s} {'(tensor)':26s} {'ties':>4s}  result")
    print()
    print(head)
    print("-" * len(head))
    for name, r in results:
        if r is None:
            print(f"{name:9s} {'error, see above':>31s}{'':>99s}FAIL")
            continue
        print(f"{name:9s} {r['eval_logits']:11.2e} {r['logits']:9.2e} {r['loss']:9.2e}  "
              f"{r['ngrad']:5d} {r['grad']:10.2e} {r['grad_name'] or '-':26s} "
              f"{r['nrun']:7d} {r['run']:9.2e} {r['run_name'] or '-':26s} {r['ties']:4d}  "
              f"{'PASS' if r['ok'] else 'FAIL (%d tensors over tolerance)' % r['nfail']}")
    notes = [n for _, r in results if r for n in r["notes"]]
    if notes:
        print()
        for n in notes:
            print("note: " + n)
    print()
    if failed:
        print("torch equivalence: FAILED (run with -v to see every tensor)")
        return 1
    print(f"torch equivalence: all {len(results)} models agree with PyTorch within {args.tol:.0e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
