#!/usr/bin/env bash
# dev/cuda_emu/run.sh (make check-cuda-emu): train.cu on the CPU, no GPU and
# no nvcc needed (g++ with C++20), in two parts:
#   1. the kernels: train.cu's device code (extract.awk) with the CUDA
#      emulation of emu.h, each kernel against its train.c twin
#      (check_kernels.cpp), with the WMMA tile code and with the FP32 build's
#      scalar one
#   2. the whole trainer: test/test_gpu.cu and train.cu rewritten by
#      to_cpu.pl (launches through emu.h, cuBLASLt's matmuls by their
#      definition in matmul_lt_emu.inc, the runtime from include/), run as
#      test_gpu runs on a GPU, without the 124M shape: the FP32 build, and
#      the bf16 build's code paths (tiles, the separate compute copy of the
#      weights) in fp32
# Exit status: non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")"
CXX=${CXX:-g++}
out=../../tmp/cuda_emu
mkdir -p "$out"
# the classifier's blocks shrink from 1024 threads to 64 (its loops take any
# multiple of 32): an OS thread per CUDA thread makes big blocks slow here
flags=(-std=c++20 -O2 -D_GNU_SOURCE -fopenmp -Wall -Wextra -Wno-unused-function -Wno-unused-parameter
       -DCLASSIFIER_THREADS=64)

awk -f extract.awk ../../train.cu > "$out/kernels.inc"
kernels="-DKERNELS=\"$(cd "$out" && pwd)/kernels.inc\""
"$CXX" "${flags[@]}" "$kernels" check_kernels.cpp -o "$out/check_wmma" -lm -pthread
"$CXX" "${flags[@]}" "$kernels" -DEMU_SCALAR check_kernels.cpp -o "$out/check_scalar" -lm -pthread
"$out/check_wmma"
"$out/check_scalar"

perl to_cpu.pl < ../../train.cu > "$out/train_cpu.cpp"
perl to_cpu.pl < ../../test/test_gpu.cu > "$out/test_gpu_cpu.cpp"
cp matmul_lt_emu.inc "$out/"
inc=(-I include -I ../..)
"$CXX" "${flags[@]}" "${inc[@]}" -DTEST_GPU_NO_124M -DENABLE_FP32 "$out/test_gpu_cpu.cpp" -o "$out/test_gpu_fp32" -lm -pthread
"$CXX" "${flags[@]}" "${inc[@]}" -DTEST_GPU_NO_124M "$out/test_gpu_cpu.cpp" -o "$out/test_gpu_bf16paths" -lm -pthread
"$out/test_gpu_fp32"
"$out/test_gpu_bf16paths"
echo "check-cuda-emu: OK (kernels and the whole trainer, emulated on the CPU)"
