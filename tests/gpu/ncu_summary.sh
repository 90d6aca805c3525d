#!/usr/bin/env bash
# Per-kernel GPU time of one stretch of the GPU benchmark, from Nsight Compute (the GPU machine
# has ncu but no nsys): bash tests/gpu/ncu_summary.sh MODEL BATCH SKIP COUNT
# The environment reaches the benchmark (NG_GRAPH_BRANCHES=1 ...); TAG=-name keeps each run's
# files apart (ncu-MODEL-name.csv).
set -uo pipefail
cd "$(dirname "$0")/../.."
B=${NG_GPU_BUILD:-build-gpu}
O=${OUT:-$B/gpu-out}
mkdir -p "$O"
m=$1 n=$2 skip=${3:-2000} count=${4:-400}
command -v ncu >/dev/null || export PATH=/usr/local/cuda/bin:$PATH
ncu --launch-skip "$skip" --launch-count "$count" --metrics gpu__time_duration.sum --csv \
  "$B/bin/bench_train_step" --model "$m" --batch "$n" --device cuda --steps 20 --warmup 5 \
  >"$O/ncu-$m${TAG:-}.csv" 2>"$O/ncu-$m${TAG:-}.err"
python3 - "$O/ncu-$m${TAG:-}.csv" "$m${TAG:-}" "$n" <<'PY'
import csv, sys, collections
lines = [l for l in open(sys.argv[1]) if l.startswith('"')]
rows = list(csv.DictReader(lines))
agg = collections.defaultdict(lambda: [0.0, 0])
for r in rows:
    if r.get("Metric Name") != "gpu__time_duration.sum": continue
    v = float(r["Metric Value"].replace(",", ""))
    unit = r.get("Metric Unit", "ns")
    v = v * {"ns": 1e-3, "usecond": 1, "us": 1, "msecond": 1e3, "ms": 1e3, "nsecond": 1e-3}.get(unit, 1e-3)
    a = agg[r["Kernel Name"][:120]]; a[0] += v; a[1] += 1
tot = sum(a[0] for a in agg.values())
print(f"{sys.argv[2]}:{sys.argv[3]}: {sum(a[1] for a in agg.values())} kernels, {tot/1e3:.2f} ms GPU time")
for k, (t, c) in sorted(agg.items(), key=lambda kv: -kv[1][0])[:30]:
    print(f"{t/1e3:8.3f} ms {c:5d}x {t/c:8.1f} us  {k}")
PY
tail -3 "$O/ncu-$m${TAG:-}.err"
