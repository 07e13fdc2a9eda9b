#!/usr/bin/env bash
# dev/tiktoken/bench.sh: encode speed of ./tokenizer and of tiktoken (npm
# package: tiktoken's Rust core in WASM, in node), side by side on the same text
# and machine, one thread each. Run by `make bench-tokenizer`.
#
# Both sides time encode_ordinary of the whole text held in memory (reading the
# file and loading the vocabulary are not timed), REPEAT runs each, and print
# the best and the median. Ours starts every run with an empty piece cache.
# Environment: TEXT (default: $DATA, else ../shared/data/tinyshakespeare.txt,
# else data/tinyshakespeare/input.txt), REPEAT (default 10), ROUNDS (default 3:
# the two sides alternate, so a busy machine slows both alike).
set -euo pipefail
cd "$(dirname "$0")/../.."
REPEAT=${REPEAT:-10}
ROUNDS=${ROUNDS:-3}
die() { echo "bench.sh: error: $*" >&2; exit 1; }

TEXT=${TEXT:-${DATA:-}}
if [ -z "$TEXT" ]; then
    for f in ../shared/data/tinyshakespeare.txt data/tinyshakespeare/input.txt; do
        [ -f "$f" ] && { TEXT=$f; break; }
    done
fi
[ -n "$TEXT" ] && [ -f "$TEXT" ] || die "no text to encode: set TEXT=path (or run make data)"
[ -d dev/tiktoken/node_modules/tiktoken ] || die "tiktoken is not installed: (cd dev/tiktoken && npm install)"
command -v node > /dev/null || die "node not found"
TOK=data/gpt2/tokenizer.bin
[ -f "$TOK" ] || die "$TOK not found: run make data (or GPT2_VOCAB_DIR=dir make data)"
# The same ids on both sides, or the speeds mean nothing.
mkdir -p tmp
./tokenizer encode -k "$TOK" "$TEXT" > tmp/bench_ours.ids
node dev/tiktoken/encode.js "$TEXT" > tmp/bench_tiktoken.ids
cmp -s tmp/bench_ours.ids tmp/bench_tiktoken.ids || die "the two sides give different ids on $TEXT"
echo "text: $TEXT ($(wc -c < "$TEXT") bytes), same ids on both sides; $(nproc) CPUs, $(uptime | sed 's/.*load/load/')"
for r in $(seq "$ROUNDS"); do
    ./tokenizer bench -k "$TOK" "$TEXT" --repeat "$REPEAT"
    node dev/tiktoken/bench.js "$TEXT" --repeat "$REPEAT"
done
