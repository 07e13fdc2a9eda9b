#!/usr/bin/env bash
# Tests of the bill (train_bill.h) through ./train: the bytes a run reports
# are the bytes it allocated (training, --prompt with and without the KV
# cache), the measured peak resident memory of a d6 run is the bill within
# 10% plus a fixed runtime allowance, the side-by-side table and the time
# table agree with their formulas, and bad --dry-run flags stop with a message.
#   bash test/test_bill.sh [path/to/train]
# Prints `OK|FAIL name` per case and an overall line; exits non-zero on failure.
set -u
TRAIN=${1:-./train}
[ -x "$TRAIN" ] || { echo "FAIL: $TRAIN not built"; exit 1; }
TMP=$(mktemp -d /tmp/test_bill.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
source "$(dirname "$0")/lib.sh"  # ok, bad, write_tokens, write_model
# what a process holds beyond the bill's tensors: the program, libc and
# OpenMP's threads and their stacks, the loader's buffers, page tables
ALLOWANCE_MIB=32

# expect_error NAME PATTERN -- CMD...: exit status 1 and PATTERN on stderr
expect_error() {
    local name=$1 pattern=$2; shift 3
    "$@" > "$TMP/out" 2> "$TMP/err"
    local rc=$?
    if [ $rc -ne 1 ]; then bad "$name (exit $rc, expected 1)"; head -5 "$TMP/err"; return; fi
    if ! grep -qiE -- "$pattern" "$TMP/err"; then bad "$name (message lacks /$pattern/)"; head -5 "$TMP/err"; return; fi
    ok "$name: $(head -1 "$TMP/err" | cut -c1-100)"
}
# allocated_is_bill NAME FILE: every "allocated X bytes, the bill Y bytes" line has X == Y
allocated_is_bill() {
    local lines; lines=$(grep -E 'allocated [0-9]+ bytes, the bill [0-9]+ bytes' "$2")
    if [ -n "$lines" ] && echo "$lines" | awk '{ for (i = 1; i < NF; i++) if ($i == "allocated") a = $(i + 1);
                                                 for (i = 1; i < NF; i++) if ($i == "bill") b = $(i + 1);
                                                 if (a != b) bad = 1 } END { exit bad }'; then
        ok "$1: $(echo "$lines" | head -1 | sed 's/.*: //')"
    else bad "$1"; grep memory "$2"; fi
}
# peak_near_bill NAME FILE: the peak resident memory is the bill's total within 10% + the allowance
peak_near_bill() {
    local line; line=$(grep -m1 'peak resident .* MiB (VmHWM), the bill' "$2")
    if [ -z "$line" ]; then bad "$1: no peak line"; tail -3 "$2"; return; fi
    local peak bill
    peak=$(echo "$line" | sed -E 's/.*peak resident ([0-9.]+) MiB.*/\1/')
    bill=$(echo "$line" | sed -E 's/.*the bill ([0-9.]+) MiB.*/\1/')
    if awk -v p="$peak" -v b="$bill" -v a="$ALLOWANCE_MIB" 'BEGIN { d = p - b; if (d < 0) d = -d; exit !(d <= 0.1 * b + a) }'; then
        ok "$1: peak resident $peak MiB, the bill $bill MiB (allowed: 10% + $ALLOWANCE_MIB MiB)"
    else bad "$1: peak resident $peak MiB, the bill $bill MiB, more than 10% + $ALLOWANCE_MIB MiB apart"; fi
}

write_model "$TMP/model.bin" 2 4 64 300 32
write_tokens "$TMP/train.bin" 2000 300
write_tokens "$TMP/val.bin" 500 300
perl -e 'open(my $f,">:raw",$ARGV[0]) or die; print $f pack("l<256",20240328,2,257,256,(0)x252);
         print $f pack("CC",1,$_) for 0..255; print $f pack("C",13),"<|endoftext|>"; close $f' "$TMP/bytes_tok.bin"

# ---- bytes reported == bytes allocated: training, and --prompt with and without the cache
"$TRAIN" -e "$TMP/model.bin" -i "$TMP/train.bin" -j "$TMP/val.bin" -k "$TMP/none" -b 2 -t 16 -x 2 -v 0 -g 0 \
    > "$TMP/run.out" 2>&1 && allocated_is_bill "training (CPU): allocated == bill" "$TMP/run.out" \
    || { bad "training run"; tail -5 "$TMP/run.out"; }
# LoRA: the run's allocation, and --dry-run's LoRA column (all targets), are lora_bill's
if "$TRAIN" -e "$TMP/model.bin" -i "$TMP/train.bin" -j "$TMP/val.bin" -k "$TMP/none" -b 2 -t 16 -x 2 -v 0 -g 0 \
        --lora 4 > "$TMP/lora.out" 2>&1 && grep -q 'memory (LoRA training)' "$TMP/lora.out"; then
    allocated_is_bill "LoRA training (CPU): allocated == bill" "$TMP/lora.out"
    lora_total=$(sed -n 's/^memory (LoRA training): allocated \([0-9]*\) bytes.*/\1/p' "$TMP/lora.out")
    "$TRAIN" -e "$TMP/model.bin" -k "$TMP/none" -b 2 -t 16 --lora 4 --dry-run > "$TMP/lora_dry.out" 2>&1
    column=$(awk -F'|' '/^\| CPU fp32/ { on = 1 } on && $2 ~ /^ *total *$/ { print $4; exit }' "$TMP/lora_dry.out" | tr -d ' ')
    want=$(awk -v b="$lora_total" 'BEGIN { printf "%.2fMiB", b / 1048576 }')
    [ "$column" = "$want" ] && ok "--dry-run --lora 4: the LoRA column's total is the run's allocation ($column)" \
        || bad "--dry-run --lora 4: LoRA column total '$column', the run allocated $want"
else bad "LoRA training run"; tail -5 "$TMP/lora.out"; fi
for cache in 1 0; do
    if "$TRAIN" -e "$TMP/model.bin" -k "$TMP/bytes_tok.bin" --prompt "To be" -g 40 --kv-cache $cache > "$TMP/gen$cache.out" 2>&1 \
        && grep -qE '^prefill: 5 tokens in .* tokens/s\); decode: 39 tokens in .* tokens/s\)$' "$TMP/gen$cache.out"; then
        allocated_is_bill "--prompt --kv-cache $cache: allocated == bill" "$TMP/gen$cache.out"
    else bad "--prompt --kv-cache $cache: prefill and decode tokens/s"; tail -4 "$TMP/gen$cache.out"; fi
done

# ---- measured: d6 (GPT-2's vocabulary), one training step, then --prompt on its checkpoint
write_tokens "$TMP/d6.bin" 1000 50257
if "$TRAIN" -e d6 --vocab 50257 -k "$TMP/none" -i "$TMP/d6.bin" -b 2 -t 32 -x 1 -v 0 -g 0 -o "$TMP/d6" \
        > "$TMP/d6.out" 2>&1; then
    allocated_is_bill "d6 training: allocated == bill" "$TMP/d6.out"
    peak_near_bill "d6 training (B=2, T=32)" "$TMP/d6.out"
else bad "d6 training run"; tail -5 "$TMP/d6.out"; fi
if "$TRAIN" -e "$TMP/d6/model_00000001.bin" -k "$TMP/bytes_tok.bin" --prompt "To be" -g 16 > "$TMP/d6g.out" 2>&1; then
    allocated_is_bill "d6 --prompt: allocated == bill" "$TMP/d6g.out"
    peak_near_bill "d6 --prompt (KV cache of maxT=1024)" "$TMP/d6g.out"
else bad "d6 --prompt"; tail -5 "$TMP/d6g.out"; fi

# ---- the side-by-side bill of GPT-2 124M: LoRA's trained parameters are the
# adapters' R (in + out) = 16 R C per layer; the inference KV cache is
# 2 L B T C floats; pre-training's FLOPs per token are 6 x the matmul weights
# + 12 L C T
"$TRAIN" -e d12 --vocab 50257 -k "$TMP/none" -b 4 -t 1024 --dry-run --tokens 1e9 --gpu "H100:80,RTX 4060 Laptop:8" \
    > "$TMP/dry" 2>&1 || { bad "--dry-run d12"; cat "$TMP/dry"; }
row() {  # row TABLE_TITLE_PATTERN ROW_NAME: that row's cells of the first table matching, |-separated
    awk -v t="$1" -v r="$2" -F'|' '$0 ~ t { on = 1 } on && $2 ~ "^ " r " *$" { print; exit }' "$TMP/dry"
}
lora=$(row "CPU fp32" "trained parameters" | awk -F'|' '{ gsub(/ /, "", $4); print $4 }')
[ "$lora" = $((12 * 16 * 8 * 768)) ] && ok "LoRA rank 8 of d12 trains 16 R C L = $lora parameters" \
    || bad "LoRA trained parameters: '$lora', expected $((12 * 16 * 8 * 768))"
kv=$(row "CPU fp32" "KV cache" | awk -F'|' '{ gsub(/^ +| +$/, "", $5); print $5 }')
[ "$kv" = "$(awk 'BEGIN { printf "%.2f MiB", 2 * 12 * 4 * 1024 * 768 * 4 / 1048576 }')" ] \
    && ok "KV cache of 4 x 1024 tokens: $kv = 2 L B T C floats" || bad "KV cache: '$kv'"
gkv=$(row "GPU bf16" "KV cache" | awk -F'|' '{ gsub(/^ +| +$/, "", $6); print $6 }')
[ "$gkv" = "$(awk 'BEGIN { printf "%.2f MiB", 2 * 12 * 4 * 1024 * 768 * 2 / 1048576 }')" ] \
    && ok "GPU KV cache in bf16: $gkv" || bad "GPU KV cache: '$gkv'"
fpt=$(row "CPU fp32" "FLOPs per token" | awk -F'|' '{ gsub(/ /, "", $3); print $3 }')
want=$(awk 'BEGIN { printf "%.4g", 6 * (50304 * 768 + 12 * 12 * 768 * 768) + 12 * 12 * 768 * 1024 }')
[ "$fpt" = "$want" ] && ok "training FLOPs per token: $fpt = 6 x matmul weights + 12 L C T" \
    || bad "training FLOPs per token '$fpt', expected $want"
# the time table: 1e9 tokens on an H100 at 40% of 989.4 TFLOP/s bf16
h100=$(grep -m1 '^| H100 (80 GiB), MFU 40%' "$TMP/dry" | awk -F'|' '{ gsub(/ /, "", $3); print $3 }')
want=$(awk -v f="$fpt" 'BEGIN { printf "%.3gmin", 1e9 * f / (0.4 * 989.4e12) / 60 }')
[ "$h100" = "$want" ] && ok "time of 1e9 tokens on an H100 at MFU 40%: $h100" || bad "H100 time '$h100', expected $want"
grep -qE '^\| RTX 4060 Laptop \(8 GiB\), MFU 40% +\| +[0-9.]+ (s|min|h|d|y) \| +[0-9.]+ (s|min|h|d|y) \|' "$TMP/dry" \
    && ok "d12 B=4 T=1024 pre-training and LoRA fit a laptop GPU's 8 GiB" || { bad "d12 on 8 GiB"; grep RTX "$TMP/dry"; }
"$TRAIN" -e d48 --vocab 50257 -k "$TMP/none" -b 4 -t 1024 --dry-run --gpu "RTX 4060 Laptop:8" > "$TMP/dry48" 2>&1
grep -qE '^\| RTX 4060 Laptop \(8 GiB\), MFU 40% +\| +does not fit \| +does not fit \|' "$TMP/dry48" \
    && ok "d48 pre-training and LoRA do not fit 8 GiB" || { bad "d48 on 8 GiB"; tail -5 "$TMP/dry48"; }
# ZeRO-1 over 4 ranks: the moments per rank are the largest shard's, about a
# quarter (shard r starts at N r / 4 rounded down to a multiple of 16)
m1=$(awk -F'|' '$2 ~ /AdamW moments/ { gsub(/ /, "", $3); print $3; exit }' "$TMP/dry")
"$TRAIN" -e d12 --vocab 50257 -k "$TMP/none" -b 4 -t 1024 --dry-run --ranks 4 --zero 1 > "$TMP/dryz" 2>&1
m4=$(awk -F'|' '$2 ~ /AdamW moments/ { gsub(/ /, "", $3); print $3; exit }' "$TMP/dryz")
largest=0
if [ -n "$m1" ]; then
    n=$(( m1 / 8 ))
    for r in 0 1 2 3; do
        lo=$(( n * r / 4 - n * r / 4 % 16 )); hi=$(( n * (r + 1) / 4 - n * (r + 1) / 4 % 16 ))
        [ $r = 3 ] && hi=$n
        [ $(( hi - lo )) -gt $largest ] && largest=$(( hi - lo ))
    done
fi
[ -n "$m1" ] && [ "$m4" = $(( largest * 8 )) ] && grep -q "per rank of 4: B=1, ZeRO-1" "$TMP/dryz" \
    && ok "--ranks 4 --zero 1: moments per rank $m4 of $m1 bytes, B=1 per rank" || bad "--ranks 4 --zero 1: '$m1' -> '$m4'"
# --measure: a few timed steps of the tiny model
if "$TRAIN" -e "$TMP/model.bin" -k "$TMP/none" -b 2 -t 16 --dry-run --tokens 1e6 --measure > "$TMP/meas" 2>&1 \
    && grep -qE '^\| this CPU, [0-9]+ threads .*\| +[0-9.]+ (s|min|h|d|y) \|' "$TMP/meas" \
    && grep -q "this CPU: measured training" "$TMP/meas"; then
    ok "--measure: $(grep -m1 'this CPU: measured' "$TMP/meas" | cut -c1-90)"
else bad "--measure"; tail -5 "$TMP/meas"; fi

# ---- bad input
expect_error "--gpu not in the peak table" "not in the peak table" -- "$TRAIN" -e d12 -k "$TMP/none" --dry-run --gpu "GTX 9999"
expect_error "--gpu naming no GPU" "names no GPU" -- "$TRAIN" -e d12 -k "$TMP/none" --dry-run --gpu ","
expect_error "--gpu with a bad memory size" "NAME:GiB" -- "$TRAIN" -e d12 -k "$TMP/none" --dry-run --gpu "H100:lots"
expect_error "--ranks that do not divide -b" "does not split" -- "$TRAIN" -e d12 -k "$TMP/none" --dry-run -b 4 --ranks 3
expect_error "--mfu out of range" "--mfu.*not a number in" -- "$TRAIN" -e d12 -k "$TMP/none" --dry-run --mfu 2
expect_error "--measure past this machine's memory" "more than this machine" -- "$TRAIN" -e d48 -k "$TMP/none" --dry-run -b 512 -t 1024 --measure

echo "$([ $fail = 0 ] && echo PASS || echo FAIL): $pass of $((pass + fail)) bill checks passed"
[ $fail = 0 ]
