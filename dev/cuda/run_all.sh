#!/usr/bin/env bash
# dev/cuda/run_all.sh: build and run every kernel-lab op, then print one table.
#
#   bash dev/cuda/run_all.sh [repeats]     (default 5; logs in dev/cuda/logs/)
#
# Each op validates every version at every block size against its CPU twin
# (and stops at the first mismatch), times each, and prints SUMMARY lines: per
# group (fp32, bf16; gelu's forward, backward, forward bf16, backward bf16),
# the fastest of our versions and its speed against the yardstick: cuBLASLt
# on the same operands for the matmuls (vs > 1: ours is faster), the measured
# device-to-device copy bandwidth for the memory-bound ops (vs = our GB/s /
# copy GB/s). Attention has no library yardstick here ("-"): read its % of
# peak.
# Environment: GPU_ARCH (default: the first GPU's compute capability).
# Without a GPU it says so and exits 0. Exits 1 if any op fails.
set -uo pipefail
cd "$(dirname "$0")"
repeats=${1:-5}
case "$repeats" in ''|*[!0-9]*) echo "usage: bash dev/cuda/run_all.sh [repeats]" >&2; exit 2;; esac

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
    echo "run_all: no NVIDIA GPU here (nvidia-smi finds none): nothing to run"
    exit 0
fi
ops="encoder_forward encoder_backward layernorm_forward layernorm_backward matmul_forward matmul_backward
     attention_forward attention_backward gelu fused_classifier adamw global_norm"
arch=${GPU_ARCH:-sm_$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d '. ')}
start=$(date +%s)
echo "building for $arch ..."
# -B: binaries built earlier may be for another architecture
make -s -B -j"$(nproc)" GPU_ARCH="$arch" || { echo "run_all: build failed" >&2; exit 1; }
built=$(date +%s)
mkdir -p logs
failed=""
for op in $ops; do
    t0=$(date +%s)
    if timeout 300 "./$op" 0 0 "$repeats" > "logs/$op.txt" 2>&1; then
        echo "ran $op ($(( $(date +%s) - t0 )) s)"
    else
        echo "FAILED $op (exit $?), its log ends:"
        tail -5 "logs/$op.txt"
        failed="$failed $op"
    fi
done
end=$(date +%s)

echo
head -2 logs/encoder_forward.txt 2>/dev/null
echo
fmt="%-19s %-13s %-38s %10s %14s %8s  %s\n"
printf "$fmt" "op" "group" "best version (block size)" "ms" "% of peak" "vs yard" "yardstick"
for op in $ops; do
    grep -h '^SUMMARY|' "logs/$op.txt" 2>/dev/null | while IFS='|' read -r _ o g best ms pct vs yard; do
        printf "$fmt" "$o" "$g" "$best" "$ms" "$pct" "$vs" "$yard"
    done
done
echo
echo "median of $repeats repeats, L2 flushed before each; build $(( built - start )) s, runs $(( end - built )) s"
echo "vs yard: cuBLASLt time / ours (matmuls), or our GB/s / measured copy GB/s (memory-bound ops)"
if [ -n "$failed" ]; then
    echo "FAILED:$failed (see dev/cuda/logs/)"
    exit 1
fi
