#!/usr/bin/python3
"""PyTorch counterpart of `evoprune bench speed-child`: one speed measurement.

Same protocol as cmd/evoprune/bench.go, on the same networks as
scripts/torch_equivalence.py (imported from there):

  * a fixed random batch (normal inputs, uniform labels);
  * training: one warm-up step, then steps (model.train(), zero_grad, forward,
    F.cross_entropy mean, backward, SGD momentum 0.9 + weight decay 5e-4 step)
    for seconds/2, at least 2 steps;
  * inference: model.eval() under torch.no_grad(), one warm-up forward, then
    forwards for seconds/2, at least 2;
  * peak RSS from getrusage (ru_maxrss, KiB on Linux) of this process.

OMP_NUM_THREADS, MKL_NUM_THREADS and OPENBLAS_NUM_THREADS are set to
--threads. Other OpenMP settings come from the environment; note that with
more than one thread libgomp's default spin-waiting collapses throughput when
the cores are shared with other busy processes (OMP_WAIT_POLICY=PASSIVE
avoids that); when set, OMP_WAIT_POLICY and GOMP_SPINCOUNT are named in "gemm".

Prints one JSON object with the keys of evoprune's speed-child
(model, threads, batch, train_images_per_s, infer_images_per_s, peak_rss_mib,
gemm) plus baseline_rss_mib: the peak RSS right after `import torch`, before
any model or data exists (the interpreter's and libraries' share of the peak).

Usage: /usr/bin/python3 scripts/torch_speed.py --model resnet20 --threads 1 --batch 128 --seconds 10
"""

import argparse
import json
import os
import re
import resource
import sys
import time

INPUTS = {"lenet5": (1, 28, 28), "resnet20": (3, 32, 32), "vgg16": (3, 32, 32)}


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB on Linux


def loaded_blas():
    """Basename of the BLAS shared library mapped into this process (torch's
    Debian build links the generic libblas.so.3, whichever alternative that is)."""
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "/" in line}
    except OSError:
        return "unknown"
    names = sorted({os.path.basename(p) for p in libs
                    if any(k in os.path.basename(p) for k in ("openblas", "libblas", "mkl_rt", "libmkl", "blis"))})
    # Prefer the real implementation over the libblas.so.3 shim.
    real = [n for n in names if not n.startswith("libblas")]
    return ", ".join(real or names) or "none loaded"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, choices=sorted(INPUTS))
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--seconds", type=float, default=10, help="seconds per measurement, split between train and inference")
    ap.add_argument("--classes", type=int, default=10)
    args = ap.parse_args()
    if args.threads <= 0 or args.batch <= 0 or args.seconds <= 0:
        ap.error("--threads, --batch and --seconds must be positive")

    # Thread counts of the libraries below torch, set before they load.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(args.threads)

    import torch  # noqa: E402
    import torch.nn.functional as F  # noqa: E402

    baseline = peak_rss_mib()
    torch.set_num_threads(args.threads)

    # The model definitions of torch_equivalence.py (importing it has no side
    # effects beyond os.environ.setdefault of the variables set above).
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from torch_equivalence import BUILDERS  # noqa: E402

    torch.manual_seed(1)
    model = BUILDERS[args.model](args.classes)
    x = torch.randn(args.batch, *INPUTS[args.model])
    y = torch.randint(0, args.classes, (args.batch,))
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9, weight_decay=5e-4)

    def time_loop(budget, f):
        f()  # warm-up
        n, t0 = 0, time.perf_counter()
        while n < 2 or time.perf_counter() - t0 < budget:
            f()
            n += 1
        return n * args.batch / (time.perf_counter() - t0)

    def train_step():
        model.train()
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    train_ips = time_loop(args.seconds / 2, train_step)

    model.eval()
    with torch.no_grad():
        infer_ips = time_loop(args.seconds / 2, lambda: model(x))

    mkldnn = torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled
    m = re.search(r"(MKL-DNN|oneDNN)\s+(v[0-9.]+)", torch.__config__.show())
    dnnl_ver = f" oneDNN {m.group(2)}" if m else ""
    gemm = (f"pytorch {torch.__version__} (oneDNN/mkldnn enabled: {mkldnn}{',' + dnnl_ver if dnnl_ver else ''}; "
            f"BLAS: {loaded_blas()}"
            + "".join(f"; {v}={os.environ[v]}" for v in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT") if os.environ.get(v))
            + ")")
    print(json.dumps({
        "model": args.model,
        "threads": torch.get_num_threads(),
        "batch": args.batch,
        "train_images_per_s": train_ips,
        "infer_images_per_s": infer_ips,
        "peak_rss_mib": peak_rss_mib(),
        "gemm": gemm,
        "baseline_rss_mib": baseline,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
