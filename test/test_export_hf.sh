#!/usr/bin/env bash
# Tests of ./export_hf (model file -> Hugging Face GPT-2: model.safetensors +
# config.json):
#   bash test/test_export_hf.sh EXPORT_HF IMPORT_HF CHECK TRAIN [--pytorch] [EXPORT_HF_ASAN]
# CHECK is test/test_import_hf (a model file's logits against a logits file).
# Models: the two HF fixtures imported by ./import_hf (F32 with 4 heads; F16,
# BF16 and F32 with 2), and the first after 2 training steps of ./train.
# For each: the export imports back to the identical model file. For the two
# fixtures, the export has the very bytes (sha256 below) that PyTorch read
# when it wrote test/fixtures/export_{f32,mixed}.logits.bin
# (dev/reference.py --logits-of: HF's names, shapes and config into its
# GPT-2), and train.c's logits must equal those: no Python needed. With
# --pytorch (make test-export-pytorch, in test-all) PyTorch also reads every
# export live (SKIPPED without Debian's python3-torch). Then bad input: exit
# 1 with a message, no output left, through the sanitizer build when given
# (which must also write the same export). Prints OK|FAIL per case and an
# overall line.
# When the export's format changes on purpose, the sums below change: run with
# --pytorch, and if that passes write the fixtures again with
#   ./import_hf test/fixtures/hf_f32.safetensors f32.bin --heads 4 && ./export_hf f32.bin hf_f32
#   (the same for hf_mixed with --heads 2), then
#   /usr/bin/python3 dev/reference.py --logits-of hf_f32 test/fixtures/export_f32.logits.bin \
#       --logits-of hf_mixed test/fixtures/export_mixed.logits.bin
# and put the new sha256sum of each model.safetensors and config.json here.
set -u
EXPORT=${1:-./export_hf}
IMPORT=${2:-./import_hf}
CHECK=${3:-./test/test_import_hf}
TRAIN=${4:-./train}
LIVE=${5:-}
BAD=${6:-$EXPORT}
FX=test/fixtures
# the exports PyTorch read for the committed logits
SHA_f32="6e57ba85d67d4902ea0809dd9f91162bac0a9a9bd14e6dc26204120bc2a9039b 2d66024adb78545f430793098a82edae3b4ef0a1a70ebf4a7fc39a5ab1e926c7"
SHA_mixed="4821b7ff422d9d8981c7b7b7d53e90e54476d8640289caa3e3e1b7ce06a2b7c3 d85e2b9fe19c946a68ebd45f0495bf2b3c70f74dda0687aff4a57793b83f8c01"
for b in "$EXPORT" "$IMPORT" "$CHECK" "$TRAIN" "$BAD"; do [ -x "$b" ] || { echo "FAIL: $b not built"; exit 1; }; done
TMP=$(mktemp -d /tmp/test_export_hf.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
source "$(dirname "$0")/lib.sh"  # ok, bad, write_tokens, write_model

# ---- the models
"$IMPORT" "$FX/hf_f32.safetensors" "$TMP/f32.bin" --heads 4 > /dev/null \
    && "$IMPORT" "$FX/hf_mixed.safetensors" "$TMP/mixed.bin" --heads 2 > /dev/null \
    || bad "importing the fixtures"
write_tokens "$TMP/train.bin" 2000 120
"$TRAIN" -e "$TMP/f32.bin" -i "$TMP/train.bin" -k "$TMP/none" -b 2 -t 16 -x 2 -v 0 -g 0 -l 1e-2 -o "$TMP/run" \
    > "$TMP/run.out" 2>&1 && cp "$TMP/run/model_00000002.bin" "$TMP/trained.bin" \
    && ! cmp -s "$TMP/trained.bin" "$TMP/f32.bin" || { bad "training the f32 model 2 steps"; tail -3 "$TMP/run.out"; }
heads() { case $1 in mixed) echo 2;; *) echo 4;; esac; }

# ---- export, then import back: the same bytes
PY_ARGS=()
for m in f32 mixed trained; do
    if "$EXPORT" "$TMP/$m.bin" "$TMP/hf_$m" > "$TMP/$m.out" 2> "$TMP/$m.err" && [ ! -s "$TMP/$m.err" ] \
        && [ -s "$TMP/hf_$m/model.safetensors" ] && [ -s "$TMP/hf_$m/config.json" ] \
        && ! ls "$TMP/hf_$m" | grep -q tmp; then
        ok "export $m: $(cut -c1-100 "$TMP/$m.out")"
    else bad "export $m"; cat "$TMP/$m.out" "$TMP/$m.err"; continue; fi
    if "$IMPORT" "$TMP/hf_$m/model.safetensors" "$TMP/$m.back.bin" --heads "$(heads $m)" > /dev/null 2>&1 \
        && cmp -s "$TMP/$m.bin" "$TMP/$m.back.bin"; then
        ok "$m: export, then ./import_hf: the identical model file ($(stat -c %s "$TMP/$m.bin") bytes)"
    else bad "$m: export + import differs from the original"; fi
    PY_ARGS+=(--logits-of "$TMP/hf_$m" "$TMP/$m.logits")
    [ "$m" = trained ] && continue
    want=SHA_$m
    got="$(sha256sum "$TMP/hf_$m/model.safetensors" "$TMP/hf_$m/config.json" | cut -d' ' -f1 | tr '\n' ' ' | sed 's/ $//')"
    if [ "$got" = "${!want}" ]; then
        if "$CHECK" "$TMP/$m.bin" "$FX/export_$m.logits.bin" > "$TMP/check" 2>&1; then
            ok "$m: the export PyTorch read (sha256 ${got:0:12}...), its logits: $(cut -c6-110 "$TMP/check")"
        else bad "$m: logits against $FX/export_$m.logits.bin: $(cat "$TMP/check")"; fi
    else bad "$m: the export is not the one PyTorch read for $FX/export_$m.logits.bin (sha256 $got; see the top of this file)"; fi
done
grep -q '"n_head": 2,' "$TMP/hf_mixed/config.json" && grep -q '"n_layer": 1,' "$TMP/hf_mixed/config.json" \
    && grep -q '"vocab_size": 64,' "$TMP/hf_mixed/config.json" && ok "config.json holds the shape (mixed: L 1, NH 2, V 64)" \
    || bad "config.json"

# ---- --pytorch: PyTorch reads every export live, by HF's names and layout: the same logits
PY=/usr/bin/python3
if [ "$LIVE" != --pytorch ]; then
    :
elif [ -x "$PY" ] && "$PY" -c "import torch, numpy" 2> /dev/null; then
    if "$PY" dev/reference.py "${PY_ARGS[@]}" > "$TMP/py.out" 2>&1; then
        for m in f32 mixed trained; do
            if "$CHECK" "$TMP/$m.bin" "$TMP/$m.logits" > "$TMP/check" 2>&1; then
                ok "$m in PyTorch: $(cut -c6-120 "$TMP/check")"
            else bad "$m in PyTorch: $(cat "$TMP/check")"; fi
        done
    else bad "dev/reference.py --logits-of"; tail -5 "$TMP/py.out"; fi
else
    echo "SKIPPED PyTorch reading the exports: $PY lacks torch/numpy (apt-get install python3-torch python3-numpy)"
fi

# ---- a model whose vocabulary padding is not zero: exported with a warning
write_model "$TMP/padded.bin" 1 2 32 100 16
"$EXPORT" "$TMP/padded.bin" "$TMP/hf_padded" > /dev/null 2> "$TMP/pad.err" && grep -q "padding" "$TMP/pad.err" \
    && ok "non-zero padding rows: exported with a warning" || bad "non-zero padding rows"

"$BAD" "$TMP/mixed.bin" "$TMP/hf_bad" > /dev/null 2>&1 && cmp -s "$TMP/hf_bad/model.safetensors" "$TMP/hf_mixed/model.safetensors" \
    && cmp -s "$TMP/hf_bad/config.json" "$TMP/hf_mixed/config.json" && ok "the bad-input build ($BAD) writes the same export" \
    || bad "the bad-input build ($BAD) of the export"

# ---- bad input: exit 1, a message, nothing written
expect_error() {  # expect_error NAME PATTERN ARGS...
    local name=$1 pattern=$2; shift 2
    "$BAD" "$@" > "$TMP/eout" 2> "$TMP/err"
    local rc=$?
    if [ $rc -ne 1 ]; then bad "$name (exit $rc, expected 1)"; head -5 "$TMP/err"; return; fi
    if ! grep -qiE -- "$pattern" "$TMP/err"; then bad "$name (message lacks /$pattern/)"; head -5 "$TMP/err"; return; fi
    ok "$name: $(grep -m1 -i error "$TMP/err" | cut -c1-100)"
}
expect_error "no arguments" "needs MODEL"
expect_error "too many arguments" "too many" "$TMP/f32.bin" "$TMP/x" "$TMP/y"
expect_error "unknown flag" "unknown flag" --bf16 "$TMP/f32.bin" "$TMP/x"
expect_error "missing model file" "cannot open" "$TMP/nope.bin" "$TMP/x"
expect_error "not a model file (a token shard)" "not a model file" "$TMP/train.bin" "$TMP/x"
expect_error "not a model file (a safetensors file)" "not a model file|shorter than" "$TMP/hf_f32/model.safetensors" "$TMP/x"
head -c -100 "$TMP/f32.bin" > "$TMP/trunc.bin"
expect_error "truncated model file" "truncated" "$TMP/trunc.bin" "$TMP/x"
: > "$TMP/afile"
expect_error "output under a file (cannot create the directory)" "cannot create directory" "$TMP/f32.bin" "$TMP/afile/out"
mkdir -p "$TMP/ro/model.safetensors"  # the output name taken by a directory: the rename fails
expect_error "output file that cannot be written" "cannot write|cannot open" "$TMP/f32.bin" "$TMP/ro"
[ ! -e "$TMP/x" ] && ! ls "$TMP/ro" "$TMP" | grep -q '\.tmp\.' && ok "no output and no temporary file after any failure" \
    || bad "a failed export left files: $(ls "$TMP/x" "$TMP/ro" 2>&1 | tr '\n' ' ')"

echo "$([ $fail = 0 ] && echo PASS || echo FAIL): $pass of $((pass + fail)) export checks passed"
[ $fail = 0 ]
