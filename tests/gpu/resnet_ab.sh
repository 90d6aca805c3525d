#!/usr/bin/env bash
# ResNet-20 at batch 512 on the GPU, A/B of the CUDA backend's choices, after tests/gpu/check.sh
# has built $NG_GPU_BUILD (default build-gpu). About 30 s on an H200:
#   bash tests/gpu/resnet_ab.sh
# Rows: the default (cuDNN algorithms by timing, node outputs released), the heuristic algorithms
# (NG_CUDNN_FIND=0), node outputs kept (--keep-outputs 1: the memory of the first GPU run), TF32
# off. Then the algorithm each convolution got, and the candidates Find timed (NG_CUDNN_LOG=1).
set -uo pipefail
cd "$(dirname "$0")/../.."
B=${NG_GPU_BUILD:-build-gpu}
O=${OUT:-$B/gpu-out}
mkdir -p "$O"
run() {  # label [VAR=value...] -- [bench_train_step options...]
  local label=$1
  shift
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  local line
  line=$(env "${envs[@]}" timeout 60 "$B/bin/bench_train_step" --model resnet20 --batch 512 \
    --device cuda --steps 30 --warmup 5 "$@" 2>>"$O/resnet_ab.err")
  echo "$line" >>"$O/resnet_ab.jsonl"
  python3 -c "import json,sys
try:
    j = json.loads(sys.argv[2])
    print(f'{sys.argv[1]:<24}{j[\"median_ms\"]:>9.3f} ms{j[\"peak_gpu_mb\"]:>8.0f} MB')
except (ValueError, KeyError):
    print(f'{sys.argv[1]:<24} failed (see resnet_ab.err)')" "$label" "$line"
}
: >"$O/resnet_ab.err"
: >"$O/resnet_ab.jsonl"
echo "resnet20:512, median ms per step, peak allocated MB"
run "default" --
run "heuristic algorithms" NG_CUDNN_FIND=0 --
run "node outputs kept" -- --keep-outputs 1
run "TF32 off" -- --tf32 0
NG_CUDNN_LOG=1 timeout 60 "$B/bin/bench_train_step" --model resnet20 --batch 512 --device cuda \
  --steps 1 --warmup 1 >/dev/null 2>"$O/cudnn_choices.txt"
echo "cuDNN choices (with the candidates Find timed, as algo/math:ms:MiB, in $O/cudnn_choices.txt):"
sed 's/; candidates.*//' "$O/cudnn_choices.txt" | head -40
