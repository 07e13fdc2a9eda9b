#!/usr/bin/env bash
# data/prepare.sh: GPT-2's vocabulary and a text as GPT-2 token shards for
# ./train, with ./tokenizer alone (no Python). Run by `make data`.
#
# Writes:
#   data/gpt2/tokenizer.bin                   GPT-2's vocabulary (./tokenizer import)
#   data/tinyshakespeare/gpt2_val_000.bin     the first 10% of the tokens
#   data/tinyshakespeare/gpt2_train_000.bin   the rest (more files if > 100M tokens)
#
# Inputs, first match wins:
#   text:  $DATA (any UTF-8 text file, taken as is)
#          ../shared/data/tinyshakespeare.txt (checksum verified)
#          data/tinyshakespeare/input.txt from an earlier download (verified)
#          else downloaded from karpathy/char-rnn (verified)
#   vocab: $GPT2_VOCAB_DIR/{encoder.json,vocab.bpe} (verified)
#          ../shared/data/gpt2/ (verified)
#          data/gpt2/ from an earlier download (verified)
#          else downloaded from openaipublic (verified)
# Options (environment): TOKENIZER (default ./tokenizer), VAL (default 0.1),
# OUT_PREFIX (default data/tinyshakespeare/gpt2; with DATA=dir/NAME.txt,
# data/NAME/gpt2).
set -euo pipefail
cd "$(dirname "$0")/.."

TOKENIZER=${TOKENIZER:-./tokenizer}
VAL=${VAL:-0.1}
if [ -n "${DATA:-}" ]; then
    name=$(basename "$DATA"); name=${name%.*}
    OUT_PREFIX=${OUT_PREFIX:-data/${name:-text}/gpt2}
fi
OUT_PREFIX=${OUT_PREFIX:-data/tinyshakespeare/gpt2}
SHARED=../shared/data

TS_URL=https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt
TS_SHA=86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed
ENC_URL=https://openaipublic.blob.core.windows.net/gpt-2/models/124M/encoder.json
ENC_SHA=196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783
BPE_URL=https://openaipublic.blob.core.windows.net/gpt-2/models/124M/vocab.bpe
BPE_SHA=1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5

die() { echo "data/prepare.sh: error: $*" >&2; exit 1; }

sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

# verify FILE SHA256: the file must be the published one.
verify() {
    [ -f "$1" ] || die "$1 not found"
    sha_ok "$1" "$2" || die "$1 has sha256 $(sha256sum "$1" | cut -d' ' -f1), expected $2 (not the published file, or damaged)"
}

# fetch URL OUT SHA256: download to OUT (via a temporary file) and verify.
fetch() {
    local url=$1 out=$2 sha=$3
    mkdir -p "$(dirname "$out")"
    echo "fetching $url"
    if command -v curl > /dev/null; then
        curl -fsSL --retry 3 -o "$out.part" "$url" || { rm -f "$out.part"; die "download failed: $url (no network? give local copies with DATA=... and GPT2_VOCAB_DIR=...)"; }
    elif command -v wget > /dev/null; then
        wget -q -O "$out.part" "$url" || { rm -f "$out.part"; die "download failed: $url (no network? give local copies with DATA=... and GPT2_VOCAB_DIR=...)"; }
    else
        die "neither curl nor wget found; give local copies with DATA=... and GPT2_VOCAB_DIR=..."
    fi
    sha_ok "$out.part" "$sha" || { rm -f "$out.part"; die "$url: checksum mismatch (expected sha256 $sha)"; }
    mv "$out.part" "$out"
}

[ -x "$TOKENIZER" ] || die "$TOKENIZER not found; build it first (make tokenizer)"

# ---- GPT-2's vocabulary ------------------------------------------------------
if [ -n "${GPT2_VOCAB_DIR:-}" ]; then
    VOCAB_DIR=$GPT2_VOCAB_DIR
elif [ -f "$SHARED/gpt2/encoder.json" ] && [ -f "$SHARED/gpt2/vocab.bpe" ]; then
    VOCAB_DIR=$SHARED/gpt2
else
    VOCAB_DIR=data/gpt2
    sha_ok "$VOCAB_DIR/encoder.json" "$ENC_SHA" || fetch "$ENC_URL" "$VOCAB_DIR/encoder.json" "$ENC_SHA"
    sha_ok "$VOCAB_DIR/vocab.bpe" "$BPE_SHA" || fetch "$BPE_URL" "$VOCAB_DIR/vocab.bpe" "$BPE_SHA"
fi
verify "$VOCAB_DIR/encoder.json" "$ENC_SHA"
verify "$VOCAB_DIR/vocab.bpe" "$BPE_SHA"
mkdir -p data/gpt2
"$TOKENIZER" import "$VOCAB_DIR/encoder.json" "$VOCAB_DIR/vocab.bpe" data/gpt2/tokenizer.bin

# ---- the text ----------------------------------------------------------------
if [ -n "${DATA:-}" ]; then
    [ -f "$DATA" ] || die "DATA=$DATA: file not found"
    TEXT=$DATA
elif [ -f "$SHARED/tinyshakespeare.txt" ]; then
    TEXT=$SHARED/tinyshakespeare.txt
    verify "$TEXT" "$TS_SHA"
else
    TEXT=data/tinyshakespeare/input.txt
    sha_ok "$TEXT" "$TS_SHA" || fetch "$TS_URL" "$TEXT" "$TS_SHA"
fi

# ---- shards --------------------------------------------------------------------
mkdir -p "$(dirname "$OUT_PREFIX")"
rm -f "$OUT_PREFIX"_val_[0-9][0-9][0-9]*.bin "$OUT_PREFIX"_train_[0-9][0-9][0-9]*.bin # no stale shards
"$TOKENIZER" shard -k data/gpt2/tokenizer.bin "$TEXT" "$OUT_PREFIX" --val "$VAL"
