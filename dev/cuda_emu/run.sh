#!/usr/bin/env bash
# dev/cuda_emu/run.sh (make check-cuda-emu): train.cu on the CPU, no GPU and
# no nvcc needed (g++ with C++20). Every file is compiled as it is: the
# emulation comes in through the flags alone, -DCUDA_EMU and -I include, whose
# fake <cuda_runtime.h> brings emu.h (LAUNCH, DYNAMIC_SMEM, threads as CUDA
# threads); with CUDA_EMU, train.cu takes matmul_lt from matmul_lt_emu.inc. In
# two parts:
#   1. the kernels: check_kernels.cpp includes train_kernels.cuh (train.cu's
#      device code) and checks each kernel against its train.c twin (the
#      --gelu-fusion 0 path's bias and GELU kernels too), with the WMMA tile
#      code and the bf16 build's tensor-core attention (train_attention.cuh:
#      mma.sync, ldmatrix and cp.async emulated lane by lane), and with the
#      FP32 build's scalar one
#   2. the whole trainer: test/test_gpu.cu (which includes train.cu), run as
#      test_gpu runs on a GPU, without the 124M shape (fused and unfused
#      epilogues; and, emulation only, that a step allocates nothing and
#      makes no blocking copy, its asynchronous copies from pinned memory,
#      which the emulated cudaMemcpyAsync insists on): the FP32 build; the
#      bf16 build with a real 16-bit bf16 (-DEMU_BF16: 8 per 128-bit pack,
#      its roundings and shared-memory sizes, test_gpu's bf16 tolerances);
#      and both again as on a laptop GPU (99 KiB of shared memory per block:
#      EMU_SMEM_OPTIN, the smaller attention tiles)
# Exit status: non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")"
CXX=${CXX:-g++}
out=../../tmp/cuda_emu
mkdir -p "$out"
# the classifier's blocks shrink from 1024 threads to 64 (its loops take any
# multiple of 32): an OS thread per CUDA thread makes big blocks slow here
flags=(-std=c++20 -O2 -D_GNU_SOURCE -fopenmp -Wall -Wextra -Wno-unused-function -Wno-unused-parameter
       -DCLASSIFIER_THREADS=64 -DCUDA_EMU -I include)

"$CXX" "${flags[@]}" check_kernels.cpp -o "$out/check_wmma" -lm -pthread
"$CXX" "${flags[@]}" -DEMU_SCALAR check_kernels.cpp -o "$out/check_scalar" -lm -pthread
"$out/check_wmma"
"$out/check_scalar"

# .cu files are C++ to g++ with -x c++
"$CXX" "${flags[@]}" -DTEST_GPU_NO_124M -DENABLE_FP32 -x c++ ../../test/test_gpu.cu -x none \
    -o "$out/test_gpu_fp32" -lm -pthread
"$CXX" "${flags[@]}" -DTEST_GPU_NO_124M -DEMU_BF16 -x c++ ../../test/test_gpu.cu -x none \
    -o "$out/test_gpu_bf16" -lm -pthread
"$out/test_gpu_fp32"
"$out/test_gpu_bf16"
# a laptop GPU's 99 KiB of shared memory per block (sm_86/sm_89/sm_120): head
# size 128 takes the smaller attention tiles (FP32) and the smaller dQ tile
# of the tensor-core kernels (bf16: 68 KiB in place of 102)
EMU_SMEM_OPTIN=101376 "$out/test_gpu_fp32" hs128
EMU_SMEM_OPTIN=101376 "$out/test_gpu_bf16" hs128
echo "check-cuda-emu: OK (kernels and the whole trainer, emulated on the CPU)"
