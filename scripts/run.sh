#!/usr/bin/env bash
# Trains the bundled LeNet-5 example on the MNIST digits from the command line (until the GUI
# exists, this is what Neurograph runs): fetches the digits if they are missing
# (datasets/fetch_mnist.sh), then runs
#   build/bin/neurograph-cli train resources/examples/lenet-mnist.ngraph [options]
# Usage: scripts/run.sh [PROJECT.ngraph] [train options: --epochs N --json --threads N ...]
# Checkpoints go to resources/examples/runs/<project>-<time>/ unless --out says otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
cli="${NG_BUILD_DIR:-build}/bin/neurograph-cli"
if [[ ! -x "$cli" ]]; then
  echo "run.sh: $cli not found; build first: cmake -S . -B build && cmake --build build -j\"\$(nproc)\"" >&2
  exit 1
fi
project=resources/examples/lenet-mnist.ngraph
if [[ $# -gt 0 && "$1" == *.ngraph ]]; then
  project="$1"
  shift
fi
if grep -q '"kind": "mnist"' "$project"; then
  datasets/fetch_mnist.sh
fi
exec "$cli" train "$project" "$@"
