#!/usr/bin/env bash
# dev/gpu_check.sh (make gpu-check): everything a GPU machine can check, in
# one command, in a few minutes (under 6 on an H100-class GPU):
#   1. builds ./train_gpu for this GPU
#   2. test/test_gpu in FP32 and in BF16 (the GPU against train.c)
#   3. dev/cuda/run_all.sh when it exists (builds the lab; each kernel against
#      its CPU twin, timed with 2 repeats to keep the whole under 6 minutes)
#   4. GPT-2 124M (d12, V 50257) at T=1024, bf16: B = 16, 32, 48, ... while
#      it fits in memory; tokens/s and MFU (the mean of the steps after the
#      first few, which include cuBLASLt's first-call setup)
# The benchmark trains on random tokens (no data files or network needed):
# the speed of a step does not depend on what the tokens are.
# Output: the terminal, and $OUT/gpu-check.txt (tmp/gpu-check.txt without OUT).
# Exit status: non-zero when a build or a test failed.
set -uo pipefail
cd "$(dirname "$0")/.."
out_dir="${OUT:-tmp}"
mkdir -p "$out_dir" tmp
report="$out_dir/gpu-check.txt"
: > "$report"
say() { echo "$*" | tee -a "$report"; }
failures=0
step() {  # step NAME COMMAND...: runs it, output to the report too, counts failures
    local name="$1"; shift
    say "== $name: $*"
    if "$@" 2>&1 | tee -a "$report"; then
        say "== $name: OK"
    else
        say "== $name: FAILED"
        failures=$((failures + 1))
    fi
}
start=$(date +%s)

if ! command -v nvidia-smi > /dev/null || ! nvidia-smi > /dev/null 2>&1; then
    say "gpu-check: no GPU visible (nvidia-smi); nothing to check here (make check-cuda compiles)"
    exit 1
fi
nvidia-smi --query-gpu=name,compute_cap,memory.total,driver_version --format=csv | tee -a "$report"
jobs=$(nproc 2> /dev/null || echo 4)

# 1. ./train_gpu for this GPU (the lab builds itself in 3.)
step "build train_gpu (bf16)" make -j "$jobs" train_gpu

# 2. the GPU against the CPU reference, both precisions
step "gpu-test FP32" make gpu-test PRECISION=FP32
step "gpu-test BF16" make gpu-test PRECISION=BF16

# 3. the kernel lab
if [ -f dev/cuda/run_all.sh ]; then
    step "dev/cuda/run_all.sh" bash dev/cuda/run_all.sh 2
else
    say "== dev/cuda/run_all.sh: not present, skipped"
fi

# 4. GPT-2 124M throughput. Random tokens below 50257 in a token shard
# (llm.c's format: 256 int32 header, magic 20240520, version 1, count).
shard=tmp/gpu_check_tokens.bin
ntok=$((256 * 1024 * 12 + 1))
perl -e 'my $n = $ARGV[0]; srand(1337);
         print pack("l<3", 20240520, 1, $n), pack("l<253", (0) x 253);
         print pack("S<*", map { int(rand(50257)) } 1 .. $n);' "$ntok" > "$shard"
say "== benchmark: GPT-2 124M (d12), T=1024, bf16, random tokens"
# mean over steps 4..N of a log's step lines: "... | ms X | tok/s Y | mfu Z% | ..."
summarize() {
    awk -F'|' '/^step / {
            split($1, s, /[ \/]+/); if (s[2] < 4) next;
            for (i = 1; i <= NF; i++) {
                if ($i ~ /^ ms /) { split($i, a, " "); ms += a[2] }
                if ($i ~ /^ tok\/s /) { split($i, a, " "); tk += a[2] }
                if ($i ~ /^ mfu /) { split($i, a, " "); sub("%", "", a[2]); mf += a[2] }
            }
            n++ }
         END { if (n > 0) printf "%12.0f %10.1f %7.1f%%", tk / n, ms / n, mf / n }' "$1"
}
# bench B LOG [FLAGS...]: 12 steps of GPT-2 124M at T=1024; 0 ran, 1 failed, 2 out of memory
bench() {
    local B="$1" log="$2"; shift 2
    if ./train_gpu -e d12 --vocab 50257 -b "$B" -t 1024 -x 12 -i "$shard" -v 0 -g 0 -s 0 \
        -l 1e-4 "$@" > "$log" 2>&1; then
        return 0
    fi
    grep -q "out of GPU memory" "$log" && return 2
    return 1
}
say "$(printf '%6s %12s %10s %8s' B tokens/s ms/step MFU)"
best=""
for B in 16 32 48 64 96 128 192 256; do
    log="tmp/gpu_check_b$B.log"
    bench "$B" "$log"
    rc=$?
    if [ "$rc" -eq 2 ]; then
        say "$(printf '%6d %s' "$B" '  does not fit in memory: stop')"
        break
    elif [ "$rc" -ne 0 ] || [ -z "$(summarize "$log")" ]; then
        say "$(printf '%6d %s' "$B" "  FAILED: $(tail -n 1 "$log")")"
        failures=$((failures + 1))
        break
    fi
    say "$(printf '%6d %s' "$B" "$(summarize "$log")")"
    best="$B"
done
[ -n "$best" ] && say "largest B that fits at T=1024: $best (logs: tmp/gpu_check_b*.log)"
# the same with --recompute 1 (layernorm and GELU outputs recomputed in the backward)
for B in 16 $best; do
    log="tmp/gpu_check_recompute_b$B.log"
    if bench "$B" "$log" --recompute 1 && [ -n "$(summarize "$log")" ]; then
        say "$(printf '%6d %s  (--recompute 1)' "$B" "$(summarize "$log")")"
    else
        say "$(printf '%6d %s' "$B" "  --recompute 1 FAILED: $(tail -n 1 "$log")")"
        failures=$((failures + 1))
    fi
    [ "$B" = "$best" ] && break
done
grep -m 1 "^GPU 0" tmp/gpu_check_b16.log 2> /dev/null | tee -a "$report"

say "gpu-check: $failures failure(s), $(( $(date +%s) - start )) s; report in $report"
[ "$failures" -eq 0 ]
