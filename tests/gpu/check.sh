#!/usr/bin/env bash
# The GPU check, run on the GPU machine (Ubuntu 24.04, CUDA 13, cuDNN 9, CMake 4, g++ 13,
# PyTorch 2.11; no Qt, no network) from the repository root of a clean tree:
#
#   bash tests/gpu/check.sh            # build, CUDA tests, GPU benchmark vs PyTorch, table last
#   bash tests/gpu/check.sh --full     # ... and the whole ctest suite (CPU tests, CLI on the GPU)
#   bash tests/gpu/check.sh --no-torch # skip the PyTorch reference runs
#   bash tests/gpu/ab.sh               # after it: A/B rows of the engine's switches (~100 s)
#   bash tests/gpu/session.sh 570      # check.sh, ab.sh and diag.sh in one device call
#
# Builds the engine, the CLI and the tests (-DNG_BUILD_GUI=OFF -DNG_CUDA_ARCHS=90) in
# $NG_GPU_BUILD (default build-gpu, ignored by git and kept between calls on a warm machine),
# compiles PyTorch's torch.compile configurations in the background meanwhile (only to fill its
# caches), runs ng_engine_tests --gtest_filter='Cuda*' in four shards, times bench_train_step
# --device cuda on mlp:64, lenet:64 and resnet20:512, runs tests/bench/torch_reference.py --device cuda on the same cases
# (eager; cudnn.benchmark + channels_last; for the small models torch.compile reduce-overhead, for
# ResNet-20 torch.compile default mode + cudnn.benchmark + channels_last, PyTorch's fastest on it
# in ../shared/bench/README.md), and prints a short table last.
# The $BF16_CASES (resnet20:512) also run in bf16 mixed precision on both sides
# (--precision bf16; torch --amp, eager): the "bf16" rows.
# Logs and JSON lines go to $NG_GPU_BUILD/gpu-out, and as gpu-out.tgz to $OUT where that is set
# (the device tool's output folder).
#
# stb (image-folder datasets) is not installed there: if a libstb-dev .deb is found in
# $NG_CARRY (default .gpu-carry, a folder to name in the device tool's carry list), it is
# unpacked with dpkg -x; otherwise the engine builds without the image loader (its tests skip).
# To prepare the carry folder here:
#   mkdir -p .gpu-carry && cp /var/cache/apt/archives/libstb-dev_*.deb .gpu-carry/
#   echo /.gpu-carry/ >> .git/info/exclude
set -uo pipefail

cd "$(dirname "$0")/../.."
ROOT=$(pwd)
FULL=0
TORCH=1
for arg in "$@"; do
  case "$arg" in
    --full) FULL=1 ;;
    --no-torch) TORCH=0 ;;
    *) echo "check.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done
B=${NG_GPU_BUILD:-build-gpu}
# Logs and JSON lines go to $O; on the device tool ($OUT set), which brings back only a few
# files, they arrive as one archive, gpu-out.tgz, written on exit.
O=$B/gpu-out
rm -rf "$O"
mkdir -p "$O"
# The archive is written again at every stage, so that a run killed outright (SIGKILL at the
# device tool's limit, which no EXIT trap sees) still brings back what was done by then.
pack() { [ -n "${OUT:-}" ] && tar czf "$OUT/gpu-out.tgz" -C "$O" . 2>/dev/null; true; }
trap pack EXIT
SMALL_CASES="mlp:64 lenet:64"
BIG_CASES="resnet20:512"
CASES="$SMALL_CASES $BIG_CASES"
BF16_CASES="resnet20:512"
T0=$(date +%s)
stamp() {
  pack
  echo "== [$(( $(date +%s) - T0 ))s] $*" | tee -a "$O/stages.txt"
}
STATUS=()

stamp "GPU"
nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used --format=csv,noheader 2>&1 |
  tee "$O/gpu.txt"

# ---------------------------------------------------------------- PyTorch's compiles, early
# torch.compile spends most of a minute per configuration compiling (Dynamo, Inductor, Triton),
# most of it on one core. The same configurations are compiled here first, in the background,
# while the engine builds and its tests run; their timed runs below then find Inductor's and
# Triton's caches (/tmp/torchinductor_$USER, ~/.triton) filled and compile in seconds. Only
# compile time moves: the timed runs still warm up and time their own steps, and no timed run of
# either side starts before this has finished (it is waited for before the CLI's run).
TR=tests/bench/torch_reference.py
PREWARM=
if [ "$TORCH" = 1 ]; then
  stamp "PyTorch compiles in the background (caches for the timed torch.compile runs)"
  timeout 240 bash -c "python3 $TR --device cuda --cases $(echo $BIG_CASES | tr ' ' ',') \
      --steps 1 --warmup 3 --compile default --cudnn-benchmark --channels-last;
    python3 $TR --device cuda --cases $(echo $SMALL_CASES | tr ' ' ',') --steps 1 --warmup 3 \
      --compile reduce-overhead" >"$O/torch_precompile.log" 2>&1 &
  PREWARM=$!
fi

# ---------------------------------------------------------------- configure and build
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH=/usr/local/cuda/bin:$PATH
fi
STB_ARG=()
if [ ! -f /usr/include/stb/stb_image.h ]; then
  DEB=$(ls "${NG_CARRY:-.gpu-carry}"/libstb-dev_*.deb 2>/dev/null | head -1)
  if [ -n "$DEB" ]; then
    if mkdir -p /tmp/ng-stb && dpkg -x "$DEB" /tmp/ng-stb; then
      STB_ARG=(-DNG_STB_INCLUDE=/tmp/ng-stb/usr/include/stb)
      echo "stb: unpacked $DEB"
    else
      echo "stb: dpkg -x $DEB failed; building without the image-folder loader"
    fi
  else
    echo "stb: no libstb-dev .deb carried; building without the image-folder loader"
  fi
fi
GEN=()
command -v ninja >/dev/null && GEN=(-G Ninja)
[ -f "$B/CMakeCache.txt" ] && GEN=()  # keep the generator of an existing build folder
stamp "configure"
cmake -S . -B "$B" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release -DNG_BUILD_GUI=OFF -DNG_WITH_CUDA=ON \
  -DNG_CUDA_ARCHS=90 "${STB_ARG[@]}" >"$O/configure.log" 2>&1 ||
  { tail -40 "$O/configure.log"; echo "configure FAILED"; exit 1; }
grep -E "CUDA backend|OpenBLAS|stb" "$O/configure.log"
# One build that keeps going past a failed target: a test that does not compile costs the test
# stage only, not the measurements. The binaries are removed first, so that none left by an
# earlier call on a warm machine stands in for one that failed to build now.
stamp "build (-j16)"
KEEP_GOING=(-k)
[ -f "$B/build.ninja" ] && KEEP_GOING=(-k 0)
rm -f "$B/bin/ng_engine_tests" "$B/bin/neurograph-cli" "$B/bin/bench_train_step"
cmake --build "$B" -j16 --target ng_engine_tests neurograph-cli bench_train_step -- \
  "${KEEP_GOING[@]}" >"$O/build.log" 2>&1 ||
  { grep -E "error|Error" "$O/build.log" | head -40; echo "build: some targets FAILED"; }
for t in neurograph-cli bench_train_step; do
  [ -x "$B/bin/$t" ] || { echo "$t did not build: nothing to measure"; exit 1; }
done
[ -x "$B/bin/ng_engine_tests" ] || STATUS+=("ng_engine_tests did not build (build.log)")
grep -c "warning" "$O/build.log" | sed 's/^/build warnings: /'

# ---------------------------------------------------------------- CUDA tests
# Four shards side by side on the one GPU (most tests are small and launch-bound), each with 4
# OpenMP threads for its CPU references and a time limit, so that a hang costs one shard and not
# the call; their JSON reports are merged into cuda_tests.json for the table.
# CudaMemoryFit fills the GPU on purpose (an out-of-memory test): it runs alone, afterwards.
FILTER='Cuda*:ChannelsLast.AutoPolicyKeepsTheCpuAndSmallConvolutionsNchw:-CudaMemoryFit.*'
TEST_RC=0
if [ -x "$B/bin/ng_engine_tests" ]; then
  stamp "CUDA tests (4 shards)"
  SHARDS=4
  PIDS=()
  for i in $(seq 0 $((SHARDS - 1))); do
    GTEST_TOTAL_SHARDS=$SHARDS GTEST_SHARD_INDEX=$i OMP_NUM_THREADS=4 OMP_WAIT_POLICY=passive \
      timeout -k 5 150 "$B/bin/ng_engine_tests" --gtest_filter="$FILTER" --gtest_brief=1 \
      --gtest_output="json:$O/cuda_tests_$i.json" >"$O/cuda_tests_$i.log" 2>&1 &
    PIDS+=($!)
  done
  for i in "${!PIDS[@]}"; do
    wait "${PIDS[$i]}"
    rc=$?
    [ $rc -gt $TEST_RC ] && TEST_RC=$rc
    [ $rc -ge 124 ] && echo "shard $i: exit $rc (crashed or timed out)"
  done
  cat "$O"/cuda_tests_*.log >"$O/cuda_tests.log"
  grep -E "FAILED|PASSED|SKIPPED" "$O/cuda_tests.log" | tail -20
  # A shard that crashed or timed out wrote no report: its tests run again one by one (each
  # with a report of its own), within two minutes in all, so that every result is known.
  for i in $(seq 0 $((SHARDS - 1))); do
    [ -s "$O/cuda_tests_$i.json" ] && continue
    stamp "shard $i one test at a time (the shard crashed or timed out)"
    GTEST_TOTAL_SHARDS=$SHARDS GTEST_SHARD_INDEX=$i "$B/bin/ng_engine_tests" \
      --gtest_filter="$FILTER" --gtest_list_tests |
      awk '/^[^ ]/{s=$1} /^  /{print s $1}' >"$O/cuda_list_$i.txt"
    END=$(( $(date +%s) + 120 ))
    k=0
    while read -r t; do
      k=$((k + 1))
      if [ "$(date +%s)" -ge "$END" ]; then
        echo "--- $t and the rest of shard $i: not run (two minutes used)"
        echo "$t not run" >>"$O/cuda_not_run.txt"
        continue
      fi
      OMP_WAIT_POLICY=passive timeout -k 5 45 "$B/bin/ng_engine_tests" --gtest_filter="$t" \
        --gtest_brief=1 --gtest_output="json:$O/cuda_one_${i}_$k.json" >"$O/one.log" 2>&1
      rc=$?
      [ $rc -ne 0 ] && { echo "--- $t exit $rc"; tail -15 "$O/one.log"; }
      [ $rc -ge 124 ] && echo "$t exit $rc" >>"$O/cuda_crashed.txt"
    done <"$O/cuda_list_$i.txt" 2>&1 | tee -a "$O/cuda_one_by_one.log" | tail -60
  done
else
  TEST_RC=1
fi

# The background compiles finish before anything is timed, and before the GPU is filled.
if [ -n "$PREWARM" ]; then
  stamp "waiting for the background PyTorch compiles"
  wait "$PREWARM"
  echo "background compiles: exit $?; $(grep -c '"median_ms"' "$O/torch_precompile.log") of 3 cases ran"
fi

if [ -x "$B/bin/ng_engine_tests" ]; then
  stamp "CUDA out-of-memory test, alone on the GPU"
  OMP_WAIT_POLICY=passive timeout -k 5 90 "$B/bin/ng_engine_tests" --gtest_filter='CudaMemoryFit.*' \
    --gtest_output="json:$O/cuda_tests_memory.json" >"$O/cuda_tests_memory.log" 2>&1
  rc=$?
  [ $rc -gt $TEST_RC ] && TEST_RC=$rc
  [ $rc -ge 124 ] && echo "CudaMemoryFit exit $rc" >>"$O/cuda_crashed.txt"
  grep -E "ResNet-20 on this GPU|FAILED|PASSED|SKIPPED|Failure" "$O/cuda_tests_memory.log" | head -8
  python3 - "$O" <<'PY'
import glob, json, os, sys
out = sys.argv[1]
suites = {}
for f in sorted(glob.glob(os.path.join(out, "cuda_tests_*.json")) +
                glob.glob(os.path.join(out, "cuda_one_*.json"))):
    try:
        t = json.load(open(f))
    except (OSError, ValueError):
        continue
    for s in t["testsuites"]:
        suites.setdefault(s["name"], []).extend(s["testsuite"])
json.dump({"testsuites": [{"name": k, "testsuite": v} for k, v in suites.items()]},
          open(os.path.join(out, "cuda_tests.json"), "w"))
PY
fi
STATUS+=("CUDA tests exit $TEST_RC")
for f in cuda_crashed cuda_not_run; do
  [ -s "$O/$f.txt" ] && STATUS+=("${f#cuda_}: $(tr '\n' ';' <"$O/$f.txt")")
done

if [ "$FULL" = 1 ]; then
  stamp "whole ctest suite"
  (cd "$B" && OMP_WAIT_POLICY=passive ctest -j16 --timeout 300 >"$O/ctest.log" 2>&1)
  CT_RC=$?
  tail -15 "$O/ctest.log"
  STATUS+=("ctest exit $CT_RC")
fi

# ---------------------------------------------------------------- end to end: the CLI on the GPU
if [ -s datasets/mnist/train-images-idx3-ubyte ]; then
  stamp "CLI: lenet-mnist, 5 epochs, --device cuda"
  S=$(date +%s.%N)
  timeout 120 "$B/bin/neurograph-cli" train resources/examples/lenet-mnist.ngraph --device cuda \
    --epochs 5 --out "$B/e2e-run" >"$O/cli_cuda.log" 2>&1
  CLI_RC=$?
  E=$(date +%s.%N)
  tail -4 "$O/cli_cuda.log"
  STATUS+=("CLI lenet-mnist 5 epochs on cuda: exit $CLI_RC, $(python3 -c "print(f'{$E-$S:.2f}')") s wall")
  echo "${STATUS[-1]}" | tee -a "$O/status.txt"  # kept in the archive should the run be cut short
else
  STATUS+=("CLI end to end: datasets/mnist not carried")
fi

# ---------------------------------------------------------------- benchmarks
stamp "Neurograph GPU benchmark"
: >"$O/bench.jsonl"
for c in $CASES; do
  m=${c%%:*}
  n=${c##*:}
  timeout 60 "$B/bin/bench_train_step" --model "$m" --batch "$n" --device cuda --steps 50 \
    --warmup 10 2>>"$O/bench.err" >>"$O/bench.jsonl"
done
: >"$O/bench_bf16.jsonl"
for c in $BF16_CASES; do
  timeout 60 "$B/bin/bench_train_step" --model "${c%%:*}" --batch "${c##*:}" --device cuda \
    --precision bf16 --steps 50 --warmup 10 2>>"$O/bench.err" >>"$O/bench_bf16.jsonl"
done
python3 -c '
import json, sys
for f in sys.argv[1:]:
    for line in open(f):
        try:
            j = json.loads(line)
            print("%s:%s %s %.3f ms" % (j["model"], j["batch"], j.get("precision", ""), j["median_ms"]))
        except (ValueError, KeyError):
            pass
' "$O/bench.jsonl" "$O/bench_bf16.jsonl"
tail -5 "$O/bench.err" 2>/dev/null

if [ "$TORCH" = 1 ]; then
  ALL=$(echo $CASES | tr ' ' ',')
  stamp "PyTorch eager"
  timeout 75 python3 $TR --device cuda --cases "$ALL" --steps 50 --warmup 10 \
    >"$O/torch_eager.jsonl" 2>"$O/torch_eager.err"
  # ResNet-20's best PyTorch configuration first: the ResNet bar is measured against it.
  stamp "PyTorch torch.compile (default mode) + cudnn.benchmark + channels_last: $BIG_CASES"
  timeout 120 python3 $TR --device cuda --cases "$(echo $BIG_CASES | tr ' ' ',')" --steps 50 \
    --warmup 10 --compile default --cudnn-benchmark --channels-last \
    >"$O/torch_compile_fast.jsonl" 2>"$O/torch_compile_fast.err"
  stamp "PyTorch cudnn.benchmark + channels_last"
  timeout 75 python3 $TR --device cuda --cases "$ALL" --steps 50 --warmup 10 --cudnn-benchmark \
    --channels-last >"$O/torch_fast.jsonl" 2>"$O/torch_fast.err"
  stamp "PyTorch torch.compile reduce-overhead: $SMALL_CASES"
  timeout 100 python3 $TR --device cuda --cases "$(echo $SMALL_CASES | tr ' ' ',')" --steps 50 \
    --warmup 10 --compile reduce-overhead >"$O/torch_compile.jsonl" 2>"$O/torch_compile.err"
  BF=$(echo $BF16_CASES | tr ' ' ',')
  # bf16 is no bar of its own: PyTorch's eager autocast only, to stay within five minutes.
  stamp "PyTorch bf16 autocast, eager"
  timeout 60 python3 $TR --device cuda --cases "$BF" --steps 50 --warmup 10 --amp \
    >"$O/torch_eager_bf16.jsonl" 2>"$O/torch_eager_bf16.err"
  for f in eager compile_fast fast compile eager_bf16; do tail -2 "$O/torch_$f.err" 2>/dev/null; done
fi

# ---------------------------------------------------------------- the table
stamp "done"
printf '%s\n' "${STATUS[@]}" >"$O/status_all.txt"
python3 - "$O" "${STATUS[@]}" <<'EOF' | tee "$O/table.txt"
import json, os, sys
out, status = sys.argv[1], sys.argv[2:]

def load(name):
    rows = {}
    try:
        for line in open(os.path.join(out, name)):
            try:
                j = json.loads(line)
                rows[(j["model"], int(j["batch"]))] = j
            except (ValueError, KeyError):
                pass
    except OSError:
        pass
    return rows

ng, eager, fast, comp, compfast = (load(f) for f in (
    "bench.jsonl", "torch_eager.jsonl", "torch_fast.jsonl", "torch_compile.jsonl",
    "torch_compile_fast.jsonl"))
ng16, eager16 = load("bench_bf16.jsonl"), load("torch_eager_bf16.jsonl")
try:
    t = json.load(open(os.path.join(out, "cuda_tests.json")))
    cases = [(f"{s['name']}.{c['name']}", c) for s in t["testsuites"] for c in s["testsuite"]]
    failed = [n for n, c in cases if c.get("failures")]
    skipped = [n for n, c in cases if c.get("result") == "SKIPPED"]
    tests = (f"{len(cases)} CUDA tests: {len(cases) - len(failed) - len(skipped)} passed, "
             f"{len(failed)} failed, {len(skipped)} skipped")
except (OSError, ValueError, KeyError):
    tests, failed = "CUDA tests: no result file", []
    cases = []
for f, what in (("cuda_crashed.txt", "crashed or timed out"), ("cuda_not_run.txt", "not run")):
    try:
        n = len(open(os.path.join(out, f)).read().splitlines())
        tests += f"; {n} more {what} (below)"
    except OSError:
        pass
for name, c in cases:  # what each failure said, briefly
    for f in c.get("failures", [])[:2]:
        msg = " ".join(f.get("failure", "").split())
        print(f"FAILED {name}: {msg[:400]}")
gpu = next((r.get("gpu") for r in ng.values() if r.get("gpu")), "GPU ?")
tf32 = next((r.get("tf32") for r in ng.values() if "tf32" in r), None)
print(f"\n{gpu}; Neurograph TF32 {'on' if tf32 else 'off' if tf32 is not None else '?'}")
print(tests + ("; failed: " + ", ".join(failed[:8]) if failed else ""))
for s in status:
    print(s)
ms = lambda r: f"{r['median_ms']:.3f}" if r else "-"
print(f"\n{'model:batch':<14}{'neurograph':>11}{'peak MB':>9}{'torch eager':>13}"
      f"{'bench+CL':>10}{'compile':>12}{'ng/eager':>10}{'ng/best':>9}{'torch MB':>10}"
      f"{'eager MB':>10}")
for key in [(c.split(':')[0], int(c.split(':')[1])) for c in "mlp:64 lenet:64 resnet20:512".split()]:
    n, e = ng.get(key), eager.get(key)
    ratio = f"{n['median_ms'] / e['median_ms']:.3f}" if n and e else "-"
    peak = f"{n['peak_gpu_mb']:.0f}" if n and "peak_gpu_mb" in n else "-"
    # compile: reduce-overhead for the small models, default mode + cudnn.benchmark +
    # channels_last for ResNet-20 (marked *); the best is the fastest of all that ran.
    c = comp.get(key) or compfast.get(key)
    torch_rows = [r for r in (e, fast.get(key), comp.get(key), compfast.get(key)) if r]
    best = min((r["median_ms"] for r in torch_rows), default=None)
    best_ratio = f"{n['median_ms'] / best:.3f}" if n and best else "-"
    tpeak = min((r["peak_mem_mb"] for r in torch_rows if r.get("peak_mem_mb")), default=None)
    tpeak = f"{tpeak:.0f}" if tpeak else "-"
    epeak = f"{e['peak_mem_mb']:.0f}" if e and e.get("peak_mem_mb") else "-"
    print(f"{key[0] + ':' + str(key[1]):<14}{ms(n):>11}{peak:>9}{ms(e):>13}{ms(fast.get(key)):>10}"
          f"{ms(c) + ('*' if c and c.get('channels_last') else ''):>12}{ratio:>10}{best_ratio:>9}"
          f"{tpeak:>10}{epeak:>10}")
print("(median ms per training step: zero_grad, forward, cross-entropy, backward, SGD m0.9;"
      " compile: torch.compile reduce-overhead, * default mode + cudnn.benchmark + channels_last;"
      " ng/best: against PyTorch's fastest configuration; torch MB: its smallest peak over all"
      " configurations, eager MB: eager's)")
for key, r in ng.items():
    if r.get("graphs_off_reason"):
        print(f"{key[0]}:{key[1]}: CUDA graphs off, eager steps: {r['graphs_off_reason'][:300]}")
if ng16:  # bf16 mixed precision on both sides (torch: autocast bf16; no compile run)
    print("bf16 mixed precision:")
for key in sorted(ng16):
    n, e = ng16.get(key), eager16.get(key)
    ratio = f"{n['median_ms'] / e['median_ms']:.2f}" if n and e else "-"
    peak = f"{n['peak_gpu_mb']:.0f}" if n and "peak_gpu_mb" in n else "-"
    print(f"{key[0] + ':' + str(key[1]):<14}{ms(n):>11}{peak:>9}{ms(e):>13}"
          f"{'-':>10}{'-':>12}{ratio:>10}")
EOF
