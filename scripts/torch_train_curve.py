"""Train ResNet-20 on CIFAR-10 in PyTorch with evoprune's recipe and print the
per-epoch learning curve, to tell whether an accuracy gap comes from the
engine or from the data and the recipe.

The recipe is the one `evoprune train --model resnet20 --weight-decay 5e-4`
uses: option-A ResNet-20, He-normal convolutions, SGD lr 0.1 momentum 0.9
weight decay 5e-4 on every parameter, cosine annealing per step over
--schedule-epochs, batch 128, random crop with 4 zero pixels of padding and
horizontal flip, per-channel normalisation, a class-stratified validation
split of 5,000 training images. Only the split differs from evoprune's (its
own seeded draw), which matters for a curve comparison no more than a seed.

The state (model, optimiser, epoch, RNG) is saved after every epoch to
--state; the same command continues an interrupted run.

Usage:
  /usr/bin/python3 scripts/torch_train_curve.py --data-dir ../shared/data \\
      --epochs 10 --schedule-epochs 80 --state runs/torch-r20.pt
"""

import argparse
import math
import os
import sys
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_equivalence import ResNetCIFAR  # noqa: E402

MEAN = np.array([0.4914, 0.4822, 0.4465], dtype=np.float32)
STD = np.array([0.2470, 0.2435, 0.2616], dtype=np.float32)


def read_cifar10(paths):
    raw = b"".join(open(p, "rb").read() for p in paths)
    rec = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3073)
    return rec[:, 1:].reshape(-1, 3, 32, 32), rec[:, 0].astype(np.int64)


def normalise(x):
    return (x.astype(np.float32) / 255 - MEAN[None, :, None, None]) / STD[None, :, None, None]


def augment(x, rng):
    """Pad by 4 zero pixels (raw value 0, normalised like any pixel), take a
    random 32x32 crop, then flip left-right with probability 1/2."""
    n = x.shape[0]
    pad = np.zeros((n, 3, 40, 40), dtype=np.uint8)
    pad[:, :, 4:36, 4:36] = x
    out = np.empty_like(x)
    dy, dx = rng.integers(0, 9, n), rng.integers(0, 9, n)
    flip = rng.integers(0, 2, n).astype(bool)
    for i in range(n):
        img = pad[i, :, dy[i]:dy[i] + 32, dx[i]:dx[i] + 32]
        out[i] = img[:, :, ::-1] if flip[i] else img
    return out


def evaluate(model, x, y, batch=500):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            logits = model(torch.from_numpy(normalise(x[i:i + batch])))
            correct += (logits.argmax(1).numpy() == y[i:i + batch]).sum()
    return correct / len(x)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--epochs", type=int, default=10, help="epochs to run in all")
    ap.add_argument("--schedule-epochs", type=int, default=80, help="length of the cosine schedule")
    ap.add_argument("--weight-decay", type=float, default=5e-4)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--state", required=True, help="state file, written after every epoch")
    args = ap.parse_args()
    torch.set_num_threads(1)

    root = os.path.join(args.data_dir, "cifar10", "cifar-10-batches-bin")
    xs, ys = read_cifar10([os.path.join(root, f"data_batch_{i}.bin") for i in range(1, 6)])
    xt, yt = read_cifar10([os.path.join(root, "test_batch.bin")])
    split = np.random.default_rng(12345)
    val = np.concatenate([split.permutation(np.flatnonzero(ys == c))[:500] for c in range(10)])
    keep = np.setdiff1d(np.arange(len(ys)), val)
    xtr, ytr, xv, yv = xs[keep], ys[keep], xs[val], ys[val]

    torch.manual_seed(args.seed)
    model = ResNetCIFAR(20, 10)
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=args.weight_decay)
    batch = 128
    steps_per_epoch = math.ceil(len(ytr) / batch)
    total = steps_per_epoch * args.schedule_epochs
    start = 0
    if os.path.exists(args.state):
        st = torch.load(args.state)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        start = st["epoch"]
        print(f"resumed after epoch {start}", flush=True)

    for epoch in range(start, args.epochs):
        rng = np.random.default_rng([args.seed, epoch])
        order = rng.permutation(len(ytr))
        model.train()
        t0, loss_sum, correct = time.time(), 0.0, 0
        for s in range(steps_per_epoch):
            step = epoch * steps_per_epoch + s
            for g in opt.param_groups:
                g["lr"] = args.lr * 0.5 * (1 + math.cos(math.pi * step / total))
            idx = order[s * batch:(s + 1) * batch]
            x = torch.from_numpy(normalise(augment(xtr[idx], rng)))
            y = torch.from_numpy(ytr[idx])
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(idx)
            correct += (logits.argmax(1) == y).sum().item()
        secs = time.time() - t0
        va = evaluate(model, xv, yv)
        print(f"epoch {epoch + 1}: lr {opt.param_groups[0]['lr']:.4g} train loss {loss_sum / len(ytr):.4f} "
              f"acc {100 * correct / len(ytr):.2f}% | val acc {100 * va:.2f}% | {len(ytr) / secs:.0f} img/s {secs:.0f}s",
              flush=True)
        tmp = args.state + ".tmp"
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "epoch": epoch + 1}, tmp)
        os.replace(tmp, args.state)
    print(f"test acc {100 * evaluate(model, xt, yt):.2f}% (last epoch's weights)", flush=True)


if __name__ == "__main__":
    main()
