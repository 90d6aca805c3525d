#!/usr/bin/env bash
# A short diagnostic for the device tool, after check.sh (which builds build-gpu; ab.sh has the
# A/B timings): the tests of the newest GPU work, then for the questions open in issue #4 —
#   - LeNet b64 (Nsight Compute): which kernels a step is made of and what each costs;
#   - ResNet-20 b512 with and without the fused batch-norm + ReLU kernels (NOTE [Batch norm with
#     ReLU]), measured 2 ms slower per step in three runs for reasons not yet found;
#   - ResNet-20 b512's spread between processes (6.6-7.2 ms in different calls): six processes,
#     default and large-layer branches in turn, then Find with three trials, each with the
#     algorithms cuDNN's Find chose, so that a process that chose differently shows, and the
#     branch A/B is read against the spread.
#   bash tests/gpu/diag.sh          (about three minutes on an H200 after check.sh's build)
set -u
cd "$(dirname "$0")/../.."
export PATH=/usr/local/cuda/bin:$PATH
OUT=${OUT:-/tmp/diag}
mkdir -p "$OUT"
if [ ! -x build-gpu/bin/bench_train_step ]; then
  mkdir -p /tmp/ng-stb && dpkg -x .gpu-carry/libstb-dev_*.deb /tmp/ng-stb 2>/dev/null
  cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DNG_BUILD_GUI=OFF -DNG_WITH_CUDA=ON \
    -DNG_CUDA_ARCHS=90 -DNG_STB_INCLUDE=/tmp/ng-stb/usr/include/stb >/dev/null 2>&1 || echo configure failed
fi
cmake --build build-gpu -j16 --target ng_engine_tests bench_train_step >"$OUT/build.log" 2>&1 ||
  { grep error "$OUT/build.log" | head; exit 1; }
echo "built at $SECONDS s"
build-gpu/bin/ng_engine_tests --gtest_filter='CudaGraphBranches*:CudaChannelsLastNorm*:CudaGraphStep*:CudaBatchNormRelu*:CudaHotPaths.Algorithms*' \
  --gtest_brief=1 2>&1 | grep -A6 "Failure\|FAILED\|PASSED" | head -40
B=build-gpu/bin/bench_train_step
# One line per process: ms, and a digest of the algorithms Find chose (NG_CUDNN_LOG=1 lines,
# without their timings), so that processes that chose differently show. Branches off and on in
# turn, then two processes whose Find timed every algorithm three times (NG_CUDNN_FIND_TRIALS=3).
k=0
for cfg in "0 1" "1 1" "0 1" "1 1" "0 3" "0 3"; do
  br=${cfg% *} tr=${cfg#* } k=$((k + 1))
  NG_CUDNN_LOG=1 NG_CUDNN_FIND_TRIALS=$tr NG_GRAPH_BRANCHES=$br NG_GRAPH_BRANCH_MB=64 $B \
    --model resnet20 --batch 512 --device cuda --steps 50 --warmup 10 >"$OUT/spread-$k.json" \
    2>"$OUT/spread-$k.log"
  python3 - "$OUT/spread-$k.json" "$OUT/spread-$k.log" "branches=$br find_trials=$tr" <<'PY'
import hashlib, json, re, sys
try:
    j = json.load(open(sys.argv[1]))
except (OSError, ValueError):
    sys.exit(f"resnet20:512 {sys.argv[3]}: the benchmark failed (see {sys.argv[2]})")
choices = sorted(re.sub(r"(timed|heuristic) .*", "", l).strip()
                 for l in open(sys.argv[2]) if l.startswith("cuDNN "))
d = hashlib.sha1("\n".join(choices).encode()).hexdigest()[:8]
print(f"resnet20:512 {sys.argv[3]}: {j['median_ms']:.3f} ms, {j['peak_gpu_mb']:.0f} MB,"
      f" {j.get('graph_branches')} branches ({j.get('graph_early_joins')} early joins);"
      f" {len(choices)} cuDNN choices, digest {d}")
PY
done
export OUT
TAG=-default bash tests/gpu/ncu_summary.sh lenet 64 600 120 | head -40
echo "done at $SECONDS s"
TAG=-default bash tests/gpu/ncu_summary.sh resnet20 512 3000 700 | head -25
TAG=-bnrelu NG_BN_RELU_KERNELS=1 bash tests/gpu/ncu_summary.sh resnet20 512 3000 700 | head -25
echo "done at $SECONDS s"
