#!/usr/bin/env bash
# A/B rows of the GPU benchmark, run after tests/gpu/check.sh on the same machine (it reuses
# check.sh's build folder): each case again with engine switches set, beside default runs of the
# same case made by this script, so that every comparison is within one call and a few seconds.
# The switches are those that README.md lists; the rows are the questions open in issue #4:
#   - the fused batch-norm + ReLU kernels (NG_BN_RELU_KERNELS=1), 2 ms slower in three runs for
#     reasons not yet found, beside their forward alone (=fwd): which half holds the slowdown;
#   - every forward fusion (=fwd and NG_BN_ADD_RELU=1, NOTE [Batch norm into the add]);
#   - weight-gradient branches (NOTE [Weight-gradient branches]): LeNet, the MLP, and ResNet-20
#     with its large layers let in (NG_GRAPH_BRANCH_MB=64);
#   - convolutions adding their input gradient into the one waiting (NG_CONV_GRAD_ADD=1, NOTE
#     [Gradients added in place by the kernel]);
#   - all of the candidates at once on ResNet-20;
#   - LeNet with the convolutions' ReLU derivatives left out of the max pools.
# ResNet-20's default runs first and last, so that drift during the script shows.
#
#   bash tests/gpu/ab.sh      (about 110 s on an H200 after check.sh)
#
# JSON lines go to $NG_GPU_BUILD/gpu-out/ab (default build-gpu), and as gpu-ab.tgz to $OUT where
# that is set (the device tool's output folder).
set -uo pipefail
cd "$(dirname "$0")/../.."
B=${NG_GPU_BUILD:-build-gpu}
if [ ! -x "$B/bin/bench_train_step" ]; then
  echo "ab.sh: no $B/bin/bench_train_step; run tests/gpu/check.sh first" >&2
  exit 1
fi
O=$B/gpu-out/ab
rm -rf "$O"
mkdir -p "$O"
# The archive is written after every row as well, so that a run killed outright still brings
# back the rows done by then.
pack() { [ -n "${OUT:-}" ] && tar czf "$OUT/gpu-ab.tgz" -C "$O" . 2>/dev/null; true; }
trap pack EXIT

# NAME MODEL:BATCH [VAR=VALUE ...]: one benchmark process, its JSON line in $O/NAME.jsonl.
row() {
  local name=$1 c=$2
  shift 2
  env "$@" timeout 60 "$B/bin/bench_train_step" --model "${c%%:*}" --batch "${c##*:}" \
    --device cuda --steps 50 --warmup 10 2>>"$O/bench.err" >"$O/$name.jsonl"
  echo "$name $c $*" >>"$O/rows.txt"
  pack
}
FWD=(NG_BN_RELU_KERNELS=fwd NG_BN_ADD_RELU=1)
BIG=(NG_GRAPH_BRANCHES=1 NG_GRAPH_BRANCH_MB=64)
row resnet-default-1 resnet20:512
row resnet-bnrelu resnet20:512 NG_BN_RELU_KERNELS=1
row resnet-bnrelu-fwd resnet20:512 NG_BN_RELU_KERNELS=fwd
row resnet-fwd-fusions resnet20:512 "${FWD[@]}"
row resnet-branches resnet20:512 "${BIG[@]}"
row resnet-grad-add resnet20:512 NG_CONV_GRAD_ADD=1
row resnet-all resnet20:512 "${FWD[@]}" "${BIG[@]}" NG_CONV_GRAD_ADD=1
row resnet-default-2 resnet20:512
row lenet-default lenet:64
row lenet-branches lenet:64 NG_GRAPH_BRANCHES=1
row lenet-nopoolmask lenet:64 NG_POOL_RELU_GRAD=0
row mlp-default mlp:64
row mlp-branches mlp:64 NG_GRAPH_BRANCHES=1
tail -3 "$O/bench.err" 2>/dev/null

python3 - "$O" <<'EOF' | tee "$O/table.txt"
import json, os, sys
out = sys.argv[1]
rows = []
for line in open(os.path.join(out, "rows.txt")):
    name, case, *env = line.split()
    try:
        j = json.loads(open(os.path.join(out, name + ".jsonl")).read())
    except (OSError, ValueError):
        j = None
    rows.append((name, case, " ".join(env), j))
defaults = {}
for name, case, env, j in rows:
    if not env and j:
        defaults.setdefault(case, []).append(j["median_ms"])
gpu = next((j.get("gpu") for *_, j in rows if j and j.get("gpu")), "GPU ?")
print(f"\nA/B rows, {gpu} (median ms per step, 50 steps after 10 warm-up, each synchronised)")
print(f"{'row':<20}{'case':<14}{'ms':>9}{'vs default':>12}{'pipelined':>11}{'nodes':>7}{'branches':>10}"
      f"{'MB':>7}  switches")
for name, case, env, j in rows:
    if not j:
        print(f"{name:<20}{case:<14}{'failed':>9}  {env or 'default'} (see bench.err)")
        continue
    d = defaults.get(case)
    vs = f"{j['median_ms'] / (sum(d) / len(d)):.3f}x" if d and env else ""
    br = f"{j.get('graph_branches', 0)}/{j.get('graph_early_joins', 0)}"
    note = f" [graphs off: {j['graphs_off_reason'][:120]}]" if j.get("graphs_off_reason") else ""
    if j.get("bn_add_fusions"):
        note += f" [{j['bn_add_fusions']} batch norms into adds]"
    print(f"{name:<20}{case:<14}{j['median_ms']:>9.3f}{vs:>12}{j.get('pipelined_ms', 0):>11.3f}"
          f"{j.get('graph_nodes', 0):>7}{br:>10}{j.get('peak_gpu_mb', 0):>7.0f}  "
          f"{env or 'default'}{note}")
print("(vs default: against the mean of the same case's default runs in this script; branches:"
      " forked / early joins)")
EOF
