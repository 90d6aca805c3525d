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
# Everything it writes goes to $NG_GPU_BUILD/gpu-out/diag (default build-gpu), and as
# gpu-diag.tgz to $OUT where that is set (the device tool's output folder), written again after
# each stage so that a run cut short still brings back what it did.
set -u
cd "$(dirname "$0")/../.."
export PATH=/usr/local/cuda/bin:$PATH
BUILD=${NG_GPU_BUILD:-build-gpu}
D=$BUILD/gpu-out/diag
rm -rf "$D"
mkdir -p "$D"
pack() { [ -n "${OUT:-}" ] && tar czf "$OUT/gpu-diag.tgz" -C "$D" . 2>/dev/null; true; }
trap pack EXIT
exec > >(tee "$D/diag.txt") 2>&1
if [ ! -x "$BUILD/bin/bench_train_step" ]; then
  STB=()
  if mkdir -p /tmp/ng-stb && dpkg -x .gpu-carry/libstb-dev_*.deb /tmp/ng-stb 2>/dev/null; then
    STB=(-DNG_STB_INCLUDE=/tmp/ng-stb/usr/include/stb)
  fi
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DNG_BUILD_GUI=OFF -DNG_WITH_CUDA=ON \
    -DNG_CUDA_ARCHS=90 "${STB[@]}" >"$D/configure.log" 2>&1 || echo configure failed
fi
cmake --build "$BUILD" -j16 --target ng_engine_tests bench_train_step >"$D/build.log" 2>&1 ||
  { grep error "$D/build.log" | head; exit 1; }
echo "built at $SECONDS s"
OMP_WAIT_POLICY=passive timeout -k 5 120 "$BUILD/bin/ng_engine_tests" \
  --gtest_filter='CudaGraphBranches*:CudaChannelsLastNorm*:CudaGraphStep*:CudaBatchNormRelu*:CudaHotPaths.Algorithms*:CudaHotPaths.BackwardData*' \
  --gtest_brief=1 >"$D/tests.log" 2>&1
echo "tests: exit $?"
grep -A6 "Failure\|FAILED\|PASSED" "$D/tests.log" | head -40
pack
B=$BUILD/bin/bench_train_step
# One line per process: ms, and a digest of the algorithms Find chose (NG_CUDNN_LOG=1 lines,
# without their timings), so that processes that chose differently show. Branches off and on in
# turn, then two processes whose Find timed every algorithm three times (NG_CUDNN_FIND_TRIALS=3).
k=0
for cfg in "0 1" "1 1" "0 1" "1 1" "0 3" "0 3"; do
  br=${cfg% *} tr=${cfg#* } k=$((k + 1))
  NG_CUDNN_LOG=1 NG_CUDNN_FIND_TRIALS=$tr NG_GRAPH_BRANCHES=$br NG_GRAPH_BRANCH_MB=64 \
    timeout 60 "$B" --model resnet20 --batch 512 --device cuda --steps 50 --warmup 10 \
    >"$D/spread-$k.json" 2>"$D/spread-$k.log"
  python3 - "$D/spread-$k.json" "$D/spread-$k.log" "branches=$br find_trials=$tr" <<'PY'
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
  pack
done
# ncu_summary.sh writes its CSV files into $OUT: here, into the diag folder.
NCU=(env OUT="$D" NG_GPU_BUILD="$BUILD" timeout -k 5 90 bash tests/gpu/ncu_summary.sh)
TAG=-default "${NCU[@]}" lenet 64 600 120 | head -40
pack
echo "done at $SECONDS s"
TAG=-default "${NCU[@]}" resnet20 512 3000 700 | head -25
pack
TAG=-bnrelu NG_BN_RELU_KERNELS=1 "${NCU[@]}" resnet20 512 3000 700 | head -25
echo "done at $SECONDS s"
