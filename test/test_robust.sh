#!/usr/bin/env bash
# Runs that are stopped, killed or starved lose nothing:
#   1. SIGINT or SIGTERM: the run finishes its step, writes a checkpoint and
#      exits 130 / 143; `-y 1` then ends bitwise equal to a run never stopped
#   2. a second signal exits at once (130 / 143); the directory still resumes
#      to the same bits
#   3. SIGKILL at random moments (in steps and in checkpoint writes, one every
#      step), resumed each time: the final model and state are the straight
#      run's, bit for bit
#   4. a full disk (a file-size limit, `ulimit -f`): the failed write names the
#      file and the cause, leaves no temporary file, keeps the earlier
#      checkpoint; exit 1; `-y 1` then resumes from that checkpoint
#   5. a NaN in the model: exit 1 naming the first tensor that holds it, and
#      no checkpoint; with --skip-nonfinite N, N steps skipped, then the stop
#   6. limits: 4 GiB shards and 2^32 tokens in all (sparse files), 2000
#      shards, a path past the buffers, shapes past 64-bit sizes or past the
#      machine's memory (refused before allocating, naming the flags)
#   bash test/test_robust.sh [path/to/train]
# Prints `OK|FAIL name` per case and an overall line; exits non-zero on failure.
set -u
TRAIN=${1:-./train}
[ -x "$TRAIN" ] || { echo "FAIL: $TRAIN not built"; exit 1; }
TMP=$(mktemp -d /tmp/test_robust.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
source "$(dirname "$0")/lib.sh"  # ok, bad, write_tokens, write_model

write_model "$TMP/model.bin" 2 4 64 300 32
write_tokens "$TMP/train.bin" 3000 300
# constant lr (no warmup, no decay): a run of N steps is the first N steps of
# any longer one, so a reference can be made for whatever step a stop hit
ARGS=(-e "$TMP/model.bin" -i "$TMP/train.bin" -k "$TMP/none" -b 2 -t 16 -v 0 -g 0 -l 1e-3 --shuffle 1)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}  # bitwise comparisons: the same threads everywhere

# same_as_reference DIR STEPS: DIR's checkpoint at STEPS equals a straight run's
same_as_reference() {
    local ref="$TMP/ref_$2"
    [ -f "$ref/model_$(printf %08d "$2").bin" ] || "$TRAIN" "${ARGS[@]}" -x "$2" -o "$ref" > /dev/null 2>&1
    local f
    for f in model state; do
        cmp -s "$1/${f}_$(printf %08d "$2").bin" "$ref/${f}_$(printf %08d "$2").bin" || return 1
    done
}
# wait_for_step FILE: until FILE shows a finished step (at most 60 s)
wait_for_step() {
    for _ in $(seq 600); do grep -q '^step ' "$1" 2> /dev/null && return 0; sleep 0.1; done
    return 1
}
last_step() { grep -oE '^step [0-9]+' "$1" | tail -1 | cut -d' ' -f2; }

# ---- 1. one signal: finish the step, checkpoint, exit 128 + signal, resume bitwise
for sig in INT TERM; do
    d="$TMP/sig_$sig"
    "$TRAIN" "${ARGS[@]}" -x 100000 -o "$d" > "$TMP/sig_$sig.out" 2>&1 &
    pid=$!
    wait_for_step "$TMP/sig_$sig.out"
    kill -s "$sig" "$pid"
    wait "$pid"; rc=$?
    want=$([ $sig = INT ] && echo 130 || echo 143)
    n=$(grep -oE "stopped by SIG$sig after step [0-9]+" "$TMP/sig_$sig.out" | grep -oE '[0-9]+$')
    if [ "$rc" = "$want" ] && [ -n "$n" ] && [ -f "$d/state_$(printf %08d "$n").bin" ] \
        && grep -q -- "-y 1" "$TMP/sig_$sig.out"; then
        ok "SIG$sig: exit $rc after step $n with a checkpoint and how to resume"
    else bad "SIG$sig: exit $rc (want $want)"; tail -3 "$TMP/sig_$sig.out"; continue; fi
    "$TRAIN" "${ARGS[@]}" -x $((n + 2)) -o "$d" -y 1 > "$TMP/sig_$sig.res" 2>&1
    same_as_reference "$d" $((n + 2)) && ok "SIG$sig: resumed to step $((n + 2)), bitwise the straight run" \
        || bad "SIG$sig: the resumed run differs from the straight run"
done

# ---- 2. a second signal: out at once, nothing half written (a d6 model from
# scratch here: steps long enough that the second signal lands inside one)
SAVED=("${ARGS[@]}")
ARGS=(-e d6 --vocab 300 -i "$TMP/train.bin" -k "$TMP/none" -b 4 -t 64 -v 0 -g 0 -l 1e-3 --shuffle 1)
d="$TMP/sig2"
"$TRAIN" "${ARGS[@]}" -x 100000 -n 1 -o "$d" > "$TMP/sig2.out" 2>&1 &
pid=$!
wait_for_step "$TMP/sig2.out"
# two pending signals of one kind merge into one, two of different kinds do
# not: SIGINT and SIGTERM both queued while the process is stopped are both
# handled on SIGCONT, the second one mid-step (exit 130 or 143 by its kind)
kill -STOP "$pid"; kill -INT "$pid"; kill -TERM "$pid"; kill -CONT "$pid"
wait "$pid"; rc=$?
n=$(( $(last_step "$TMP/sig2.out") + 2 ))
"$TRAIN" "${ARGS[@]}" -x "$n" -n 1 -o "$d" -y 1 > "$TMP/sig2.res" 2>&1
if { [ "$rc" = 130 ] || [ "$rc" = 143 ]; } && ! grep -q "stopped by" "$TMP/sig2.out" && same_as_reference "$d" "$n"; then
    ok "two signals: exit $rc at once, no stop message; the directory resumed to step $n, bitwise the straight run"
else bad "two signals: exit $rc"; tail -3 "$TMP/sig2.out"; fi
ARGS=("${SAVED[@]}")

# ---- 3. SIGKILL at random moments, a checkpoint every step
d="$TMP/kill"
N=40
# the straight run (the reference) timed, so that kills land inside a run on
# a fast machine as on a slow one: each comes at a random moment in the first
# third of that time
t0=$(date +%s%N)
"$TRAIN" "${ARGS[@]}" -x "$N" -n 1 -o "$TMP/ref_$N" > /dev/null 2>&1
ref_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
kills=0; torn=0
RANDOM=7
for _ in $(seq 40); do
    "$TRAIN" "${ARGS[@]}" -x "$N" -n 1 -o "$d" -y 1 > /dev/null 2>&1 &
    pid=$!
    sleep "$(awk -v r=$RANDOM -v ms="$ref_ms" 'BEGIN { printf "%.3f", (r % 1000) * ms / 3000000 }')"
    kill -9 "$pid" 2> /dev/null
    { wait "$pid"; } 2> /dev/null; rc=$?
    [ "$rc" = 0 ] && break
    kills=$((kills + 1))
    torn=$((torn + $(ls "$d" 2> /dev/null | grep -c '\.tmp\.')))  # each start removes the earlier ones
done
"$TRAIN" "${ARGS[@]}" -x "$N" -n 1 -o "$d" -y 1 > "$TMP/kill.out" 2>&1; rc=$?
if [ "$rc" = 0 ] && [ "$kills" -ge 3 ] && same_as_reference "$d" "$N" && [ -z "$(ls "$d" | grep '\.tmp\.')" ]; then
    ok "SIGKILL $kills times (cutting $torn checkpoint writes), resumed each time: step $N bitwise the straight run, no temporary file left"
else bad "SIGKILL and resume: exit $rc after $kills kills"; tail -3 "$TMP/kill.out"; fi

# ---- 4. a full disk: writes past a file-size limit fail like ENOSPC
d="$TMP/full"
"$TRAIN" "${ARGS[@]}" -x 2 -n 1 -o "$d" > /dev/null 2>&1
cp "$d/model_00000002.bin" "$TMP/m2.bin"; cp "$d/state_00000002.bin" "$TMP/s2.bin"
model_kb=$(( $(stat -c %s "$d/model_00000002.bin") / 1024 ))
# room for a model file, not for a state file (twice its size)
(ulimit -f $((model_kb + 64)); exec "$TRAIN" "${ARGS[@]}" -x 4 -n 1 -o "$d" -y 1) > "$TMP/full.out" 2> "$TMP/full.err"
rc=$?
if [ "$rc" = 1 ] && grep -q "cannot write '$d/state_00000003.bin'" "$TMP/full.err" \
    && grep -qi "too large\|no space" "$TMP/full.err" \
    && [ -z "$(ls "$d" | grep '\.tmp\.')" ] && [ ! -e "$d/state_00000003.bin" ] \
    && cmp -s "$d/model_00000002.bin" "$TMP/m2.bin" && cmp -s "$d/state_00000002.bin" "$TMP/s2.bin"; then
    ok "full disk: exit 1, $(grep -o "cannot write.*(write)\|cannot write.*(flush)" "$TMP/full.err" | sed "s|$d/||"), no temporary file, step 2 kept"
else bad "full disk (exit $rc)"; cat "$TMP/full.err"; ls "$d"; fi
"$TRAIN" "${ARGS[@]}" -x 4 -n 1 -o "$d" -y 1 > "$TMP/full.res" 2>&1
grep -q "resume: from $d/model_00000002.bin" "$TMP/full.res" && same_as_reference "$d" 4 \
    && ok "full disk: -y 1 resumed from step 2 (the model file of step 3 alone is not a checkpoint), step 4 bitwise" \
    || bad "full disk: resume"

# ---- 5. non-finite values
cp "$TMP/model.bin" "$TMP/nan.bin"
size=$(stat -c %s "$TMP/nan.bin")
# lnfw[0]: the final layernorm's first weight (every output depends on it)
perl -e 'open(my $f,"+<:raw",$ARGV[0]) or die; seek($f,$ARGV[1],0); print $f pack("L<",0x7fc00000); close $f' \
    "$TMP/nan.bin" $((size - 2 * 64 * 4))
NAN=(-e "$TMP/nan.bin" -i "$TMP/train.bin" -k "$TMP/none" -b 2 -t 16 -v 0 -g 0)
"$TRAIN" "${NAN[@]}" -x 5 -o "$TMP/nan1" > "$TMP/nan1.out" 2> "$TMP/nan1.err"; rc=$?
if [ "$rc" = 1 ] && grep -q "step 1: .*first non-finite value in lnfw (element 0)" "$TMP/nan1.err" \
    && [ -z "$(ls "$TMP/nan1" | grep -v main.log)" ]; then
    ok "NaN: exit 1 at step 1 naming lnfw (element 0), nothing saved"
else bad "NaN: exit $rc"; cat "$TMP/nan1.err"; fi
"$TRAIN" "${NAN[@]}" -x 10 --skip-nonfinite 3 > "$TMP/nan2.out" 2> "$TMP/nan2.err"; rc=$?
if [ "$rc" = 1 ] && [ "$(grep -c '| skipped$' "$TMP/nan2.out")" = 3 ] \
    && [ "$(grep -c 'update skipped' "$TMP/nan2.err")" = 3 ] && grep -q "step 4: .*diverged" "$TMP/nan2.err"; then
    ok "--skip-nonfinite 3: steps 1-3 skipped, stop at step 4 (exit 1)"
else bad "--skip-nonfinite 3 (exit $rc)"; tail -4 "$TMP/nan2.err"; fi

# ---- 6. limits: huge shards (sparse files), many shards, long paths, huge shapes
# a shard of 2^31 - 1 tokens (the most llm.c's int32 count holds: 4 GiB),
# twice: 2^32 - 2 tokens in all; sparse, so they read as token 0
sparse_shard() {  # sparse_shard PATH NTOKENS
    perl -e 'open(my $f,">:raw",$ARGV[0]) or die; print $f pack("l<256",20240520,1,$ARGV[1],(0)x253); close $f' "$1" "$2"
    truncate -s $((1024 + 2 * $2)) "$1"
}
mkdir -p "$TMP/big"
sparse_shard "$TMP/big/a.bin" 2147483647; sparse_shard "$TMP/big/b.bin" 2147483647
BIG=(-e "$TMP/model.bin" -i "$TMP/big/*.bin" -k "$TMP/none" -b 32 -t 32 -v 0 -g 0 --shuffle 1)
if "$TRAIN" "${BIG[@]}" -x 3 > "$TMP/big.out" 2>&1 && grep -q "(4194302 batches)" "$TMP/big.out" \
    && grep -q "^step 3/3" "$TMP/big.out"; then
    ok "two 4 GiB shards (2^32 - 2 tokens): 4194302 batches, shuffled reads anywhere in them"
else bad "4 GiB shards"; tail -3 "$TMP/big.out"; fi
perl -e 'open(my $f,">:raw",$ARGV[0]) or die; print $f pack("l<256",20240520,1,-1,(0)x253); close $f' "$TMP/neg.bin"
"$TRAIN" -e "$TMP/model.bin" -i "$TMP/neg.bin" -k "$TMP/none" -b 2 -t 16 -v 0 > /dev/null 2> "$TMP/neg.err"
[ $? = 1 ] && grep -q "negative token count" "$TMP/neg.err" && ok "a shard whose count is past 2^31 (negative int32): refused" \
    || bad "negative count"
# 2000 shards of one batch each
mkdir -p "$TMP/many"
perl -e 'srand(3); for my $i (0..1999) { open(my $f,">:raw",sprintf("%s/s_%04d.bin",$ARGV[0],$i)) or die;
         print $f pack("l<256",20240520,1,40,(0)x253), pack("S<*", map { int(rand(300)) } 1..40); close $f }' "$TMP/many"
if "$TRAIN" -e "$TMP/model.bin" -i "$TMP/many/s_*.bin" -k "$TMP/none" -b 2 -t 16 -v 0 -g 0 -x 3 --shuffle 1 \
    > "$TMP/many.out" 2>&1 && grep -q "(2000 batches)" "$TMP/many.out"; then
    ok "2000 shards: all found, shuffled, trained on"
else bad "2000 shards"; tail -3 "$TMP/many.out"; fi
long=$TMP/$(printf 'd%.0s' $(seq 4100))
"$TRAIN" "${ARGS[@]}" -x 1 -o "$long" > /dev/null 2> "$TMP/long.err"
[ $? = 1 ] && grep -q "path too long" "$TMP/long.err" && ok "-o longer than 4096 bytes: refused" || bad "long -o path"
# shapes beyond memory or beyond 64-bit sizes: refused before allocating,
# naming the flags (maxT 2^20, NH 64: att alone is L*B*NH*T*T floats)
write_model "$TMP/wide.bin" 2 64 64 300 1048576
"$TRAIN" -e "$TMP/wide.bin" -b 65536 -t 1048576 --dry-run > /dev/null 2> "$TMP/wide1.err"; rc=$?
[ $rc = 1 ] && grep -q "more than this machine can address: use a smaller -b or -t" "$TMP/wide1.err" \
    && ok "--dry-run with att past 2^64 bytes: refused, no wrap-around" || { bad "64-bit overflow (exit $rc)"; cat "$TMP/wide1.err"; }
"$TRAIN" -e "$TMP/wide.bin" -i "$TMP/train.bin" -k "$TMP/none" -b 64 -t 1048576 > /dev/null 2> "$TMP/wide2.err"; rc=$?
[ $rc = 1 ] && grep -q "GiB of memory: use a smaller -b or -t" "$TMP/wide2.err" \
    && ok "a run needing more than this machine's memory: refused before allocating" || { bad "memory check (exit $rc)"; cat "$TMP/wide2.err"; }

echo "$([ $fail = 0 ] && echo PASS || echo FAIL): $pass of $((pass + fail)) robustness checks passed"
[ $fail = 0 ]
