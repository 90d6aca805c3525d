#!/usr/bin/env bash
# Neurograph's main job on the bundled LeNet-5 example: with a display, opens it in the desktop
# editor (build/bin/neurograph); without one (or with any train option), trains it from the
# command line on the MNIST digits. Fetches the digits if they are missing
# (datasets/fetch_mnist.sh).
# Usage: scripts/run.sh [PROJECT.ngraph] [train options: --epochs N --json --threads N ...]
# Checkpoints go to resources/examples/runs/<project>-<time>/ unless --out says otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${NG_BUILD_DIR:-build}/bin"
project=resources/examples/lenet-mnist.ngraph
if [[ $# -gt 0 && "$1" == *.ngraph ]]; then
  project="$1"
  shift
fi
if grep -q '"kind": "mnist"' "$project"; then
  datasets/fetch_mnist.sh
fi
if [[ $# -eq 0 && ( -n "${DISPLAY:-}" || -n "${WAYLAND_DISPLAY:-}" ) && -x "$bin/neurograph" ]]; then
  exec "$bin/neurograph" "$project"
fi
cli="$bin/neurograph-cli"
if [[ ! -x "$cli" ]]; then
  echo "run.sh: $cli not found; build first: cmake -S . -B build && cmake --build build -j\"\$(nproc)\"" >&2
  exit 1
fi
exec "$cli" train "$project" "$@"
