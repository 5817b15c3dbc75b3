#!/usr/bin/env bash
# Installs the Debian packages tapegrad needs, and only those that are missing.
# Idempotent: prints nothing and touches nothing when everything is present.
# With arguments, installs those packages instead (e.g. `setup.sh libtorch-dev`).
set -euo pipefail

packages=(
  cmake g++ make pkg-config
  libxtensor-dev libxsimd-dev xtl-dev libxtensor-blas-dev libopenblas-dev
  catch2 libzip-dev libcli11-dev nlohmann-json3-dev
  libxsmm-dev  # kernels for the small products of a recurrent step (autodiff/small_gemm.hpp)
  fortunes  # the real English text examples/charlm trains on (docs/charlm.md)
)
[ $# -gt 0 ] && packages=("$@")

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
