#!/usr/bin/env bash
# Tests of ./train as a program: bad input gets a clear message and a non-zero
# exit (never a crash), --dry-run, -h, checkpoints, and resuming through the
# command line gives the same log lines as a run that never stopped.
#   bash test/test_cli.sh [path/to/train]
# Prints `OK|FAIL name` per case and an overall line; exits non-zero on failure.
set -u
TRAIN=${1:-./train}
[ -x "$TRAIN" ] || { echo "FAIL: $TRAIN not built"; exit 1; }
TMP=$(mktemp -d /tmp/test_cli.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

# expect_error NAME PATTERN -- CMD...: CMD must exit with status 1 (not a
# signal, not a sanitizer abort) and print PATTERN on stderr
expect_error() {
    local name=$1 pattern=$2; shift 3
    "$@" > "$TMP/out" 2> "$TMP/err"
    local rc=$?
    if [ $rc -ne 1 ]; then bad "$name (exit $rc, expected 1)"; sed 's/^/    /' "$TMP/err" | head -5; return; fi
    if ! grep -qiE -- "$pattern" "$TMP/err"; then
        bad "$name (message lacks /$pattern/)"; sed 's/^/    /' "$TMP/err" | head -5; return
    fi
    ok "$name: $(grep -m1 -iE 'error' "$TMP/err" | cut -c1-110)"
}

source "$(dirname "$0")/lib.sh"  # ok, bad, write_tokens, write_model

write_model "$TMP/model.bin" 2 4 64 300 32
write_tokens "$TMP/train.bin" 2000 300
write_tokens "$TMP/val.bin" 500 300
COMMON=(-e "$TMP/model.bin" -i "$TMP/train.bin" -j "$TMP/val.bin" -k "$TMP/none" -b 2 -t 16)

# ---- flags
"$TRAIN" -h > "$TMP/help" 2>&1 && grep -q -- "--dry-run" "$TMP/help" && grep -q "default" "$TMP/help" \
    && ok "-h lists the flags with defaults" || bad "-h"
expect_error "unknown flag" "unknown flag" -- "$TRAIN" --bogus 1
expect_error "flag out of range (-b 0)" "-b.*not an integer in" -- "$TRAIN" -b 0
expect_error "flag not a number (-l abc)" "-l.*not a number" -- "$TRAIN" -l abc
expect_error "flag missing its value" "needs a value" -- "$TRAIN" "${COMMON[@]}" -x
expect_error "-d not a multiple of B*T" "not a multiple" -- "$TRAIN" "${COMMON[@]}" -d 33
expect_error "-y 1 without -o" "needs -o" -- "$TRAIN" "${COMMON[@]}" -y 1
expect_error "explicit tokenizer that is foreign" "not a tokenizer" -- "$TRAIN" "${COMMON[@]}" -k "$TMP/train.bin"

# ---- model files
printf 'hello, not a model at all' > "$TMP/short.bin"
expect_error "model file shorter than a header" "shorter than its" -- "$TRAIN" "${COMMON[@]}" -e "$TMP/short.bin"
write_tokens "$TMP/foreign.bin" 600 300
expect_error "model file with wrong magic" "not a model file" -- "$TRAIN" "${COMMON[@]}" -e "$TMP/foreign.bin"
write_model "$TMP/v9.bin" 2 4 64 300 32 9
expect_error "model file with wrong version" "version 9" -- "$TRAIN" "${COMMON[@]}" -e "$TMP/v9.bin"
write_model "$TMP/trunc.bin" 2 4 64 300 32 3 100
expect_error "truncated model file" "truncated" -- "$TRAIN" "${COMMON[@]}" -e "$TMP/trunc.bin"
write_model "$TMP/badshape.bin" 2 5 64 300 32
expect_error "model file with C not a multiple of NH" "not a multiple" -- "$TRAIN" "${COMMON[@]}" -e "$TMP/badshape.bin"
expect_error "-e neither file nor preset" "neither a model file nor a preset" -- "$TRAIN" "${COMMON[@]}" -e "$TMP/nope.bin"
expect_error "T beyond the model's maxT" "longer than the model's maxT" -- "$TRAIN" "${COMMON[@]}" -t 64

# ---- token shards
write_tokens "$TMP/tiny.bin" 20 300
expect_error "shard shorter than one batch" "fewer than one batch" -- "$TRAIN" "${COMMON[@]}" -i "$TMP/tiny.bin"
write_tokens "$TMP/bigids.bin" 2000 60000
expect_error "token ids beyond the vocabulary" "outside the model's vocabulary" -- "$TRAIN" "${COMMON[@]}" -i "$TMP/bigids.bin"
write_tokens "$TMP/wrongmagic.bin" 2000 300 12345
expect_error "shard with wrong magic" "not a token shard" -- "$TRAIN" "${COMMON[@]}" -i "$TMP/wrongmagic.bin"
head -c 2000 "$TMP/train.bin" > "$TMP/cut.bin"
expect_error "truncated shard" "truncated" -- "$TRAIN" "${COMMON[@]}" -i "$TMP/cut.bin"
expect_error "no shard matches" "no token shards match" -- "$TRAIN" "${COMMON[@]}" -i "$TMP/nothing_*.bin"
expect_error "val shards missing while -v > 0" "no token shards match" -- "$TRAIN" "${COMMON[@]}" -j "$TMP/nothing_*.bin" -v 5

# ---- a diverging run stops with a message instead of saving NaNs
cp "$TMP/model.bin" "$TMP/nanmodel.bin"
perl -e 'open(my $f,"+<:raw",$ARGV[0]) or die; seek($f,1024+4*10,0); print $f pack("L<",0x7fc00000); close $f' "$TMP/nanmodel.bin"
expect_error "NaN loss" "diverged|val loss is" -- "$TRAIN" "${COMMON[@]}" -e "$TMP/nanmodel.bin" -x 2 -v 0 -o "$TMP/nanout"
[ -z "$(ls "$TMP/nanout" 2>/dev/null | grep -v main.log)" ] && ok "NaN run left no checkpoint" || bad "NaN run wrote a checkpoint"

# ---- --dry-run: the bill of GPT-2 1558M without allocating it
if "$TRAIN" -e d48 --vocab 50257 -k "$TMP/none" -b 8 -t 1024 --dry-run > "$TMP/dry" 2>&1 \
    && grep -q "L=48 NH=25 C=1600" "$TMP/dry" && grep -q "total" "$TMP/dry"; then
    ok "--dry-run d48 B=8 T=1024: $(grep -m1 'parameters (count)' "$TMP/dry" | tr -s ' ' | cut -c1-60)"
else bad "--dry-run d48"; cat "$TMP/dry"; fi

# ---- a run end to end: log lines, val, sample, checkpoints, no temp files
if "$TRAIN" "${COMMON[@]}" -x 4 -v 2 -m 2 -g 8 -n 2 -o "$TMP/run" > "$TMP/run.out" 2>&1 \
    && [ "$(grep -cE '^step [0-9]+/4 \| loss [0-9]+\.[0-9]{6} \| lr .* \| norm .* \| ms .* \| tok/s' "$TMP/run.out")" = 4 ] \
    && grep -q "^val loss" "$TMP/run.out" && grep -q "^sample at step 4" "$TMP/run.out" \
    && [ -f "$TMP/run/model_00000002.bin" ] && [ -f "$TMP/run/state_00000004.bin" ] \
    && [ "$(grep -c trl "$TMP/run/main.log")" = 4 ] && ! ls "$TMP/run" | grep -q tmp; then
    ok "run: 4 step lines, val, sample, log, checkpoints at 2 and 4"
else bad "run end to end"; tail -20 "$TMP/run.out"; fi
# the saved model loads again as a model file
"$TRAIN" "${COMMON[@]}" -e "$TMP/run/model_00000004.bin" -x 1 -v 0 -g 0 > /dev/null 2>&1 \
    && ok "a checkpointed model file loads with -e" || bad "checkpoint loads with -e"

# ---- --profile: one row per operation, the first step left out, the laps
# adding up to the steps' own times (steps 2 and 3), the machine's peaks measured
"$TRAIN" "${COMMON[@]}" -x 3 -v 0 -g 0 --profile > "$TMP/prof" 2>&1
prof_check=$(awk -F'|' '
    /^step [23]\/3/ { for (i = 1; i <= NF; i++) if ($i ~ /^ ms /) { split($i, w, " "); ms += w[2] / 2 } }
    /^profile: 2 steps timed/ { head = 1; split($0, w, ", "); split(w[2], v, " "); per_step = v[1] }
    /FMA peak [0-9.]+ GFLOP\/s.*stream y \+= x [0-9.]+ GB\/s/ { peaks = 1 }
    head && $4 ~ /^ *[0-9.]+%/ { rows++ }
    /^whole step: .* of the FMA peak/ { whole = 1 }
    END { printf "%d %d %d %d %.3f", head, peaks, rows, whole, (ms > 0 ? per_step / ms : 0) }' "$TMP/prof")
read -r p_head p_peaks p_rows p_whole p_ratio <<< "$prof_check"
if [ "$p_head$p_peaks$p_rows$p_whole" = "11141" ] && awk -v r="$p_ratio" 'BEGIN { exit !(r > 0.97 && r < 1.03) }'; then
    ok "--profile: 14 operations, their laps add up to the steps' time (ratio $p_ratio)"
else
    bad "--profile (head $p_head peaks $p_peaks rows $p_rows whole $p_whole laps/steps $p_ratio)"; head -30 "$TMP/prof"
fi

# ---- resume through the command line: the log lines of steps 4..6 of a run
# that stopped at 3 and resumed equal those of a run that never stopped
strip() { grep -E '^(step|val)' "$1" | sed 's/| ms .*//'; }
"$TRAIN" "${COMMON[@]}" -x 6 -v 3 -g 0 -c 0.1 --shuffle 1 -d 64 -o "$TMP/straight" > "$TMP/a.out" 2>&1
"$TRAIN" "${COMMON[@]}" -x 3 -v 3 -g 0 -c 0.1 --shuffle 1 -d 64 -o "$TMP/resumed" > "$TMP/b1.out" 2>&1
"$TRAIN" "${COMMON[@]}" -x 6 -v 3 -g 0 -c 0.1 --shuffle 1 -d 64 -o "$TMP/resumed" -y 1 > "$TMP/b2.out" 2>&1
if grep -q "resume: from" "$TMP/b2.out" && [ -n "$(strip "$TMP/a.out")" ] \
    && diff <(strip "$TMP/a.out" | grep -E '^step [4-6]/') <(strip "$TMP/b2.out" | grep -E '^step [4-6]/') > /dev/null; then
    ok "resume via -y 1: steps 4-6 identical to the straight run"
else bad "resume via -y 1"; diff <(strip "$TMP/a.out") <(strip "$TMP/b2.out") | head; fi

# ---- flags: one source (RUN_FLAGS in train_flags.h) for -h, the long names and README
# every long name sets what its letter sets: a short run's configuration
# table, step lines and checkpoint are the same either way
LETTERS=(-e "$TMP/model.bin" -i "$TMP/train.bin" -j "$TMP/val.bin" -k "$TMP/none" -o "$TMP/fl_a" -b 2 -t 16
         -d 64 -l 1e-3 -u 1 -q 0.5 -c 0.1 -x 2 -v 2 -m 2 -s 0 -g 0 -n 0 -y 0)
LONGS=(--model "$TMP/model.bin" --train "$TMP/train.bin" --val "$TMP/val.bin" --tokenizer "$TMP/none"
       --output "$TMP/fl_b" --batch 2 --seq-len 16 --total-batch 64 --lr 1e-3 --warmup 1 --final-lr 0.5
       --weight-decay 0.1 --steps 2 --val-every 2 --val-batches 2 --sample-every 0 --gen-tokens 0
       --checkpoint-every 0 --resume 0)
strip() { sed -E 's/ms [0-9.]+ \| tok\/s [0-9]+/ms/; s/eta [0-9hms]+//; s/fl_[ab]//; /peak resident/d' "$1"; }
if "$TRAIN" "${LETTERS[@]}" > "$TMP/fl_a.out" 2>&1 && "$TRAIN" "${LONGS[@]}" > "$TMP/fl_b.out" 2>&1 \
    && diff <(strip "$TMP/fl_a.out") <(strip "$TMP/fl_b.out") > /dev/null \
    && cmp -s "$TMP/fl_a/model_00000002.bin" "$TMP/fl_b/model_00000002.bin" \
    && grep -q "micro-step" "$TMP/fl_a.out"; then
    ok "every long name of a lettered flag (${#LONGS[@]} words) does what its letter does"
else bad "long names vs letters"; diff <(strip "$TMP/fl_a.out") <(strip "$TMP/fl_b.out") | head -10; fi
n_long=$("$TRAIN" -h | grep -cE '^  (-[a-z]| ) +--[a-z]')
n_all=$("$TRAIN" -h | grep -cE '^  ')
[ "$n_long" = "$n_all" ] && ok "-h: all $n_all flags have a long name" || bad "-h: $((n_all - n_long)) flags lack a long name"
# README's flag table is exactly the one made from -h
README="$(dirname "$0")/../README.md"
readme_table() { sed -n '/^| flag | long name | default | meaning |$/,/^[^|]/p' "$README" | grep '^|'; }
if diff <(readme_table) <(bash "$(dirname "$0")/flags_table.sh" "$TRAIN") > "$TMP/fl_diff"; then
    ok "README's flag table matches -h ($(readme_table | tail -n +3 | wc -l) flags)"
else bad "README's flag table differs from -h (regenerate: bash test/flags_table.sh ./train)"; head -10 "$TMP/fl_diff"; fi

# ---- --prompt: generation with the KV cache against the full recompute
# a byte-level tokenizer file (ids 0..255 the bytes, 256 <|endoftext|>) for the
# model of V=300 and maxT=32; 40 new tokens after 10 of prompt cross maxT, so
# the context slides (keeps the newest 16 and prefills them again)
perl -e 'open(my $f,">:raw",$ARGV[0]) or die; print $f pack("l<256",20240328,2,257,256,(0)x252);
         print $f pack("CC",1,$_) for 0..255; print $f pack("C",13),"<|endoftext|>"; close $f' "$TMP/bytes_tok.bin"
GEN=(-e "$TMP/model.bin" -k "$TMP/bytes_tok.bin" --prompt "To be, or " -g 40)
text() { sed -n '/^---$/,/^---$/p' "$1"; }
positions() { grep -oE '[0-9]+ positions computed' "$1" | cut -d' ' -f1; }
if "$TRAIN" "${GEN[@]}" --top-k 1 > "$TMP/g_cache.out" 2>&1 \
    && "$TRAIN" "${GEN[@]}" --top-k 1 > "$TMP/g_cache2.out" 2>&1 \
    && "$TRAIN" "${GEN[@]}" --top-k 1 --kv-cache 0 > "$TMP/g_full.out" 2>&1 \
    && [ "$(text "$TMP/g_cache.out" | wc -c)" -gt 20 ] \
    && diff <(text "$TMP/g_cache.out") <(text "$TMP/g_cache2.out") > /dev/null \
    && diff <(text "$TMP/g_cache.out") <(text "$TMP/g_full.out") > /dev/null; then
    ok "--prompt --top-k 1: deterministic, KV cache = full recompute past maxT ($(positions "$TMP/g_cache.out") vs $(positions "$TMP/g_full.out") positions)"
else bad "--prompt greedy: cache vs full recompute"; cat "$TMP/g_cache.out" "$TMP/g_full.out" | head -20; fi
if "$TRAIN" "${GEN[@]}" --temperature 0.8 --top-k 50 --seed 7 > "$TMP/s_cache.out" 2>&1 \
    && "$TRAIN" "${GEN[@]}" --temperature 0.8 --top-k 50 --seed 7 --kv-cache 0 > "$TMP/s_full.out" 2>&1 \
    && diff <(text "$TMP/s_cache.out") <(text "$TMP/s_full.out") > /dev/null \
    && ! diff <(text "$TMP/s_cache.out") <(text "$TMP/g_cache.out") > /dev/null; then
    ok "--prompt sampling: same seed, same text with and without the cache"
else bad "--prompt sampling with a seed"; cat "$TMP/s_cache.out" "$TMP/s_full.out" | head -20; fi
expect_error "--prompt empty" "is empty" -- "$TRAIN" "${GEN[@]}" --prompt ""
expect_error "--prompt longer than maxT" "longer than the model's context" -- "$TRAIN" "${GEN[@]}" --prompt "$(printf 'x%.0s' $(seq 40))"
expect_error "--prompt without a tokenizer" "needs a tokenizer file" -- "$TRAIN" "${GEN[@]}" -k "$TMP/none"
expect_error "--prompt with a preset" "not the preset" -- "$TRAIN" "${GEN[@]}" -e d6

# ---- LoRA: --lora R fine-tunes -e with the base frozen; lora_STEP.bin checkpoints
expect_error "--lora negative" "--lora.*not an integer in" -- "$TRAIN" "${COMMON[@]}" --lora -1
expect_error "--lora R larger than the matrix" "larger than the .* matrix" -- "$TRAIN" "${COMMON[@]}" --lora 65 -x 1
expect_error "--lora-targets unknown" "unknown target 'bogus'" -- "$TRAIN" "${COMMON[@]}" --lora 4 --lora-targets qkv,bogus
expect_error "--lora-merge without --lora" "needs adapters" -- "$TRAIN" "${COMMON[@]}" --lora-merge "$TMP/m.bin"
expect_error "--lora with --zero 1" "ZeRO-1" -- "$TRAIN" "${COMMON[@]}" --lora 4 --zero 1
expect_error "--lora with --prompt" "merge the adapters first" -- "$TRAIN" "${GEN[@]}" --lora 4
expect_error "--lora: NaN loss" "diverged" -- "$TRAIN" "${COMMON[@]}" -e "$TMP/nanmodel.bin" --lora 4 -x 2 -v 0
LORA=("${COMMON[@]}" --lora 4 --lora-alpha 8 --lora-targets qkv,fc -c 0.1 -l 1e-2 -g 0 -d 64 --shuffle 1)
strip_ms() { grep -E '^(step|val)' "$1" | sed 's/| ms .*//'; }
if "$TRAIN" "${LORA[@]}" -x 6 -v 3 -o "$TMP/lora_a" --lora-merge "$TMP/merged.bin" > "$TMP/la.out" 2>&1 \
    && [ "$(grep -cE '^step [0-9]+/6 \| loss' "$TMP/la.out")" = 6 ] && [ -f "$TMP/lora_a/lora_00000006.bin" ] \
    && ! ls "$TMP/lora_a" | grep -qE 'model_|state_|tmp' && grep -q "LoRA R=4" "$TMP/la.out"; then
    ok "--lora run: 6 steps, lora_00000006.bin only (no model or state file), the LoRA bill"
else bad "--lora run"; tail -20 "$TMP/la.out"; fi
"$TRAIN" "${LORA[@]}" -x 3 -v 3 -o "$TMP/lora_b" > "$TMP/lb1.out" 2>&1
"$TRAIN" "${LORA[@]}" -x 6 -v 3 -o "$TMP/lora_b" -y 1 > "$TMP/lb2.out" 2>&1
if grep -q "resume: from .*lora_00000003.bin" "$TMP/lb2.out" \
    && diff <(strip_ms "$TMP/la.out" | grep -E '^step [4-6]/') <(strip_ms "$TMP/lb2.out" | grep -E '^step [4-6]/') > /dev/null \
    && cmp -s "$TMP/lora_a/lora_00000006.bin" "$TMP/lora_b/lora_00000006.bin"; then
    ok "--lora resume via -y 1: steps 4-6 and lora_00000006.bin identical to the straight run"
else bad "--lora resume via -y 1"; diff <(strip_ms "$TMP/la.out") <(strip_ms "$TMP/lb2.out") | head; fi
expect_error "LoRA resume with another R" "trained with --lora 4 .*resume with the same" -- \
    "$TRAIN" "${LORA[@]}" --lora 8 -x 6 -o "$TMP/lora_b" -y 1
expect_error "LoRA resume with other targets" "lora-targets qkv,fc" -- \
    "$TRAIN" "${LORA[@]}" --lora-targets qkv -x 6 -o "$TMP/lora_b" -y 1
expect_error "LoRA checkpoint resumed without --lora" "holds LoRA checkpoints" -- \
    "$TRAIN" "${COMMON[@]}" -x 6 -o "$TMP/lora_b" -y 1
write_model "$TMP/model2.bin" 2 4 64 300 32
perl -e 'open(my $f,"+<:raw",$ARGV[0]) or die; seek($f,1024+4*5,0); print $f pack("f<",0.5); close $f' "$TMP/model2.bin"
expect_error "LoRA resume on another base model" "another base model" -- \
    "$TRAIN" "${LORA[@]}" -e "$TMP/model2.bin" -x 6 -o "$TMP/lora_b" -y 1
# the merged model is a plain model file: its val loss is the LoRA model's
lora_val=$(grep '^val loss' "$TMP/la.out" | tail -1 | cut -d' ' -f3)
if "$TRAIN" "${COMMON[@]}" -e "$TMP/merged.bin" -x 0 -v 1 -g 0 > "$TMP/merged.out" 2>&1; then
    merged_val=$(grep '^val loss' "$TMP/merged.out" | tail -1 | cut -d' ' -f3)
    if awk -v a="$lora_val" -v b="$merged_val" 'BEGIN { d = a - b; exit !(d < 1e-5 && d > -1e-5) }' \
        && ! cmp -s "$TMP/model.bin" "$TMP/merged.bin"; then
        ok "--lora-merge: the merged file (not the base) loads with -e, val loss $merged_val = LoRA's $lora_val"
    else bad "--lora-merge val loss: merged $merged_val, LoRA $lora_val"; fi
else bad "--lora-merge: the merged file does not load"; tail -5 "$TMP/merged.out"; fi
if "$TRAIN" -e d12 --vocab 50257 -k "$TMP/none" -b 4 -t 256 --lora 8 --dry-run > "$TMP/ldry" 2>&1 \
    && grep -q "LoRA R=8" "$TMP/ldry" && grep -q "full training, for contrast" "$TMP/ldry"; then
    ok "--dry-run --lora 8 d12: $(grep -E '^\| total ' "$TMP/ldry" | tail -1 | tr -s ' ' | cut -c1-50)"
else bad "--dry-run --lora"; cat "$TMP/ldry" | head; fi

echo "$([ $fail = 0 ] && echo PASS || echo FAIL): $pass of $((pass + fail)) CLI checks passed"
[ $fail = 0 ]
