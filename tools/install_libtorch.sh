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
exec bash "$(dirname "$0")/setup.sh" libtorch-dev
