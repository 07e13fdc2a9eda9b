#!/usr/bin/env bash
# dev/cuda/emu/run.sh: the kernel lab's GPU versions run on the CPU, no GPU and no
# nvcc needed (g++ with C++20), under the CUDA emulation of dev/cuda_emu (one OS
# thread per CUDA thread, real barriers and shuffles, WMMA by its documented
# layouts, a 16-bit bf16: -DEMU_BF16), with small shapes (LAB_EMU): every
# version of every op, at every block size, is checked against train.c's CPU
# twin. The .cu files
# compile as they are (g++ -x c++ -DCUDA_EMU -I dev/cuda_emu/include): their
# launches and dynamic shared memory go through LAUNCH and DYNAMIC_SMEM
# (cuda_common.h), which the emulation defines.
#
#   bash dev/cuda/emu/run.sh [op ...]        (default: all; binaries in tmp/lab_emu)
#
# What it shows: indexing, tiling, masking, barriers, the reductions and the
# formulas of each kernel, and the bf16 versions with bf16 as the GPU stores
# it (8 per 128-bit pack, rounded to nearest even; their references from the
# same rounded inputs). What it cannot: real tensor cores, cuBLASLt (versions
# 5 and 6 of the matmuls are left out), timing. EMU_BF16=0 runs them with bf16
# = float, as before. Exit status: non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(cd ../.. && pwd)
[ -f "$root/dev/cuda_emu/emu.h" ] || { echo "needs dev/cuda_emu (the CUDA emulation)" >&2; exit 1; }
out="$root/tmp/lab_emu"
mkdir -p "$out"
CXX=${CXX:-g++}
ops=${*:-"encoder_forward encoder_backward layernorm_forward layernorm_backward matmul_forward matmul_backward
          attention_forward attention_backward gelu fused_classifier adamw global_norm"}
bf16=$([ "${EMU_BF16:-1}" = 0 ] || echo -DEMU_BF16)
failed=""
for op in $ops; do
    if ! "$CXX" -std=c++20 -O1 -DLAB_EMU -DCUDA_EMU $bf16 -D_GNU_SOURCE -fopenmp -w \
            -I "$root/dev/cuda_emu/include" -include "$root/dev/cuda/emu/lab_emu.h" \
            -x c++ "$op.cu" -x none -o "$out/$op" -lm -pthread 2> "$out/$op.build.txt"; then
        echo "BUILD FAILED $op:"; head -20 "$out/$op.build.txt"; failed="$failed $op"; continue
    fi
    if stdbuf -oL "$out/$op" > "$out/$op.txt" 2>&1; then  # line-buffered: the log shows progress
        echo "OK   $op: $(grep -c '^OK' "$out/$op.txt") checks"
    else
        echo "FAIL $op:"; grep -v '^OK\|checked$' "$out/$op.txt" | tail -8; failed="$failed $op"
    fi
done
[ -z "$failed" ] || { echo "failed:$failed"; exit 1; }
echo "lab emulation: OK"
