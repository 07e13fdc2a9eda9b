#!/usr/bin/env bash
# data/recipe_shakespeare.sh: a small pre-training run from scratch, reproduced
# end to end in C: tinyshakespeare, a d6 GPT (6 layers, 384 channels), once
# with GPT-2's vocabulary and once with a vocabulary learned by
# `./tokenizer train`, each beside an add-k bigram baseline (dev/bigram) on the
# same val split. Run by `make recipe`; README.md has the results table.
#
#   bash data/recipe_shakespeare.sh            # both vocabularies
#   VOCABS=gpt2 bash data/recipe_shakespeare.sh   # only one (gpt2 or learned)
#
# The split (the same text for both vocabularies): the val split is the first
# lines of the text up to and including the line that holds byte
# floor(VAL * size) (tinyshakespeare, VAL=0.1: the first 4,375 lines, 111,592
# of 1,115,394 bytes), the train split the rest. Splitting the TEXT, not the tokens, gives both
# vocabularies the very same val text, and the learned vocabulary is trained
# on the train text only (it never sees val).
#
# Writes data/recipe/ (texts, tokenizers, shards) and, per vocabulary V in
# {gpt2, bpe$VOCAB}, out/recipe/V/: main.log, stdout.txt (configuration, every
# step, the sample), bigram.txt, loss.svg, model_*.bin and state_*.bin; then
# prints one results row per vocabulary (markdown). The same seed and thread
# count give the same losses.
#
# Options (environment): GPT2_STEPS (500) and LEARNED_STEPS (300) optimizer
# steps of each run (STEPS sets both), B (8), T (128), LR (1e-3), VOCAB (4096,
# the learned vocabulary's size), VAL (0.1), SEED (1337), OUT (out/recipe),
# VOCABS ("gpt2 learned"), DATA (a text file instead of tinyshakespeare).
# OMP_NUM_THREADS as for ./train (the README's rows: 2).
set -euo pipefail
cd "$(dirname "$0")/.."

GPT2_STEPS=${GPT2_STEPS:-${STEPS:-500}}
LEARNED_STEPS=${LEARNED_STEPS:-${STEPS:-300}}
B=${B:-8}
T=${T:-128}
LR=${LR:-1e-3}
VOCAB=${VOCAB:-4096}
VAL=${VAL:-0.1}
SEED=${SEED:-1337}
OUT=${OUT:-out/recipe}
VOCABS=${VOCABS:-gpt2 learned}
D=data/recipe

die() { echo "data/recipe_shakespeare.sh: error: $*" >&2; exit 1; }

make --no-print-directory train tokenizer dev/bigram

# GPT-2's vocabulary and the text: data/prepare.sh fetches or finds them and
# checks their sha256 (it also writes make run's shards, unused here)
bash data/prepare.sh > /dev/null
if [ -n "${DATA:-}" ]; then
    TEXT=$DATA
elif [ -f ../shared/data/tinyshakespeare.txt ]; then
    TEXT=../shared/data/tinyshakespeare.txt
else
    TEXT=data/tinyshakespeare/input.txt
fi
[ -f "$TEXT" ] || die "$TEXT not found"

# ---- the split ---------------------------------------------------------------
mkdir -p "$D"
size=$(wc -c < "$TEXT")
cut=$(awk -v s="$size" -v f="$VAL" 'BEGIN { printf "%d", s * f }')
[ "$cut" -ge 1 ] && [ "$cut" -lt "$size" ] || die "VAL=$VAL leaves an empty split"
val_lines=$(( $(head -c "$cut" "$TEXT" | wc -l) + 1 ))
head -n "$val_lines" "$TEXT" > "$D/val.txt"
tail -n +"$((val_lines + 1))" "$TEXT" > "$D/train.txt"
[ -s "$D/train.txt" ] || die "the train split is empty (VAL too large, or a text of one line?)"
echo "split: $TEXT ($size bytes): val = first $val_lines lines ($(wc -c < "$D/val.txt") bytes), train = the rest ($(wc -c < "$D/train.txt") bytes)"

# shard NAME TOKENIZER: the train and val texts as NAME_train_000.bin and
# NAME_val_000.bin (one shard each; --val 0 writes everything to _train_)
shard() {
    local name=$1 tok=$2
    rm -f "$D/${name}"_*.bin
    ./tokenizer shard -k "$tok" "$D/val.txt" "$D/${name}_v" --val 0 > /dev/null
    mv "$D/${name}_v_train_000.bin" "$D/${name}_val_000.bin"
    ./tokenizer shard -k "$tok" "$D/train.txt" "$D/$name" --val 0 > /dev/null
}

# run NAME TOKENIZER STEPS: bigram baseline, training, picture, results row
run() {
    local name=$1 tok=$2 steps=$3 dir=$OUT/$1
    shard "$name" "$tok"
    mkdir -p "$dir"
    rm -f "$dir"/main.log "$dir"/model_*.bin "$dir"/state_*.bin
    dev/bigram -k "$tok" "$D/${name}_train_000.bin" "$D/${name}_val_000.bin" | tee "$dir/bigram.txt"
    local cmd="./train -e d6 -k $tok -i $D/${name}_train_000.bin -j $D/${name}_val_000.bin -b $B -t $T -x $steps -l $LR -u 20 -q 0.1 -c 0.1 --shuffle 1 -v 100 -m 1000 -g 128 --seed $SEED -o $dir"
    echo "$cmd" > "$dir/command.txt"
    echo "$cmd"
    local t0 t1
    t0=$(date +%s)
    $cmd | tee "$dir/stdout.txt"
    t1=$(date +%s)
    make --no-print-directory dev/plot_loss
    dev/plot_loss "$dir/main.log" "$dir/loss.svg"
    # the row: shape, tokens seen, final train loss (mean of the last 20 steps:
    # one step's loss is noisy), final val loss, wall time, tokens/s over the
    # whole run (validation and sampling included), bigram val loss
    local secs=$((t1 - t0))
    local bigram
    bigram=$(awk '/^bigram val_loss/ { print $3 }' "$dir/bigram.txt")
    awk -v name="$name" -v steps="$steps" -v b="$B" -v t="$T" -v secs="$secs" -v bigram="$bigram" '
        /^s:[0-9]+ trl:/ { split($2, a, ":"); tr[++n] = a[2] }
        /^s:[0-9]+ tel:/ { split($2, a, ":"); val = a[2] }
        END {
            m = n < 20 ? n : 20; s = 0
            for (i = n - m + 1; i <= n; i++) s += tr[i]
            printf "| %s | d6, B %d, T %d | %d | %.3f | %.3f | %s | %dm%02ds | %.0f |\n",
                   name, b, t, steps * b * t, s / m, val, bigram, secs / 60, secs % 60,
                   steps * b * t / secs
        }' "$dir/main.log" | tee "$dir/row.md"
}

for v in $VOCABS; do
    case $v in
        gpt2)
            run gpt2 data/gpt2/tokenizer.bin "$GPT2_STEPS" ;;
        learned)
            ./tokenizer train "$D/train.txt" --vocab "$VOCAB" "$D/bpe$VOCAB.bin" > /dev/null
            run "bpe$VOCAB" "$D/bpe$VOCAB.bin" "$LEARNED_STEPS" ;;
        *)
            die "VOCABS: '$v' is neither gpt2 nor learned" ;;
    esac
done

echo
echo "| vocabulary | shape | tokens seen | train loss | val loss | bigram val loss | wall | tokens/s |"
echo "|---|---|---|---|---|---|---|---|"
for v in $VOCABS; do
    case $v in gpt2) cat "$OUT/gpt2/row.md" ;; learned) cat "$OUT/bpe$VOCAB/row.md" ;; esac
done
