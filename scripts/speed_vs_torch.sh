#!/usr/bin/env bash
# Speed of evoprune's engine against PyTorch (CPU) on the same networks and
# the same protocol: `evoprune bench speed-child` against
# scripts/torch_speed.py (fixed random batch, one warm-up step, train steps
# with SGD momentum 0.9 + weight decay 5e-4 for seconds/2, then eval-mode
# forwards for seconds/2; peak RSS from getrusage). Every measurement runs in
# its own process.
#
# Rounds are interleaved: for each model and thread count, each round runs the
# evoprune child and then the torch child back to back, so load from other
# processes and thermal drift hit both alike. The table shows the median
# images/s over rounds, the ratio evoprune / torch (> 1: evoprune faster) and
# the largest peak RSS over rounds. Skips (exit 0) when the Python has no torch.
#
#   bash scripts/speed_vs_torch.sh [--models lenet5,resnet20,vgg16] [--batch 128]
#       [--threads 1,2] [--rounds 3] [--seconds 10] [--tags TAGS] [--json FILE]
#
# --tags are Go build tags for the evoprune binary (e.g. openblas). The
# environment is passed on to both children, so EVOPRUNE_* settings (kernel or
# library choice) apply; the ones set are printed in the header.
#
# On a machine shared with other busy processes, torch with more than one
# thread can be several times slower than with one: libgomp's default
# spin-waiting at every parallel region's barrier burns the time slices that
# the descheduled partner thread needs. Set OMP_WAIT_POLICY=PASSIVE to measure
# torch without that (it is then named in the torch line and the env list).
# Environment: PYTHON (default /usr/bin/python3), GO (default go).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-/usr/bin/python3}"
GO="${GO:-go}"

models="lenet5,resnet20,vgg16"
batch=128
threads="1,2"
rounds=3
seconds=10
tags=""
json_out=""

usage() {
	sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
}
die() {
	echo "speed_vs_torch: $*" >&2
	exit 2
}
need() { [[ $# -ge 2 && -n "$2" ]] || die "$1 needs a value"; }

while [[ $# -gt 0 ]]; do
	case "$1" in
	--models) need "$@"; models="$2"; shift 2 ;;
	--batch) need "$@"; batch="$2"; shift 2 ;;
	--threads) need "$@"; threads="$2"; shift 2 ;;
	--rounds) need "$@"; rounds="$2"; shift 2 ;;
	--seconds) need "$@"; seconds="$2"; shift 2 ;;
	--tags) need "$@"; tags="$2"; shift 2 ;;
	--json) need "$@"; json_out="$2"; shift 2 ;;
	--models=*) models="${1#*=}"; shift ;;
	--batch=*) batch="${1#*=}"; shift ;;
	--threads=*) threads="${1#*=}"; shift ;;
	--rounds=*) rounds="${1#*=}"; shift ;;
	--seconds=*) seconds="${1#*=}"; shift ;;
	--tags=*) tags="${1#*=}"; shift ;;
	--json=*) json_out="${1#*=}"; shift ;;
	-h | --help) usage; exit 0 ;;
	*) die "unknown argument $1 (see --help)" ;;
	esac
done

[[ "$batch" =~ ^[1-9][0-9]*$ ]] || die "--batch must be a positive integer, got $batch"
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || die "--rounds must be a positive integer, got $rounds"
[[ "$seconds" =~ ^([0-9]+\.?[0-9]*|\.[0-9]+)$ ]] && [[ ! "$seconds" =~ ^0*\.?0*$ ]] ||
	die "--seconds must be a positive number, got $seconds"
[[ "$threads" =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || die "--threads must be comma-separated positive integers, got $threads"
[[ "$models" =~ ^[a-z0-9]+(,[a-z0-9]+)*$ ]] || die "--models must be comma-separated model names, got $models"
for m in ${models//,/ }; do
	case "$m" in lenet5 | resnet20 | vgg16) ;; *) die "model $m has no PyTorch definition (lenet5, resnet20, vgg16)" ;; esac
done

if ! "$PYTHON" -c 'import torch' >/dev/null 2>&1; then
	echo "speed vs torch: SKIPPED: $PYTHON cannot import torch, so nothing was measured."
	echo "  To run it, install it: apt-get install python3-torch"
	exit 0
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/evoprune-speed.XXXXXX")"
trap 'rm -rf "$work"' EXIT
bin="$work/evoprune"
echo "speed vs torch: building evoprune${tags:+ with tags $tags} ..." >&2
"$GO" build ${tags:+-tags "$tags"} -o "$bin" ./cmd/evoprune

results="$work/results.jsonl"
: >"$results"
env_set="$(env | grep -E '^(EVOPRUNE_[A-Z_]*|GOMAXPROCS|GOGC|GOAMD64|OMP_WAIT_POLICY|GOMP_SPINCOUNT|OMP_PROC_BIND)=' | sort | tr '\n' ' ' || true)"

# run ENGINE ROUND CMD...: runs one child and appends its JSON, tagged with the
# engine and round, to $results.
run() {
	local engine="$1" round="$2"
	shift 2
	local out err="$work/stderr"
	if ! out="$("$@" 2>"$err")"; then
		echo "speed vs torch: $engine child failed: $*" >&2
		cat "$err" >&2
		exit 1
	fi
	"$PYTHON" -c '
import json, sys
r = json.loads(sys.argv[3])
r["engine"], r["round"] = sys.argv[1], int(sys.argv[2])
print(json.dumps(r))' "$engine" "$round" "$out" >>"$results" || {
		echo "speed vs torch: $engine child printed: $out" >&2
		exit 1
	}
}

for m in ${models//,/ }; do
	for t in ${threads//,/ }; do
		for ((r = 1; r <= rounds; r++)); do
			echo "speed vs torch: $m, $t thread(s), batch $batch, round $r/$rounds ..." >&2
			run evoprune "$r" "$bin" --threads "$t" bench speed-child --model "$m" --batch "$batch" --seconds "$seconds"
			run torch "$r" "$PYTHON" scripts/torch_speed.py --model "$m" --threads "$t" --batch "$batch" --seconds "$seconds"
		done
	done
done

"$PYTHON" - "$results" "$json_out" "$batch" "$rounds" "$seconds" "$tags" "$env_set" "$(uname -m) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)" <<'EOF'
import json
import statistics
import sys

path, json_out, batch, rounds, seconds, tags, env_set, host = sys.argv[1:]
rows = [json.loads(l) for l in open(path) if l.strip()]

groups = {}
for r in rows:
    groups.setdefault((r["model"], r["threads"]), {"evoprune": [], "torch": []})[r["engine"]].append(r)


def summary(rs):
    return {
        "train_images_per_s": statistics.median(r["train_images_per_s"] for r in rs),
        "infer_images_per_s": statistics.median(r["infer_images_per_s"] for r in rs),
        "train_rounds": [r["train_images_per_s"] for r in rs],
        "infer_rounds": [r["infer_images_per_s"] for r in rs],
        "peak_rss_mib": max(r["peak_rss_mib"] for r in rs),
        "gemm": " / ".join(dict.fromkeys(r["gemm"] for r in rs)),
    }


table = []
for (model, threads), g in groups.items():
    e, t = summary(g["evoprune"]), summary(g["torch"])
    t["baseline_rss_mib"] = max(r.get("baseline_rss_mib", 0) for r in g["torch"])
    table.append({
        "model": model, "threads": threads, "batch": int(batch), "rounds": len(g["evoprune"]),
        "evoprune": e, "torch": t,
        "train_ratio": e["train_images_per_s"] / t["train_images_per_s"],
        "infer_ratio": e["infer_images_per_s"] / t["infer_images_per_s"],
    })

gemm_e = " / ".join(dict.fromkeys(r["evoprune"]["gemm"] for r in table))
gemm_t = " / ".join(dict.fromkeys(r["torch"]["gemm"] for r in table))
baseline = max(r["torch"]["baseline_rss_mib"] for r in table)

head = ["model", "threads", "evoprune train", "torch train", "ratio", "evoprune infer", "torch infer", "ratio",
        "evoprune RSS", "torch RSS", "evoprune GEMM"]


def cells(r):
    e, t = r["evoprune"], r["torch"]
    return [r["model"], str(r["threads"]),
            f"{e['train_images_per_s']:.1f}", f"{t['train_images_per_s']:.1f}", f"{r['train_ratio']:.2f}",
            f"{e['infer_images_per_s']:.1f}", f"{t['infer_images_per_s']:.1f}", f"{r['infer_ratio']:.2f}",
            f"{e['peak_rss_mib']:.0f}", f"{t['peak_rss_mib']:.0f}", e["gemm"]]


body = [cells(r) for r in table]
print()
print(f"evoprune vs PyTorch, batch {batch}, {rounds} interleaved round(s) of {seconds} s each "
      f"(medians of images/s; ratio = evoprune / torch, > 1 means evoprune is faster; peak RSS in MiB, max over rounds)")
print(f"host: {host}" + (f"; go tags: {tags}" if tags else "") + (f"; env: {env_set.strip()}" if env_set.strip() else ""))
print(f"torch: {gemm_t}")
widths = [max(len(x) for x in col) for col in zip(head, *body)]
for i, line in enumerate([head] + body):
    print("  ".join(c.ljust(w) if j in (0, len(head) - 1) else c.rjust(w)
                    for j, (c, w) in enumerate(zip(line, widths))).rstrip())
    if i == 0:
        print("  ".join("-" * w for w in widths))
print(f"\ntorch's peak RSS includes about {baseline:.0f} MiB that the process holds right after `import torch` "
      f"(interpreter and libraries), before any model or data exists.")
if rounds != "1":
    spread = max((max(v) / min(v) - 1) for r in table for s in (r["evoprune"], r["torch"])
                 for v in (s["train_rounds"], s["infer_rounds"]))
    print(f"largest spread between rounds of one measurement (max/min - 1): {spread * 100:.0f}%")

print("\nMarkdown:\n")
md_head = ["Model", "Threads", "evoprune train img/s", "PyTorch train img/s", "Train ratio",
           "evoprune infer img/s", "PyTorch infer img/s", "Infer ratio",
           "evoprune peak RSS (MiB)", "PyTorch peak RSS (MiB)", "evoprune GEMM"]
print("| " + " | ".join(md_head) + " |")
print("|" + "|".join(["---"] * 2 + ["---:"] * 8 + ["---"]) + "|")
for c in body:
    print("| " + " | ".join(c) + " |")
print(f"\nBatch {batch}, median of {rounds} interleaved round(s) of {seconds} s (train then inference, half each); "
      f"ratio = evoprune / PyTorch. PyTorch: {gemm_t}; its peak RSS includes about {baseline:.0f} MiB "
      f"held right after `import torch`." + (f" Go build tags: {tags}." if tags else "")
      + (f" Environment: {env_set.strip()}." if env_set.strip() else ""))

if json_out:
    with open(json_out, "w") as f:
        json.dump({"batch": int(batch), "rounds": int(rounds), "seconds": float(seconds), "tags": tags,
                   "env": env_set.split(), "host": host, "results": table, "raw": rows}, f, indent=2)
        f.write("\n")
    print(f"\n(JSON written to {json_out})", file=sys.stderr)
EOF
