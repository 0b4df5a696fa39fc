#!/usr/bin/env python3
"""Summarise `evoprune train` logs for docs: epochs done, best validation
accuracy and its epoch, last training loss, and the training time.

An epoch line looks like
  epoch 27: lr 0.07444 train loss 0.5282 acc 81.89% | val loss 0.6821 acc 76.54% | 254 img/s 2m57s
A run resumed with --resume repeats the epoch that a kill interrupted; the
last line of each epoch number is the one that counts, and the time is the
sum over those lines (the interrupted partial epochs are not included).

Usage: scripts/trainlog.py LOG [LOG ...]   (prints one Markdown row per log)
"""
import re
import sys

EPOCH = re.compile(r"^epoch (\d+): .*train loss ([\d.]+) .*\| val loss [\d.]+ acc ([\d.]+)% \| .* ([\dhms.]+)$")
FINAL = re.compile(r"^best epoch (\d+): .*test ([\d.]+)%")


def seconds(d):
    total = 0.0
    for value, unit in re.findall(r"([\d.]+)([hms])", d):
        total += float(value) * {"h": 3600, "m": 60, "s": 1}[unit]
    return total


def summarise(path):
    epochs, final = {}, None
    with open(path) as f:
        for line in f:
            m = EPOCH.match(line.strip())
            if m:
                epochs[int(m.group(1))] = (float(m.group(2)), float(m.group(3)), seconds(m.group(4)))
            m = FINAL.match(line.strip())
            if m:
                final = (int(m.group(1)), float(m.group(2)))
    if not epochs:
        sys.exit(f"{path}: no epoch lines")
    last = max(epochs)
    best_epoch = max(epochs, key=lambda e: (epochs[e][1], -e))
    hours = sum(s for _, _, s in epochs.values()) / 3600
    test = f"{final[1]:.2f} % (epoch {final[0]})" if final else "-"
    return (f"| {path} | {last} | {epochs[last][0]:.4f} | {epochs[best_epoch][1]:.2f} % (epoch {best_epoch}) "
            f"| {test} | {hours:.2f} h |")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    print("| log | epochs done | last train loss | best val | test (best epoch) | training time |")
    print("|---|---|---|---|---|---|")
    for p in sys.argv[1:]:
        print(summarise(p))
