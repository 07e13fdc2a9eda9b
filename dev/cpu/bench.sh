#!/usr/bin/env bash
# dev/cpu/bench.sh: the CPU kernel lab's timings (`make bench-cpu`).
#
#   bash dev/cpu/bench.sh [threads]      (default 2)
#
# Measures this machine's SGEMM peak first, in the same run and with the same
# threads (OpenBLAS through PyTorch, 2048^3, the fastest of its kernel
# settings: dev/openblas_peak.sh, as dev/bench_cpu.sh does), passes it to the lab programs in PEAK_GFLOPS, and runs
# each at GPT-2 124M shapes: every version is checked against the plain loops
# first, then timed (min and median; GFLOP/s and % of that peak).
# Environment: PYTHON (default /usr/bin/python3, which needs torch); without it
# the timings run and the % of peak is left out.
set -euo pipefail
threads=${1:-2}
case "$threads" in ''|*[!0-9]*) echo "usage: bash dev/cpu/bench.sh [threads]" >&2; exit 2;; esac
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-/usr/bin/python3}
for p in matmul attention classifier; do
    [ -x "dev/cpu/$p" ] || { echo "dev/cpu/$p is not built (make bench-cpu builds it)" >&2; exit 1; }
done
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores," \
     "load average $(cut -d' ' -f1-3 /proc/loadavg)"
peak=""
if "$PYTHON" -c 'import torch' 2>/dev/null; then
    source dev/openblas_peak.sh  # the fastest of OpenBLAS's kernel settings
    openblas_settings
    best_peak "$threads"
    peak=$sgemm
    echo "OpenBLAS SGEMM 2048^3 GFLOP/s by kernel setting: $peak_line"
fi
echo "SGEMM peak (OpenBLAS, $threads threads, measured now): ${peak:-not measured (no torch)} GFLOP/s"
export PEAK_GFLOPS=${peak:-0} OMP_NUM_THREADS=$threads
echo
./dev/cpu/matmul 256 768 3072 5       # B*T = 4*64 tokens through the MLP's first layer
echo
./dev/cpu/attention 4 256 768 12 3    # 12 heads of 64, T = 256
echo
./dev/cpu/classifier 256 50257 5      # 256 tokens over GPT-2's vocabulary
