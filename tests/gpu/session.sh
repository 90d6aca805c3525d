#!/usr/bin/env bash
# Everything a device session owes issue #4, in one call of the device tool (a machine goes back
# 30 s after a call, and a fresh one costs its start and a full build again):
#
#   bash tests/gpu/session.sh [SECONDS]     (default 570: the tool's 600 s limit less a margin)
#
# check.sh (build, CUDA tests, benchmark against PyTorch, the table), then ab.sh (the A/B rows of
# the engine's switches), then diag.sh (kernel profiles, run-to-run spread) in whatever time is
# left, killed at the deadline so that the archives are written before the tool's own limit.
# Each script brings back its own archive (gpu-out.tgz, gpu-ab.tgz, gpu-diag.tgz) and refreshes
# it after every stage.
set -uo pipefail
cd "$(dirname "$0")/../.."
BUDGET=${1:-570}
T0=$(date +%s)
left() { echo $((BUDGET - ($(date +%s) - T0))); }

bash tests/gpu/check.sh
echo "== session: check.sh done at $(($(date +%s) - T0)) s"
if [ "$(left)" -gt 60 ]; then
  timeout -k 5 "$(($(left) - 10))" bash tests/gpu/ab.sh
  echo "== session: ab.sh done at $(($(date +%s) - T0)) s"
else
  echo "== session: no time left for ab.sh"
fi
if [ "$(left)" -gt 60 ]; then
  timeout -k 5 "$(($(left) - 10))" bash tests/gpu/diag.sh >/dev/null 2>&1
  echo "== session: diag.sh done at $(($(date +%s) - T0)) s (its output: gpu-diag.tgz, diag.txt)"
else
  echo "== session: no time left for diag.sh"
fi
# The tables last, so that the tool's output tail shows them.
B=${NG_GPU_BUILD:-build-gpu}
cat "$B/gpu-out/table.txt" "$B/gpu-out/ab/table.txt" 2>/dev/null
grep -E "spread|resnet20:512 branches|tests: exit|FAILED" "$B/gpu-out/diag/diag.txt" 2>/dev/null |
  head -20
