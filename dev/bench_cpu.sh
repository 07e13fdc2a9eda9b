#!/usr/bin/env bash
# ./train against PyTorch on this CPU, same model, batch and thread count, in one run.
#
#   bash dev/bench_cpu.sh [threads] [steps]        (defaults 2 and 6; `make bench-train`)
#
# For each shape (d12 = GPT-2 124M at B 4, T 64; d6 at B 8, T 256) it writes a
# random token shard, times steps+1 full training steps (forward, backward, grad
# clip, AdamW) of ./train and then of dev/bench_torch.py, drops the first step of
# each (allocation, page faults, cold caches), and prints min and median ms per
# step, tokens/s, and ours/torch (median; below 1 means ./train is faster).
# Environment: PYTHON (default /usr/bin/python3, which needs torch and numpy).
#
# dev/bench_torch.py sets the thread count and OpenBLAS's kernels for PyTorch
# (see its docstring: OpenBLAS 0.3.21 misreads CPUs behind a hypervisor and
# falls back to kernels ~8x slower); we add OMP_WAIT_POLICY=PASSIVE, without
# which PyTorch's OpenMP threads spin and take the cores from OpenBLAS's threads.
set -euo pipefail

threads=${1:-2}
steps=${2:-6}
PYTHON=${PYTHON:-/usr/bin/python3}
case "$threads$steps" in *[!0-9]*) echo "usage: bash dev/bench_cpu.sh [threads] [steps]" >&2; exit 2;; esac
if [ "$threads" -lt 1 ] || [ "$steps" -lt 1 ]; then
    echo "threads and steps must be at least 1" >&2; exit 2
fi

cd "$(dirname "$0")/.."
if ! "$PYTHON" -c 'import torch, numpy' 2>/dev/null; then
    echo "$PYTHON cannot import torch and numpy (Debian: apt-get install python3-torch python3-numpy)" >&2
    exit 1
fi
have_train=1
if [ ! -x ./train ]; then
    echo "warning: ./train not found (make train); timing PyTorch only" >&2
    have_train=0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

V=50257
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores," \
     "load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "threads $threads, steps $steps timed (+1 dropped)"
# the yardstick, measured in this run: OpenBLAS SGEMM (2048^3) on the same threads
peak=$(OMP_WAIT_POLICY=PASSIVE "$PYTHON" dev/bench_torch.py --peak --threads "$threads" \
       | sed -n 's/^peak_gflops //p')
echo "machine peak (OpenBLAS SGEMM, $threads threads): ${peak:--} GFLOP/s"

# write_shard FILE NTOKENS: llm.c's token file, header int32[256] = {20240520, 1,
# ntokens, 0...}, then ntokens uint16 tokens drawn uniformly from [0, V).
write_shard() {
    "$PYTHON" - "$1" "$2" "$V" <<'EOF'
import sys
import numpy as np
path, n, V = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
header = np.zeros(256, dtype="<i4")
header[:3] = [20240520, 1, n]
tokens = np.random.default_rng(1).integers(0, V, size=n, dtype=np.int64).astype("<u2")
with open(path, "wb") as f:
    f.write(header.tobytes())
    f.write(tokens.tobytes())
EOF
}

# stats FILE: "min median" of the ms values in FILE (one per line), or "- -".
stats() {
    "$PYTHON" - "$1" <<'EOF'
import statistics, sys
v = [float(x) for x in open(sys.argv[1]).read().split()]
print(f"{min(v):.1f} {statistics.median(v):.1f}" if v else "- -")
EOF
}

rows=()
# name preset L NH C B T
for shape in "d12 12 12 768 4 64" "d6 6 6 384 8 256"; do
    read -r name L NH C B T <<< "$shape"
    shard="$tmp/${name}_tokens.bin"
    write_shard "$shard" $(( (steps + 8) * B * T + 1 ))

    ours="- -"
    flops="-"
    if [ "$have_train" = 1 ]; then
        echo "== $name (L $L NH $NH C $C) B $B T $T: ./train" >&2
        if OMP_NUM_THREADS=$threads ./train -e "$name" --vocab $V -b "$B" -t "$T" -i "$shard" -j "$shard" \
                -x $(( steps + 1 )) -v 0 -s 0 -g 0 -n 0 -l 3e-4 --seed 1 > "$tmp/train.out" 2> "$tmp/train.err"; then
            # step lines look like "step 3/10 | loss ... | ms 1234.5 | tok/s ..."; drop the first
            grep '^step ' "$tmp/train.out" | tail -n +2 \
                | sed -n 's/.*| *ms \([0-9.eE+-]*\).*/\1/p' > "$tmp/train.ms" || true
            ours=$(stats "$tmp/train.ms")
            # the bill's "FLOPs per step" row: 6N + 12LCT per token (same model for both)
            flops=$(sed -n 's/^| FLOPs per step *| *\([0-9.eE+-]*\) .*/\1/p' "$tmp/train.out")
            [ -n "$flops" ] || flops="-"
            [ "$ours" = "- -" ] && echo "warning: no step timings in ./train's output" >&2
        else
            echo "warning: ./train failed for $name; its stderr ends:" >&2
            tail -5 "$tmp/train.err" >&2
        fi
    fi

    echo "== $name: PyTorch" >&2
    OMP_WAIT_POLICY=PASSIVE "$PYTHON" dev/bench_torch.py --preset "$name" -B "$B" -T "$T" \
        --threads "$threads" --steps "$steps" --warmup 1 > "$tmp/torch.out"
    head -1 "$tmp/torch.out" >&2
    torch=$(sed -n 's/^torch min_ms \([0-9.]*\) median_ms \([0-9.]*\)$/\1 \2/p' "$tmp/torch.out")
    [ -n "$torch" ] || torch="- -"
    rows+=("$name $L $NH $C $B $T $ours $torch $flops ${peak:--}")
done

echo
"$PYTHON" - "${rows[@]}" <<'EOF'
import sys
def num(s):
    return None if s == "-" else float(s)
hdr = ("shape", "B", "T", "ours min", "ours med", "torch min", "torch med",
       "ours/torch", "ours tok/s", "torch tok/s", "ours %peak", "torch %peak")
fmt = "%-16s %3s %4s %9s %9s %9s %9s %10s %10s %11s %10s %11s"
print(fmt % hdr)
for row in sys.argv[1:]:
    name, L, NH, C, B, T, omin, omed, tmin, tmed, flops, peak = row.split()
    omin, omed, tmin, tmed, flops, peak = map(num, (omin, omed, tmin, tmed, flops, peak))
    tokens = int(B) * int(T)
    f = lambda x, fmt: "-" if x is None else fmt % x
    ratio = omed / tmed if omed and tmed else None
    # fraction of the peak reached over the whole step, at the median step time
    frac = lambda ms: flops / (ms / 1e3) / (peak * 1e9) * 100 if ms and flops and peak else None
    print(fmt % (
        f"{name} L{L} C{C}", B, T, f(omin, "%.1f"), f(omed, "%.1f"), f(tmin, "%.1f"),
        f(tmed, "%.1f"), f(ratio, "%.2f"),
        f(omed and tokens / omed * 1e3, "%.0f"), f(tmed and tokens / tmed * 1e3, "%.0f"),
        f(frac(omed), "%.0f%%"), f(frac(tmed), "%.0f%%")))
print("ms per full training step (fwd + bwd + clip + AdamW); ours/torch from the medians;")
print("%peak: the bill's FLOPs per step (6N + 12LCT per token) / median step time / SGEMM peak")
EOF
