#!/usr/bin/env bash
# ./train against PyTorch on this CPU, same model, batch and thread count, in one run.
#
#   bash dev/bench_cpu.sh [threads...]        (default: 1 2; `make bench-train`)
#   STEPS=6 bash dev/bench_cpu.sh 2
#
# For each thread count it measures the yardsticks first: OpenBLAS's SGEMM
# (2048^3, through PyTorch) with each of OpenBLAS's kernel settings: its own
# choice (OPENBLAS_CORETYPE unset), the environment's OPENBLAS_CORETYPE when
# one is set, and the kernels named from /proc/cpuinfo (dev/openblas_peak.sh).
# The fastest is the SGEMM peak, and PyTorch's steps and the matmul lab below
# run with it. Then, from ./train --profile,
# the FMA peak of ./train's register tile and a memory bandwidth (y += x).
# Then for each shape (d12 = GPT-2 124M at B 4,
# T 64; d6 at B 8, T 256; d12 at B 1, T 1024) it writes a random token shard,
# times STEPS+1 full training steps (forward, backward, clip, AdamW) of
# ./train --profile and of dev/bench_torch.py, drops the first step of each,
# and prints min and median ms per step, ours/torch, tokens/s and the share of
# the SGEMM peak over the whole step (the bill's FLOPs / median step time).
# ./train's per-operation tables follow the summary.
# With threads 1 and 2, a table per shape of what the second thread bought per
# operation. Then the matmul alone against OpenBLAS's cblas_sgemm
# (dev/cpu/matmul_openblas), per thread count, at d12's and at d6's widths. MPI=1 adds 1 process x 2
# threads against 2 MPI ranks x 1 thread (dev/bench_mpi.sh) for the shapes
# whose batch splits over two ranks.
# Environment: PYTHON (default /usr/bin/python3, which needs torch and numpy),
# STEPS (default 5), MPI.
#
# dev/bench_torch.py sets the thread count and OpenBLAS's kernels for PyTorch;
# we add OMP_WAIT_POLICY=PASSIVE, without which PyTorch's OpenMP threads spin
# and take the cores from OpenBLAS's threads. ./train runs with OpenMP's
# default (OMP_WAIT_POLICY unset, as a user runs it: its threads spin at a
# barrier before they sleep; with PASSIVE each barrier puts the waiting thread
# to sleep, and on a 2-core Zen 5 VM the step ran about 6% slower), and the
# matmul lab with OpenMP's default too but GOMP_SPINCOUNT=100000, so that
# ours' threads sleep soon after each call, as OpenBLAS's do.
# PyTorch runs with glibc's malloc told to keep freed memory (malloc_keep
# below). By default it hands every large block back to the kernel when it
# is freed and maps fresh pages for the next, which the kernel must fault in
# and zero: PyTorch frees and allocates its large temporaries (AdamW's, the
# gradients' zeroing) every step, and on a 2-core Zen 5 VM its d12 B 4 T 64
# step on 2 threads ran 4x slower that way (5341 against 1334 ms, medians of
# 3). ./train allocates its tensors once, and ran 1.3-1.9x slower with the
# setting, so it runs without it: its tensors then come from the heap, where
# calloc writes them before util.h's madvise asks for 2 MiB pages, and a d12
# run held 16 MiB of huge pages instead of 2.3 GiB.
set -euo pipefail

threads_list=${*:-1 2}
steps=${STEPS:-5}
PYTHON=${PYTHON:-/usr/bin/python3}
for n in $threads_list $steps; do
    case "$n" in ''|*[!0-9]*|0) echo "usage: [STEPS=N] bash dev/bench_cpu.sh [threads...]" >&2; exit 2;; esac
done

cd "$(dirname "$0")/.."
if ! "$PYTHON" -c 'import torch, numpy' 2>/dev/null; then
    echo "$PYTHON cannot import torch and numpy (Debian: apt-get install python3-torch python3-numpy)" >&2
    exit 1
fi
[ -x ./train ] || { echo "./train not found (make train)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

V=50257
flags=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -xE 'avx2|fma|avx512f' | tr '\n' ' ')
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores," \
     "flags: ${flags:-none of avx2 fma avx512f}, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "./train: matmul built for $(grep -q avx512f /proc/cpuinfo && echo 'AVX-512 (12 x 32 tile)' || echo 'AVX2 (6 x 16 tile)') by -march=native; steps $steps timed (+1 dropped)"
# with_core, malloc_keep, openblas_settings, best_peak
source dev/openblas_peak.sh
openblas_settings
if [ -z "$core_auto" ]; then
    echo "warning: PyTorch does not run on OpenBLAS here (no 'Core:' line); install libopenblas0-pthread" \
         "(Debian's reference BLAS is far slower and would flatter ./train)" >&2
fi
echo "PyTorch's BLAS: OpenBLAS; its own choice of kernels here: ${core_auto:-unknown};" \
     "the environment's OPENBLAS_CORETYPE: ${env_core:-unset}; named from cpuinfo: ${core_cpu:-none}"

# write_shard FILE NTOKENS: llm.c's token file, header int32[256] = {20240520, 1,
# ntokens, 0...}, then ntokens uint16 tokens drawn uniformly from [0, V).
write_shard() {
    "$PYTHON" - "$1" "$2" "$V" <<'PY'
import sys
import numpy as np
path, n, V = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
header = np.zeros(256, dtype="<i4")
header[:3] = [20240520, 1, n]
tokens = np.random.default_rng(1).integers(0, V, size=n, dtype=np.int64).astype("<u2")
with open(path, "wb") as f:
    f.write(header.tobytes())
    f.write(tokens.tobytes())
PY
}

# stats FILE: "min median" of the ms values in FILE (one per line), or "- -".
stats() {
    "$PYTHON" - "$1" <<'PY'
import statistics, sys
v = [float(x) for x in open(sys.argv[1]).read().split()]
print(f"{min(v):.1f} {statistics.median(v):.1f}" if v else "- -")
PY
}

rows=()
declare -A best_core  # per thread count: the setting with the fastest SGEMM
: > "$tmp/profiles"
for threads in $threads_list; do
    best_peak "$threads"
    best_core[$threads]=$best
    echo "threads $threads: OpenBLAS SGEMM 2048^3 GFLOP/s by kernel setting: $peak_line;" \
         "PyTorch and the matmul lab run with the fastest ($best)"
    # name L NH C B T (presets of ./train and dev/bench_torch.py)
    for shape in "d12 12 12 768 4 64" "d6 6 6 384 8 256" "d12 12 12 768 1 1024"; do
        read -r name L NH C B T <<< "$shape"
        shard="$tmp/${name}_${B}_${T}.bin"
        [ -f "$shard" ] || write_shard "$shard" $(( (steps + 8) * B * T + 1 ))
        echo "== threads $threads, $name B $B T $T: ./train" >&2
        ours="- -" flops="-" fma="-" copy="-"
        if env -u OMP_WAIT_POLICY OMP_NUM_THREADS="$threads" ./train -e "$name" --vocab $V -b "$B" -t "$T" \
                -i "$shard" -j "$shard" -x $(( steps + 1 )) -v 0 -s 0 -g 0 -n 0 --seed 1 --profile \
                > "$tmp/train.out" 2> "$tmp/train.err"; then
            grep '^step ' "$tmp/train.out" | tail -n +2 \
                | sed -n 's/.*| *ms \([0-9.eE+-]*\).*/\1/p' > "$tmp/train.ms" || true
            ours=$(stats "$tmp/train.ms")
            flops=$(sed -n 's/^| FLOPs per step *| *\([0-9.eE+-]*\) .*/\1/p' "$tmp/train.out")
            fma=$(sed -n 's/.*FMA peak \([0-9.]*\) GFLOP.*/\1/p' "$tmp/train.out")
            copy=$(sed -n 's/.*stream y += x \([0-9.]*\) GB\/s.*/\1/p' "$tmp/train.out")
            { echo "threads $threads, $name B $B T $T:"; sed -n '/^profile:/,/^whole step/p' "$tmp/train.out"; echo; } \
                >> "$tmp/profiles"
        else
            echo "warning: ./train failed for $name; its stderr ends:" >&2
            tail -5 "$tmp/train.err" >&2
        fi
        echo "== threads $threads, $name B $B T $T: PyTorch" >&2
        with_core "$best" env "${malloc_keep[@]}" OMP_WAIT_POLICY=PASSIVE "$PYTHON" dev/bench_torch.py --preset "$name" -B "$B" -T "$T" \
            --threads "$threads" --coretype auto --steps "$steps" --warmup 1 > "$tmp/torch.out"
        torch=$(sed -n 's/^torch min_ms \([0-9.]*\) median_ms \([0-9.]*\)$/\1 \2/p' "$tmp/torch.out")
        [ -n "$torch" ] || torch="- -"
        rows+=("$threads $name $B $T $ours $torch ${flops:--} ${sgemm:--} ${fma:--} ${copy:--}")
    done
done

echo
"$PYTHON" - "${rows[@]}" <<'PY'
import sys
def num(s):
    return None if s in ("-", "") else float(s)
hdr = ("thr", "shape", "B", "T", "ours min", "ours med", "torch min", "torch med", "ours/torch",
       "ours tok/s", "torch tok/s", "ours %sgemm", "torch %sgemm", "sgemm", "fma", "stream GB/s")
fmt = "%3s %-5s %2s %5s %9s %9s %9s %9s %10s %10s %11s %11s %12s %6s %6s %11s"
print(fmt % hdr)
for row in sys.argv[1:]:
    thr, name, B, T, omin, omed, tmin, tmed, flops, sgemm, fma, copy = row.split()
    omin, omed, tmin, tmed, flops, sgemm, fma, copy = map(num, (omin, omed, tmin, tmed, flops, sgemm, fma, copy))
    tokens = int(B) * int(T)
    f = lambda x, fmt: "-" if x is None else fmt % x
    ratio = omed / tmed if omed and tmed else None
    frac = lambda ms: flops / (ms / 1e3) / (sgemm * 1e9) * 100 if ms and flops and sgemm else None
    print(fmt % (thr, name, B, T, f(omin, "%.1f"), f(omed, "%.1f"), f(tmin, "%.1f"),
                 f(tmed, "%.1f"), f(ratio, "%.2f"), f(omed and tokens / omed * 1e3, "%.0f"),
                 f(tmed and tokens / tmed * 1e3, "%.0f"), f(frac(omed), "%.0f%%"),
                 f(frac(tmed), "%.0f%%"), f(sgemm, "%.0f"), f(fma, "%.0f"), f(copy, "%.1f")))
print("ms per full training step (fwd + bwd + clip + AdamW); ours/torch from the medians;")
print("%sgemm: the bill's FLOPs per step / median step time / OpenBLAS's SGEMM 2048^3 rate on the")
print("same threads (sgemm, GFLOP/s); fma: ./train's register tile on data in L1 (GFLOP/s);")
print("stream: y += x over 64 MiB (bytes read + written), both measured by ./train --profile")
PY
echo
echo "./train --profile, per operation:"
cat "$tmp/profiles"

# with 1 and 2 threads: per operation, what the second thread bought and what
# it lost (to barriers, imbalance, memory bandwidth): 2-thread ms - 1-thread ms / 2
"$PYTHON" - "$tmp/profiles" <<'PY'
import re, sys
tables, key = {}, None
for line in open(sys.argv[1]):
    m = re.match(r"threads (\d+), (\S+ B \d+ T \d+):", line)
    if m:
        key = (int(m.group(1)), m.group(2))
        tables[key] = {}
        continue
    cells = [c.strip() for c in line.split("|")]
    if key and len(cells) > 3 and re.match(r"^[0-9.]+$", cells[2]):
        tables[key][cells[1]] = float(cells[2])
shapes = sorted({s for _, s in tables}, key=lambda s: list(tables).index((min(t for t, x in tables if x == s), s)))
for shape in shapes:
    if (1, shape) not in tables or (2, shape) not in tables:
        continue
    one, two = tables[(1, shape)], tables[(2, shape)]
    print(f"\nthreads 1 -> 2, {shape}: ms per step; lost = ms(2) - ms(1)/2 (waiting, imbalance, bandwidth)")
    print("%-20s %10s %10s %8s %9s" % ("operation", "1 thread", "2 threads", "speedup", "lost ms"))
    for op in one:
        a, b = one[op], two.get(op, 0.0)
        if a < 0.05 and b < 0.05:
            continue
        print("%-20s %10.1f %10.1f %8s %9.1f" % (op, a, b, "%.2fx" % (a / b) if b > 0 else "-", b - a / 2))
    ta, tb = sum(one.values()), sum(two.values())
    print("%-20s %10.1f %10.1f %8s %9.1f" % ("whole step", ta, tb, "%.2fx" % (ta / tb), tb - ta / 2))
PY

# the matmul alone against OpenBLAS's cblas_sgemm called directly, same threads,
# alternating in one process (dev/cpu/matmul_openblas: the five linear shapes,
# the three products; then attention's six products at T 1024): d12's
# shapes at 256 rows (B 4 T 64), then d6's (C 384) at 2048 rows (B 8 T 256);
# OpenBLAS with the kernel setting that won the SGEMM yardstick above
if [ -x dev/cpu/matmul_openblas ]; then
    for threads in $threads_list; do
        for lab in "256 1024 21 768" "2048 1024 9 384"; do
            echo
            # (word splitting of $lab: the lab's four arguments)
            # shellcheck disable=SC2086
            with_core "${best_core[$threads]:-own}" env -u OMP_WAIT_POLICY OMP_NUM_THREADS="$threads" GOMP_SPINCOUNT=100000 \
                ./dev/cpu/matmul_openblas $lab \
                || echo "dev/cpu/matmul_openblas failed or found no OpenBLAS (exit $?)"
        done
    done
else
    echo; echo "dev/cpu/matmul_openblas is not built (make bench builds it): no matmul-against-OpenBLAS table"
fi

# MPI=1: 1 process x 2 threads against 2 ranks x 1 thread (dev/bench_mpi.sh),
# for the shapes whose batch splits over 2 ranks
if [ "${MPI:-0}" = 1 ]; then
    for shape in "d12 4 64" "d6 8 256"; do
        read -r name B T <<< "$shape"
        echo
        bash dev/bench_mpi.sh "$name" "$B" "$T" 2 2
    done
fi
