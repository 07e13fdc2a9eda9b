#!/usr/bin/env bash
# dev/gpu_check.sh (make gpu-check): everything a GPU machine can tell us, in
# one command that fits a short GPU loan: at most GPU_CHECK_DEADLINE seconds
# (default 480, 8 minutes) in all, each part under its own timeout, the report
# written as it goes, so that a run cut short still reports what it got.
#
#   bash dev/gpu_check.sh [OUT_DIR]     report: OUT_DIR/gpu-check.txt
#                                       (default $OUT, else tmp/)
# In order:
#   1. nvidia-smi
#   2. test_gpu FP32 and BF16: the GPU against train.c; each shape also runs
#      the matmuls with cuBLASLt's fused epilogues against the unfused path
#      (--gelu-fusion 0: plain products, separate bias and GELU kernels), and
#      the tiny-u shape runs the unfused path against train.c
#   3. compute-sanitizer memcheck, racecheck, synccheck, initcheck on
#      test_gpu's tiny shapes (BF16), when compute-sanitizer exists
#   4. GPT-2 124M (d12) bf16 at T=1024 on tinyshakespeare: B 16 and 32, and
#      B 16 with --recompute 1, and B 16 with --lora 8 (LoRA on the randomly
#      initialised model: the speed does not depend on the weights): tokens/s,
#      ms/step and MFU (LoRA's MFU counts LoRA's FLOPs; the mean over the
#      steps after the first few, which include cuBLASLt's first calls)
#   5. a per-kernel time table of one step (TRAIN_GPU_PROFILE: CUDA events
#      between the launcher calls of the B 16 run's last step)
#   6. each kernel-lab op once: every version validated against its CPU twin
#      at its shape, one timing repeat
# Binaries: those of make gpu-build (build/gpu/, built on any machine with
# nvcc and carried here) when present and built for this GPU's architecture;
# what is missing is built here (warnings not fatal: a foreign toolchain may
# warn where ours does not). Data: data/tinyshakespeare/gpt2_*.bin (make data,
# carried with build/gpu/), else made here by make data when it can be, else
# random tokens (said so in the report: the speed does not depend on them).
# Without a GPU: says so and exits 0 in a second or two.
# Exit status: non-zero when a part failed.
set -uo pipefail
cd "$(dirname "$0")/.."
out_dir="${1:-${OUT:-tmp}}"
mkdir -p "$out_dir" tmp
report="$out_dir/gpu-check.txt"
: > "$report"
start=$(date +%s)
deadline=$((start + ${GPU_CHECK_DEADLINE:-480}))
say() { echo "$*" | tee -a "$report"; }
failures=0

if ! command -v nvidia-smi > /dev/null 2>&1 || ! nvidia-smi -L > /dev/null 2>&1; then
    say "gpu-check: no NVIDIA GPU here (nvidia-smi finds none): nothing to run. On a GPU machine,"
    say "  after make gpu-build here and build/gpu/ + data/ carried there: make gpu-check"
    exit 0
fi

# part NAME CAP_SECONDS LOG COMMAND...: runs COMMAND under a timeout of CAP
# or what is left before the deadline; its output into the report as it
# comes (LOG -), or into the file LOG with its last lines in the report when
# it fails
part() {
    local name="$1" cap="$2" log="$3"; shift 3
    local left=$((deadline - $(date +%s) - 5))
    if [ "$left" -lt 10 ]; then
        say "== $name: SKIPPED (the ${GPU_CHECK_DEADLINE:-480} s deadline is reached)"
        return 2
    fi
    [ "$cap" -gt "$left" ] && cap=$left
    say "== $name (timeout ${cap} s): $*"
    local t0 rc
    t0=$(date +%s)
    if [ "$log" = - ]; then
        timeout --kill-after=5 "$cap" "$@" 2>&1 | tee -a "$report"
        rc=${PIPESTATUS[0]}
    else
        timeout --kill-after=5 "$cap" "$@" > "$log" 2>&1
        rc=$?
        [ "$rc" -ne 0 ] && tail -n 5 "$log" | sed 's/^/    /' | tee -a "$report"
    fi
    if [ "$rc" -eq 0 ]; then
        say "== $name: OK ($(( $(date +%s) - t0 )) s)"
    elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        say "== $name: TIMED OUT after $cap s"
        failures=$((failures + 1))
    else
        say "== $name: FAILED (exit $rc, $(( $(date +%s) - t0 )) s)"
        failures=$((failures + 1))
    fi
    return "$rc"
}

# 1. the GPU
say "gpu-check: $(date -u '+%Y-%m-%d %H:%M UTC'), deadline ${GPU_CHECK_DEADLINE:-480} s"
part "nvidia-smi" 20 - nvidia-smi
nvidia-smi --query-gpu=name,compute_cap,memory.total,driver_version --format=csv,noheader 2>&1 |
    sed 's/^/gpu: /' | tee -a "$report"
cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -n 1 | tr -d ' .')

# the binaries: gpu-build's when they run here (built for this GPU's
# architecture, their libraries found, the driver new enough for the CUDA
# they were built with: test_gpu --device), else built here
usable() { [ -x "$1" ] && ! ldd "$1" 2> /dev/null | grep -q "not found" && "$1" --device > /dev/null 2>&1; }
bin=${GPU_BUILD:-build/gpu}  # make gpu-build GPU_BUILD=... puts them elsewhere
if [ ! -f "$bin/ARCHS" ] || ! grep -qw "$cap" "$bin/ARCHS" || ! usable "$bin/test_gpu_bf16"; then
    say "binaries: $bin/ has none that run here (ARCHS: $(cat "$bin/ARCHS" 2> /dev/null || echo none);" \
        "$( [ -x "$bin/test_gpu_bf16" ] && { ldd "$bin/test_gpu_bf16" | grep "not found"; "$bin/test_gpu_bf16" --device; } 2>&1 | tail -n 2 | tr '\n' ' ')): building for sm_$cap"
    bin=build/gpu-sm_$cap
fi
jobs=$(nproc 2> /dev/null || echo 4)
for b in train_gpu_bf16 train_gpu_fp32 test_gpu_bf16 test_gpu_fp32; do
    if [ ! -x "$bin/$b" ]; then
        part "build $bin/$b" 300 - make -j "$jobs" "$bin/$b" GPU_BUILD="$bin" GPU_ARCHS="$cap" NVCC_WARN= || true
    fi
done
say "binaries: $bin/ (sm_$(sed 's/ /, sm_/g' "$bin/ARCHS" 2> /dev/null || echo "$cap"))"
usable "$bin/test_gpu_bf16" || say "binaries: $bin/test_gpu_bf16 cannot use this GPU either; the parts below will fail"

# 2. the GPU against train.c, fused and unfused epilogues
part "test_gpu FP32" 150 - "$bin/test_gpu_fp32"
part "test_gpu BF16" 150 - "$bin/test_gpu_bf16"

# 3. compute-sanitizer on the tiny shapes (fused and unfused)
sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2> /dev/null || true)
if [ -n "$sanitizer" ]; then
    for tool in memcheck racecheck synccheck initcheck; do
        part "compute-sanitizer --tool $tool" 60 - "$sanitizer" --tool "$tool" --error-exitcode 1 \
            "$bin/test_gpu_bf16" tiny tiny-u
    done
else
    say "== compute-sanitizer: not found on this machine, skipped"
fi

# 4. and 5. GPT-2 124M on real text
shards=data/tinyshakespeare/gpt2_train_000.bin
if [ ! -f "$shards" ]; then
    part "make data (tinyshakespeare shards)" 60 - make data || true
fi
if [ -f "$shards" ]; then
    train_pat='data/tinyshakespeare/gpt2_train_*.bin'
    say "data: tinyshakespeare ($train_pat)"
else
    # llm.c's shard format: 256 int32 header (magic 20240520, version 1, count), uint16 tokens
    train_pat=tmp/gpu_check_tokens.bin
    perl -e 'my $n = 32 * 1024 * 20 + 1; srand(1337);
             print pack("l<3", 20240520, 1, $n), pack("l<253", (0) x 253);
             print pack("S<*", map { int(rand(50257)) } 1 .. $n);' > "$train_pat"
    say "data: NO tinyshakespeare shards (make data failed): random tokens in $train_pat"
fi
steps=20
# mean over steps 5..steps-1 of a log's step lines "... | ms X | tok/s Y | mfu Z% | ..."
# (the last step may be profiled: events between its launches)
summarize() {
    awk -F'|' -v last="$steps" '/^step / {
            split($1, s, /[ \/]+/); if (s[2] < 5 || s[2] >= last) next;
            for (i = 1; i <= NF; i++) {
                if ($i ~ /^ ms /) { split($i, a, " "); ms += a[2] }
                if ($i ~ /^ tok\/s /) { split($i, a, " "); tk += a[2] }
                if ($i ~ /^ mfu /) { split($i, a, " "); sub("%", "", a[2]); mf += a[2] }
            }
            n++ }
         END { if (n > 0) printf "%12.0f %10.1f %7.1f%%", tk / n, ms / n, mf / n }' "$1"
}
bench() {  # bench NAME B LOG [FLAGS...]: steps of GPT-2 124M at T=1024, bf16
    local name="$1" B="$2" log="$3"; shift 3
    part "$name" 90 "$log" "$bin/train_gpu_bf16" -e d12 --vocab 50257 -b "$B" -t 1024 \
        -x "$steps" -i "$train_pat" -v 0 -g 0 -s 0 -l 1e-4 "$@"
}
say "== GPT-2 124M (d12), T=1024, bf16; logs in tmp/gpu_check_*.log"
TRAIN_GPU_PROFILE=$steps bench "124M B=16 (profile of step $steps)" 16 tmp/gpu_check_b16.log
bench "124M B=32" 32 tmp/gpu_check_b32.log
bench "124M B=16 --recompute 1" 16 tmp/gpu_check_b16_recompute.log --recompute 1
bench "124M B=16 --lora 8" 16 tmp/gpu_check_b16_lora.log --lora 8
say "$(printf '%-24s %12s %10s %8s' run tokens/s ms/step MFU)"
for r in b16:"B=16" b32:"B=32" b16_recompute:"B=16 --recompute 1" b16_lora:"B=16 --lora 8"; do
    log="tmp/gpu_check_${r%%:*}.log"
    line=$(summarize "$log" 2> /dev/null)
    if [ -n "$line" ]; then
        say "$(printf '%-24s %s' "${r#*:}" "$line")"
    else
        say "$(printf '%-24s %s' "${r#*:}" "no step lines: $(tail -n 1 "$log" 2> /dev/null)")"
    fi
done
grep -h -m 1 "^GPU 0" tmp/gpu_check_b16.log 2> /dev/null | tee -a "$report"
grep -h "^attention:\|^matmuls:" tmp/gpu_check_b16.log 2> /dev/null | tee -a "$report"
say "== per-kernel time of step $steps (B=16, T=1024, bf16):"
grep -h "^profile" tmp/gpu_check_b16.log 2> /dev/null | tee -a "$report"

# 6. the kernel lab: each op once (all versions validated, one timing repeat)
lab=$bin/lab
if [ ! -x "$lab/gelu" ]; then
    part "build the lab" 240 - make -j "$jobs" -C dev/cuda BIN="$(pwd)/$lab" ARCH_FLAGS="-arch=sm_$cap" \
        NVCC_FLAGS="-O3 -std=c++17 -arch=sm_$cap -lineinfo -Xcompiler -fopenmp" || true
fi
for op in encoder_forward encoder_backward layernorm_forward layernorm_backward matmul_forward \
          matmul_backward attention_forward attention_backward gelu fused_classifier adamw global_norm; do
    part "lab $op" 45 "tmp/gpu_check_lab_$op.log" "$lab/$op" 0 0 1
    grep -h "^SUMMARY" "tmp/gpu_check_lab_$op.log" 2> /dev/null | tee -a "$report"
done

say "gpu-check: $failures failure(s), $(( $(date +%s) - start )) s; report in $report"
[ "$failures" -eq 0 ]
