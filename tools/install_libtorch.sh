#!/usr/bin/env bash
# Installs Debian's LibTorch for the benchmark (bench/), and only if it is
# missing. The tapegrad library itself never links LibTorch.
# Idempotent: prints nothing and touches nothing when everything is present.
#
# Debian 12 (bookworm): libtorch-dev 1.13.1 holds the C++ headers and the CMake
# packages /usr/lib/x86_64-linux-gnu/cmake/Torch/TorchConfig.cmake and
# .../cmake/Caffe2/Caffe2Config.cmake, which CMake's default search finds with a
# plain find_package(Torch). Its dependencies bring what Caffe2Config.cmake
# looks for: libtorch1.13 (the shared libraries), libprotobuf-dev,
# libgoogle-glog-dev and libgflags-dev (and python3-dev).
set -euo pipefail

packages=(libtorch-dev)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install_libtorch: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "install_libtorch: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
