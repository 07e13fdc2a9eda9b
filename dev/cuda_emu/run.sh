#!/usr/bin/env bash
# dev/cuda_emu/run.sh (make check-cuda-emu): train.cu's kernels on the CPU.
# Extracts train.cu's device code (extract.awk), compiles it with the CUDA
# emulation of emu.h and the checks of check_kernels.cpp (g++, C++20), once
# with the WMMA tile code and once with the FP32 build's scalar tile code, and
# runs both: every kernel against its train.c twin. No GPU, no nvcc needed.
set -euo pipefail
cd "$(dirname "$0")"
CXX=${CXX:-g++}
out=../../tmp/cuda_emu
mkdir -p "$out"
awk -f extract.awk ../../train.cu > "$out/kernels.inc"
flags=(-std=c++20 -O1 -D_GNU_SOURCE -fopenmp -Wall -Wextra -Wno-unused-function -Wno-unused-parameter
       -Wno-unknown-pragmas -DKERNELS="\"$(cd "$out" && pwd)/kernels.inc\"")
"$CXX" "${flags[@]}" check_kernels.cpp -o "$out/check_wmma" -lm -pthread
"$CXX" "${flags[@]}" -DEMU_SCALAR check_kernels.cpp -o "$out/check_scalar" -lm -pthread
"$out/check_wmma"
"$out/check_scalar"
