#!/usr/bin/env bash
# data/recipe_finetune.sh (make recipe-finetune): a pre-trained model
# fine-tuned on a different text three ways, side by side: every parameter
# trained (full fine-tuning), and LoRA of rank 8 and of rank 32 (the base
# frozen, adapters on the four matrices of every block). Same base, same
# text, same batches, same number of steps; one results row per way: the val
# loss before and after, the measured peak memory (VmHWM), the trained
# parameters and the median ms per step. README.md's fine-tuning table comes
# from it.
#
#   bash data/recipe_finetune.sh                          # defaults below
#   FT_TEXT=my.txt BASE=model.bin bash data/recipe_finetune.sh
#   TRAIN=./train_gpu bash data/recipe_finetune.sh        # the same on a GPU
#
# The base: BASE, a model file (default out/run/model_00000150.bin, the d6
# that `make run` trains on tinyshakespeare; made with `make run` when
# missing). Any llm.c-format model works, e.g. GPT-2 124M from
# `./import_hf` (then give a larger T and fewer steps).
# The text: FT_TEXT, any UTF-8 text file. Without it, where Debian's nodejs
# package is installed, the first ~1 MB of Node.js's API reference
# (/usr/share/doc/nodejs/api/*.md, sorted by name, cut at a line): English
# technical prose and code, a different text from Shakespeare. It is split
# as data/prepare.sh splits every text (val = the first 10% of its tokens).
#
# Writes data/finetune/ (the text and its shards) and OUT/{full,lora8,lora32}/
# (main.log, stdout.txt, the last checkpoint); prints the table (markdown).
# Options (environment): STEPS (100), B (4), T (64), LR_FULL (3e-4),
# LR_LORA (3e-3), VAL_EVERY (25), SEED (1337), OUT (out/finetune), TRAIN
# (./train). OMP_NUM_THREADS as for ./train. The same seed and thread count
# give the same losses.
set -euo pipefail
cd "$(dirname "$0")/.."

BASE=${BASE:-out/run/model_00000150.bin}
STEPS=${STEPS:-100}
B=${B:-4}
T=${T:-64}
LR_FULL=${LR_FULL:-3e-4}
LR_LORA=${LR_LORA:-3e-3}
VAL_EVERY=${VAL_EVERY:-25}
SEED=${SEED:-1337}
OUT=${OUT:-out/finetune}
TRAIN=${TRAIN:-./train}
die() { echo "recipe_finetune: $*" >&2; exit 1; }

make -s train tokenizer > /dev/null
[ -x "$TRAIN" ] || die "$TRAIN is not built (make train, or make train_gpu for TRAIN=./train_gpu)"
mkdir -p data/finetune "$OUT"

# the text
if [ -z "${FT_TEXT:-}" ]; then
    docs=/usr/share/doc/nodejs/api
    ls "$docs"/*.md > /dev/null 2>&1 ||
        die "no FT_TEXT given and no $docs/*.md (Debian's nodejs package): FT_TEXT=path/to/text.txt"
    FT_TEXT=data/finetune/nodejs_api.txt
    LC_ALL=C ls "$docs"/*.md | LC_ALL=C sort | xargs cat > "$FT_TEXT.all"
    head -c 1000000 "$FT_TEXT.all" | sed '$d' > "$FT_TEXT"  # the last, cut line dropped
    rm -f "$FT_TEXT.all"
fi
[ -s "$FT_TEXT" ] || die "FT_TEXT '$FT_TEXT' is missing or empty"
DATA="$FT_TEXT" OUT_PREFIX=data/finetune/gpt2 bash data/prepare.sh > "$OUT/prepare.txt"

# the base
if [ ! -f "$BASE" ]; then
    [ "$BASE" = out/run/model_00000150.bin ] || die "BASE '$BASE' not found"
    echo "recipe_finetune: no base model yet: make run (d6 on tinyshakespeare, 150 steps)"
    make run > "$OUT/make_run.txt"
fi

common=(-e "$BASE" -i 'data/finetune/gpt2_train_*.bin' -j 'data/finetune/gpt2_val_*.bin' -b "$B" -t "$T"
        -x "$STEPS" -v "$VAL_EVERY" -m 20 -u 10 -q 0.1 -g 64 --seed "$SEED")
run() {  # name, then the run's own flags
    local name=$1; shift
    rm -rf "${OUT:?}/$name"
    echo "recipe_finetune: $name: $TRAIN ${common[*]} $* -o $OUT/$name" >&2
    "$TRAIN" "${common[@]}" "$@" -o "$OUT/$name" > "$OUT/$name.txt" 2>&1 || die "$name failed: see $OUT/$name.txt"
    cp "$OUT/$name.txt" "$OUT/$name/stdout.txt"
}
run full -l "$LR_FULL"
run lora8 -l "$LR_LORA" --lora 8
run lora32 -l "$LR_LORA" --lora 32

# one row per run: val loss at step 0 (the base) and at the end, peak
# resident memory, parameters trained, median ms of steps 2.. (step 1 warms up)
row() {
    local name=$1 what=$2 f="$OUT/$1.txt"
    local v0 v1 peak trained ms
    v0=$(grep '^val loss' "$f" | head -1 | awk '{ print $3 }')
    v1=$(grep '^val loss' "$f" | tail -1 | awk '{ print $3 }')
    peak=$(sed -n 's/^memory (.*): peak resident \([0-9.]*\) MiB.*/\1/p' "$f" | head -1)
    trained=$(sed -n 's/^| trainable (count) *| *\([0-9]*\) .*/\1/p' "$f" | head -1)
    [ -n "$trained" ] || trained=$(sed -n 's/^| parameters (count) *| *\([0-9]*\) .*/\1/p' "$f" | head -1)
    ms=$(grep -E '^step [0-9]+/' "$f" | tail -n +2 | sed -E 's/.*\| ms ([0-9.]+) .*/\1/' | sort -g |
         awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }')
    printf '| %s | %s | %s | %s | %s | %s |\n' "$what" "$trained" "$v0" "$v1" "$peak" "$ms"
}
echo
echo "base $BASE, text $FT_TEXT ($(wc -c < "$FT_TEXT") bytes), B=$B T=$T, $STEPS steps, $TRAIN, OMP_NUM_THREADS=${OMP_NUM_THREADS:-all}"
echo
echo "| fine-tuning | parameters trained | val loss, base | val loss, after $STEPS steps | peak memory (MiB) | ms per step (median) |"
echo "|---|---:|---:|---:|---:|---:|"
row full "full, lr $LR_FULL"
row lora8 "LoRA R 8, lr $LR_LORA"
row lora32 "LoRA R 32, lr $LR_LORA"
