#!/usr/bin/env bash
# Kernel-level profile of the GPU benchmark's training steps, for tuning: builds
# bench_train_step (as check.sh does) and runs it under Nsight Systems when nsys is there,
# printing the GPU kernel and memory-operation summaries and the CUDA API summary.
#   bash tests/gpu/profile.sh [model:batch ...]     (default: resnet20:512 lenet:64)
set -uo pipefail
cd "$(dirname "$0")/../.."
B=${NG_GPU_BUILD:-build-gpu}
O=${OUT:-$B/gpu-out}
mkdir -p "$O"
CASES=${*:-resnet20:512 lenet:64}
command -v nvcc >/dev/null || export PATH=/usr/local/cuda/bin:$PATH
NSYS=$(command -v nsys || ls /usr/local/cuda/bin/nsys /opt/nvidia/nsight-systems/*/bin/nsys 2>/dev/null | head -1)
echo "nsys: ${NSYS:-none}; ncu: $(command -v ncu || echo none)"
STB_ARG=()
if [ ! -f /usr/include/stb/stb_image.h ]; then
  DEB=$(ls .gpu-carry/libstb-dev_*.deb 2>/dev/null | head -1)
  [ -n "$DEB" ] && mkdir -p /tmp/ng-stb && dpkg -x "$DEB" /tmp/ng-stb &&
    STB_ARG=(-DNG_STB_INCLUDE=/tmp/ng-stb/usr/include/stb)
fi
cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Release -DNG_BUILD_GUI=OFF -DNG_WITH_CUDA=ON \
  -DNG_CUDA_ARCHS=90 "${STB_ARG[@]}" >"$O/configure.log" 2>&1 || { tail -20 "$O/configure.log"; exit 1; }
cmake --build "$B" -j16 --target bench_train_step >"$O/build.log" 2>&1 ||
  { grep -E "error" "$O/build.log" | head -30; exit 1; }
for c in $CASES; do
  m=${c%%:*}; n=${c##*:}
  echo "=================== $m batch $n"
  "$B/bin/bench_train_step" --model "$m" --batch "$n" --device cuda --steps 30 --warmup 5
  if [ -n "$NSYS" ]; then
    "$NSYS" profile -t cuda -o "$O/prof-$m" --force-overwrite true \
      "$B/bin/bench_train_step" --model "$m" --batch "$n" --device cuda --steps 20 --warmup 5 \
      >"$O/nsys-$m.log" 2>&1
    "$NSYS" stats -r cuda_gpu_kern_sum,cuda_gpu_mem_time_sum,cuda_api_sum -f csv \
      -o "$O/stats-$m" "$O/prof-$m.nsys-rep" >/dev/null 2>&1
    for f in "$O"/stats-"$m"*kern_sum*.csv; do
      echo "--- kernels (top 25 by total time; 25 steps)"
      python3 - "$f" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
tot = sum(float(r["Total Time (ns)"]) for r in rows)
print(f"total GPU kernel time {tot/1e6:.2f} ms, {sum(int(r['Instances']) for r in rows)} launches")
for r in rows[:25]:
    print(f"{float(r['Total Time (ns)'])/1e6:9.2f} ms {int(r['Instances']):6d}x {float(r['Avg (ns)'])/1e3:9.1f} us  {r['Name'][:110]}")
PY
    done
    for f in "$O"/stats-"$m"*api_sum*.csv "$O"/stats-"$m"*mem_time*.csv; do
      echo "--- $(basename "$f")"
      python3 - "$f" <<'PY'
import csv, sys
for r in list(csv.DictReader(open(sys.argv[1])))[:10]:
    print(f"{float(r['Total Time (ns)'])/1e6:9.2f} ms {int(r.get('Num Calls', r.get('Count', 0)) or 0):6d}x  {r.get('Name', r.get('Operation', ''))[:80]}")
PY
    done
    rm -f "$O"/prof-"$m".* "$O"/*.sqlite
  fi
done
